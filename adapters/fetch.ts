/**
 * anyweb-service-token/fetch: a fetch that adds the service token to requests for the API.
 * @packageDocumentation
 */
import { ConfigurationError } from '../src/errors.js'
import { defaultIsAuthError } from '../src/http/auth-error.js'
import type { AuthErrorState, IsAuthError } from '../src/http/auth-error.js'
import { createTokenFetch } from '../src/http/exchange.js'
import type { TokenPlacement } from '../src/http/place.js'
import { createPolicy } from '../src/http/policy.js'
import type { ServiceTokenAdapterOptions } from '../src/http/policy.js'
import type { FetchLike, TokenManager } from '../src/types.js'
import { describe } from '../src/util.js'

/**
 * Wraps `fetch` so that requests to the API's origin carry a valid service token, and a request whose
 * token was refused is replayed once with a new one.
 *
 * Accepts every input fetch accepts (string, `URL`, `Request`, with `init` overrides). Requests to any
 * other origin, to the token endpoint, and (with the default body placement) GET/HEAD requests are
 * passed to `fetch` exactly as given.
 *
 * Behaviour:
 * - Redirects: tokened requests are sent with `redirect: 'manual'`; redirects to an allowed origin are
 *   followed (token re-attached, fetch's method rules), a redirect to any other origin is returned
 *   unfollowed as the 3xx response (in browsers an `opaqueredirect`). A caller's own `redirect: 'manual'`
 *   or `'error'` is kept.
 * - Bodies are buffered so they can be replayed, except a `ReadableStream` body with a header or query
 *   placement: that request is sent once and an auth error is returned as is.
 * - The caller's `signal` aborts the wait for a token, the reading of the answer and the replay.
 * - A JSON answer is read to look for the auth error if it ends within `answerTimeout` and 64 KiB
 *   (decoded), and handed on as a real `Response` with fetch's status, headers, `url`, `type` and
 *   `redirected`; a slower or longer one is handed on at once, unjudged, streaming what was read and
 *   then the rest. Other answers are fetch's own, untouched.
 *
 * To install it for every fetch of the process, create the manager first (it keeps the fetch it was
 * given, so its own token requests never go through the wrapper), then replace the global; put the
 * original back to undo.
 *
 * @param fetch - The fetch to send with, e.g. `globalThis.fetch`.
 * @param manager - The token manager (from `createTokenManager`).
 * @param options - See {@link ServiceTokenAdapterOptions}.
 * @returns A fetch-compatible function.
 * @throws {ConfigurationError} synchronously, for invalid options, or when the manager has no `baseUrl`
 *   and no `origins` is given.
 * The returned fetch rejects with the manager's {@link ServiceTokenError} when no token can be had,
 * with a `ConfigurationError` when the body cannot carry the token (e.g. `application/octet-stream`),
 * with `signal.reason` when aborted, and otherwise as `fetch` does.
 *
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { withServiceToken } from 'anyweb-service-token/fetch'
 *
 * const manager = createTokenManager({ appid, secret })
 * const anyweb = withServiceToken(fetch, manager)
 * const res = await anyweb('https://api.anyweb.cc/service/checkAddresses', {
 *   method: 'POST',
 *   headers: { 'content-type': 'application/json' },
 *   body: JSON.stringify({ group }), // serviceToken is added
 * })
 * ```
 * @example
 * ```ts
 * // Every fetch in the process (the manager must exist first); undo by restoring the original.
 * const originalFetch = globalThis.fetch
 * globalThis.fetch = withServiceToken(originalFetch, manager)
 * // …
 * globalThis.fetch = originalFetch
 * ```
 */
function withServiceToken(
  fetch: FetchLike | typeof globalThis.fetch,
  manager: TokenManager,
  options?: ServiceTokenAdapterOptions,
): typeof globalThis.fetch {
  if (typeof fetch !== 'function') {
    throw new ConfigurationError('fetch', `Invalid argument \`fetch\`: withServiceToken(fetch, manager, options?) takes the fetch to wrap first, got ${describe(fetch)}.`)
  }
  return createTokenFetch(createPolicy(manager, options), fetch as FetchLike)
}

export { defaultIsAuthError, withServiceToken }
export type { AuthErrorState, IsAuthError, ServiceTokenAdapterOptions, TokenPlacement }
