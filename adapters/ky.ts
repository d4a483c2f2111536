/**
 * anyweb-service-token/ky: hooks that add the service token to ky's requests. Needs ky 2 or later
 * (hooks that take one state object, `ky.retry()`).
 * @packageDocumentation
 */
import type { InitHook } from 'ky'
import { defaultIsAuthError } from '../src/http/auth-error.js'
import type { AuthErrorState, IsAuthError } from '../src/http/auth-error.js'
import { isOneShotBody } from '../src/http/call.js'
import { createTokenFetch, isTokenFetchOf } from '../src/http/exchange.js'
import type { TokenPlacement } from '../src/http/place.js'
import { createPolicy } from '../src/http/policy.js'
import type { ServiceTokenAdapterOptions } from '../src/http/policy.js'
import type { FetchLike, TokenManager } from '../src/types.js'

/** The hooks to give `ky.create({ hooks })`: one `init` hook, which installs the token-aware fetch. */
interface ServiceTokenHooks {
  init: InitHook[]
}

/**
 * Hooks for `ky.create({ hooks })` (ky ≥ 2): requests to the API's origin get a valid service token,
 * and a request whose token was refused is replayed once with a new one.
 *
 * Behaviour:
 * - One `init` hook wraps the fetch ky sends with (your own `fetch` option included): the token is
 *   placed, the answer checked and a refused request replayed once inside that fetch call. The replay
 *   uses none of ky's retries, and waiting for a token counts against ky's `timeout`.
 * - Redirects: tokened requests are sent with `redirect: 'manual'`; redirects to an allowed origin are
 *   followed (token re-attached), a redirect to any other origin is left unfollowed and reaches ky as
 *   the 3xx response (an `HTTPError` unless `throwHttpErrors` is off).
 * - Bodies are buffered for the replay, except a `ReadableStream` body with a header or query
 *   placement: that request is not replayed.
 * - Errors: ky throws the manager's {@link ServiceTokenError} as it is when no token can be had, and
 *   the signal's reason when aborted while waiting for a token.
 * - Merge with your own hooks by concatenating the arrays (`init: [...serviceTokenHooks(m).init, ...]`).
 *
 * @param manager - The token manager (from `createTokenManager`).
 * @param options - See {@link ServiceTokenAdapterOptions}.
 * @returns `{ init }`: the hook array for `ky.create({ hooks })`.
 * @throws {ConfigurationError} synchronously, for invalid options, or when the manager has no `baseUrl`
 *   and no `origins` is given.
 *
 * @example
 * ```ts
 * import ky from 'ky'
 * import { createTokenManager } from 'anyweb-service-token'
 * import { serviceTokenHooks } from 'anyweb-service-token/ky'
 *
 * const manager = createTokenManager({ appid, secret })
 * const api = ky.create({ baseUrl: 'https://api.anyweb.cc', hooks: serviceTokenHooks(manager) })
 * const result = await api.post('service/checkAddresses', { json: { group } }).json()
 * ```
 */
function serviceTokenHooks(manager: TokenManager, options?: ServiceTokenAdapterOptions): ServiceTokenHooks {
  const policy = createPolicy(manager, options)
  // ky runs init hooks on each request's own copy of the options, before it builds anything; the fetch it
  // then calls does the whole cycle. No response hook is needed, so ky does not clone every response.
  const init: InitHook = (kyOptions) => {
    const fetch = kyOptions.fetch
    if (isTokenFetchOf(fetch, policy)) return
    const base: FetchLike = fetch ?? ((input, init) => globalThis.fetch(input, init))
    kyOptions.fetch = createTokenFetch(policy, base, { oneShotBody: isOneShotBody(kyOptions.body) })
  }
  return { init: [init] }
}

export { defaultIsAuthError, serviceTokenHooks }
export type { AuthErrorState, IsAuthError, ServiceTokenAdapterOptions, ServiceTokenHooks, TokenPlacement }
