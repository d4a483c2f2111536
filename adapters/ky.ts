/**
 * anyweb-service-token/ky: hooks that add the service token to ky's requests. Needs ky 2 or later
 * (hooks that take one state object, `ky.retry()`).
 * @packageDocumentation
 */
import ky from 'ky'
import type { AfterResponseHook, BeforeRequestHook, InitHook } from 'ky'
import {
  appliesTo,
  buildRequest,
  captureRequest,
  checkAuth,
  createAdapterCore,
  defaultIsAuthError,
  discard,
  followRedirects,
  isOneShotBody,
  renewToken,
} from '../src/adapter-core.js'
import type { AuthErrorState, IsAuthError, RequestTemplate, ServiceTokenAdapterOptions, TokenPlacement } from '../src/adapter-core.js'
import type { FetchLike, TokenManager } from '../src/types.js'

/** One ky call's state, kept in its `context` (ky clones the context per call when init hooks exist). */
interface CallState {
  /** The fetch ky sends with: redirects to allowed origins are followed with it. */
  fetch: FetchLike
  template?: RequestTemplate
  token?: string
  replayed: boolean
}

const STATE = Symbol('anyweb-service-token.ky')

/** The hooks returned by {@link serviceTokenHooks}; pass them to `ky.create({ hooks })`. */
interface ServiceTokenHooks {
  init: InitHook[]
  beforeRequest: BeforeRequestHook[]
  afterResponse: AfterResponseHook[]
}

const globalFetch: FetchLike = (input, init) => globalThis.fetch(input, init)

function stateOf(context: Record<string, unknown>): CallState | undefined {
  return (context as Record<symbol, CallState | undefined>)[STATE]
}

/**
 * Hooks for `ky.create({ hooks })` (ky ≥ 2): requests to the API's origin get a valid service token,
 * and a request whose token was refused is replayed once with a new one.
 *
 * Behaviour:
 * - The replay is returned from `afterResponse` as `ky.retry({ request, delay: 0 })` and counts as one
 *   of ky's retries (it is retried whatever the method). When ky has no retry left (e.g. `retry: 0`),
 *   the hook replays with ky's `fetch` itself and hands ky the new response.
 * - Redirects: tokened requests are sent with `redirect: 'manual'`; redirects to an allowed origin are
 *   followed (token re-attached), a redirect to any other origin is left unfollowed and reaches ky as
 *   the 3xx response (an `HTTPError` unless `throwHttpErrors` is off).
 * - Bodies are buffered for the replay, except a `ReadableStream` body with a header or query
 *   placement: that request is not replayed.
 * - Errors: ky throws the manager's {@link ServiceTokenError} when no token can be had (after your
 *   `beforeError` hooks), and the signal's reason when aborted while waiting for a token.
 * - Merge with your own hooks by concatenating the arrays; all three kinds are needed.
 *
 * @param manager - The token manager (from `createTokenManager`).
 * @param options - See {@link ServiceTokenAdapterOptions}.
 * @returns `{ init, beforeRequest, afterResponse }` hook arrays.
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
  const core = createAdapterCore(manager, options)

  const init: InitHook = (kyOptions) => {
    const state: CallState = { fetch: kyOptions.fetch ?? globalFetch, replayed: false }
    kyOptions.context = { ...kyOptions.context, [STATE]: state }
  }

  const beforeRequest: BeforeRequestHook = async ({ request, options: kyOptions }) => {
    if (!appliesTo(core, request.url, request.method)) return undefined
    let state = stateOf(kyOptions.context)
    if (state === undefined) {
      // The init hook was left out when merging hooks: still attach, with the global fetch for redirects.
      state = { fetch: globalFetch, replayed: false }
      ;(kyOptions.context as Record<symbol, CallState>)[STATE] = state
    }
    const template = await captureRequest(core, request, isOneShotBody(kyOptions.body))
    const token = await manager.getToken({ signal: request.signal })
    state.template = template
    state.token = token
    return buildRequest(core, template, { token })
  }

  const afterResponse: AfterResponseHook = async ({ request, options: kyOptions, response, retryCount }) => {
    const state = stateOf(kyOptions.context)
    const { template, token } = state ?? {}
    if (state === undefined || template === undefined || token === undefined) return undefined
    const followed = await followRedirects(core, { fetch: state.fetch, template, token, response })
    if (state.replayed || !template.replayable) return followed === response ? undefined : followed
    const checked = await checkAuth(core, followed, request.url)
    const changed = checked.response === response ? undefined : checked.response
    if (!checked.refused) return changed
    const fresh = await renewToken(core, token, template.request.signal)
    state.token = fresh
    state.replayed = true
    if (changed !== undefined) discard(changed)
    const replay = await buildRequest(core, template, { token: fresh })
    if (retryCount < kyOptions.retry.limit) {
      return ky.retry({ request: replay, delay: 0, code: 'SERVICE_TOKEN_REFRESHED' })
    }
    return followRedirects(core, { fetch: state.fetch, template, token: fresh, response: await state.fetch(replay) })
  }

  return { init: [init], beforeRequest: [beforeRequest], afterResponse: [afterResponse] }
}

export { defaultIsAuthError, serviceTokenHooks }
export type { AuthErrorState, IsAuthError, ServiceTokenAdapterOptions, ServiceTokenHooks, TokenPlacement }
