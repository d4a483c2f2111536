/**
 * What a platform's tokens mean to the adapters: where a token goes, what a refusal of it looks like,
 * and where tokens come from (never sent one). A manager carries its platform's protocol, and every
 * adapter takes it as its default.
 * @packageDocumentation
 */
import { defaultIsAuthError } from '../http/auth-error.js'
import type { IsAuthError } from '../http/auth-error.js'
import type { TokenPlacement } from '../http/place.js'

/**
 * A platform's token protocol, as the adapters use it by default (their own `placement` and
 * `isAuthError` options still win). Presets set it; give one with a custom `source` for a platform
 * that has no preset.
 *
 * @example
 * ```ts
 * const protocol: TokenProtocol = {
 *   placement: { in: 'header', name: 'authorization', scheme: 'Bearer' },
 *   isAuthError: authErrorRule({ field: 'code', codes: [99991663] }),
 *   tokenPath: '/open-apis/auth/v3/tenant_access_token/internal',
 * }
 * ```
 */
interface TokenProtocol {
  /** Where the token goes in a request. */
  readonly placement: TokenPlacement
  /** Whether an answer refuses the token (the request is then replayed once with a new one). */
  readonly isAuthError: IsAuthError
  /** The token endpoint's path under `baseUrl` (e.g. `"/cgi-bin/token"`): adapters never send a token there. */
  readonly tokenPath: string
}

/** AnyWeb's protocol: the token in the JSON body's `serviceToken`, refused with `code: "A108P001"`. */
const anywebProtocol: TokenProtocol = Object.freeze({
  placement: Object.freeze({ in: 'body', field: 'serviceToken' }),
  isAuthError: defaultIsAuthError,
  tokenPath: '/service/serviceToken',
})

export { anywebProtocol }
export type { TokenProtocol }
