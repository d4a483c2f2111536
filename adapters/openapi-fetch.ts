/**
 * anyweb-service-token/openapi-fetch: a middleware that adds the service token to openapi-fetch
 * requests, and a ready-made client typed from AnyWeb's OpenAPI description.
 * @packageDocumentation
 */
import createClient from 'openapi-fetch'
import type { Client, Middleware } from 'openapi-fetch'
import { ConfigurationError } from '../src/errors.js'
import { defaultIsAuthError } from '../src/http/auth-error.js'
import type { AuthErrorState, IsAuthError } from '../src/http/auth-error.js'
import { callOf } from '../src/http/call.js'
import type { Call } from '../src/http/call.js'
import { createTokenFetch, noticeOutsider, settle, tokenFor } from '../src/http/exchange.js'
import { placeToken } from '../src/http/place.js'
import type { TokenPlacement } from '../src/http/place.js'
import { allows, appliesTo, createPolicy, outsiderOrigin } from '../src/http/policy.js'
import type { ServiceTokenAdapterOptions } from '../src/http/policy.js'
import type { paths } from '../src/generated/anyweb.js'
import { createTokenManager } from '../src/manager.js'
import type { AnyWebManagerOptions, FetchLike, TokenManager } from '../src/types.js'
import { describe } from '../src/util.js'

/**
 * Adds the service token to openapi-fetch requests for the API's origin (`onRequest`) and, when the
 * token is refused, replays the request once with a new token through the client's fetch (`onResponse`).
 *
 * For a client you create, `createClient({ fetch: withServiceToken(fetch, manager) })` does the same
 * faster: a middleware is handed a Request, so it reads and rebuilds each Request to place the token,
 * while the wrapper sends it as URL + init.
 *
 * Behaviour:
 * - Redirects: tokened requests are sent with `redirect: 'manual'`; redirects to an allowed origin are
 *   followed with the client's fetch (token re-attached), a redirect to any other origin is returned
 *   unfollowed (`{ error, response }` with the 3xx).
 * - Errors: the client call rejects with the manager's {@link ServiceTokenError} when no token can be
 *   had, and with the signal's reason when aborted while waiting; openapi-fetch passes errors thrown by
 *   middleware straight through.
 * - Put it last in `client.use(…)` if other middleware changes the request: a later `onRequest` that
 *   replaces the request disables the replay for it.
 *
 * @param manager - The token manager (from `createTokenManager`).
 * @param options - See {@link ServiceTokenAdapterOptions}.
 * @returns An openapi-fetch `Middleware`.
 * @throws {ConfigurationError} synchronously, for invalid options, or when the manager has no `baseUrl`
 *   and no `origins` is given.
 *
 * @example
 * ```ts
 * import createClient from 'openapi-fetch'
 * import { serviceTokenMiddleware } from 'anyweb-service-token/openapi-fetch'
 *
 * const client = createClient<AnyWebPaths>({ baseUrl: 'https://api.anyweb.cc' })
 * client.use(serviceTokenMiddleware(manager))
 * ```
 */
function serviceTokenMiddleware(manager: TokenManager, options?: ServiceTokenAdapterOptions): Middleware {
  const policy = createPolicy(manager, options)
  /** Keyed by the request this middleware hands on, which openapi-fetch gives back to `onResponse`. */
  const pending = new WeakMap<Request, { call: Call; token: string }>()
  /** Requests that went without a token because of their origin, whose answers are looked at. */
  const outsiders = new WeakMap<Request, string>()
  return {
    async onRequest({ request }) {
      if (!appliesTo(policy, request.url, request.method)) {
        const outsider = outsiderOrigin(policy, request.url, request.method)
        if (outsider !== undefined) outsiders.set(request, outsider)
        return undefined
      }
      const call = await callOf(request.url, request, undefined, false)
      const token = await tokenFor(policy, request.signal)
      const sent = await placeToken(policy.placement, call, token)
      const tokened = new Request(sent.url, sent.init)
      pending.set(tokened, { call, token })
      return tokened
    },
    async onResponse({ request, response, options: clientOptions }) {
      const outsider = outsiders.get(request)
      if (outsider !== undefined) noticeOutsider(policy, outsider, request.url, response).catch(() => undefined)
      const state = pending.get(request)
      if (state === undefined) return undefined
      pending.delete(request)
      // The client's fetch takes a Request only.
      const send: FetchLike = (url, init) => clientOptions.fetch(new Request(url, init))
      const settled = await settle(policy, send, state.call, state.token, response)
      return settled === response ? undefined : settled
    },
  }
}

/** An operation with `serviceToken` taken out of its JSON request body: the middleware adds it. */
type WithoutServiceToken<Operation> = Operation extends {
  requestBody: { content: { 'application/json': infer Body } }
}
  ? Omit<Operation, 'requestBody'> & {
      requestBody: { content: { 'application/json': Omit<Body, 'serviceToken'> } }
    }
  : Operation

/** AnyWeb's `paths` (from openapi.yaml) as the client sees them: request bodies without `serviceToken`. */
type AnyWebPaths = {
  [Path in keyof paths]: {
    [Method in keyof paths[Path]]: WithoutServiceToken<paths[Path][Method]>
  }
}

/** The client returned by {@link createAnyWebClient}: an openapi-fetch client, plus its manager. */
type AnyWebClient = Client<AnyWebPaths, 'application/json'> & {
  /** The manager the client takes its tokens from; `close()` it when done if the client created it. */
  readonly manager: TokenManager
}

/** Options of {@link createAnyWebClient} with an existing manager. */
interface AnyWebClientWithManagerOptions extends ServiceTokenAdapterOptions {
  /** The token manager to take tokens from. */
  manager: TokenManager
  /**
   * The fetch for API requests.
   * @default globalThis.fetch at creation time
   */
  fetch?: FetchLike
  /**
   * The API base URL.
   * @default manager.baseUrl
   */
  baseUrl?: string
  appid?: never
  secret?: never
}

/** Options of {@link createAnyWebClient} that create the manager: its options plus the adapter's. */
type AnyWebClientWithCredentialsOptions = AnyWebManagerOptions & ServiceTokenAdapterOptions & { manager?: never }

/** Options of {@link createAnyWebClient}. */
type CreateAnyWebClientOptions = AnyWebClientWithManagerOptions | AnyWebClientWithCredentialsOptions

function adapterOptionsOf(options: ServiceTokenAdapterOptions): ServiceTokenAdapterOptions {
  const picked: ServiceTokenAdapterOptions = {}
  if (options.placement !== undefined) picked.placement = options.placement
  if (options.isAuthError !== undefined) picked.isAuthError = options.isAuthError
  if (options.origins !== undefined) picked.origins = options.origins
  if (options.answerTimeout !== undefined) picked.answerTimeout = options.answerTimeout
  return picked
}

/**
 * Creates an openapi-fetch client for the AnyWeb API, typed from `openapi.yaml`, with the service
 * token added to every request (request bodies are typed without `serviceToken`).
 *
 * With `{ appid, secret, … }` it creates its own manager (with every manager option; `fetch` is used
 * both for token and API requests); with `{ manager }` it uses yours.
 *
 * The token is added by the client's fetch (the wrapper of `anyweb-service-token/fetch`), after every
 * middleware you `use()`: your middleware sees requests without the token, and responses after a
 * replay. That is also the fastest way to give your own openapi-fetch client tokens:
 * `createClient({ baseUrl, fetch: withServiceToken(fetch, manager) })`.
 *
 * @throws {ConfigurationError} synchronously, for invalid manager or adapter options.
 * @example
 * ```ts
 * import { createAnyWebClient } from 'anyweb-service-token/openapi-fetch'
 *
 * const client = createAnyWebClient({ appid: process.env.ANYWEB_APPID!, secret: process.env.ANYWEB_SECRET! })
 * const { data, error } = await client.POST('/service/checkAddresses', { body: { group } })
 * client.manager.close()
 * ```
 */
function createAnyWebClient(options: CreateAnyWebClientOptions): AnyWebClient {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('options', `Invalid argument \`options\`: createAnyWebClient({ appid, secret }) or createAnyWebClient({ manager }), got ${describe(options)}.`)
  }
  let manager: TokenManager
  if (options.manager !== undefined) {
    manager = options.manager
  } else {
    const { placement: _placement, isAuthError: _isAuthError, origins: _origins, answerTimeout: _answerTimeout, manager: _manager, ...managerOptions } = options
    manager = createTokenManager(managerOptions)
  }
  const policy = createPolicy(manager, adapterOptionsOf(options))
  const baseUrl = (options.manager !== undefined ? options.baseUrl : undefined) ?? manager.baseUrl
  // A client whose requests the token may not go to would only ever be answered A108P001.
  if (baseUrl !== undefined && !allows(policy, baseUrl)) {
    throw new ConfigurationError(
      'baseUrl',
      `Invalid option \`baseUrl\`: the token may not be sent there (allowed: ${[...policy.origins].join(', ')}). Give the client the manager's origin, or list the client's origin in \`origins\`.`,
    )
  }
  // The token goes in at the fetch, not in a middleware: openapi-fetch's Request is sent as URL + init
  // instead of being read and rebuilt.
  const client = createClient<AnyWebPaths, 'application/json'>({
    ...(baseUrl === undefined ? {} : { baseUrl }),
    fetch: createTokenFetch(policy, (options.fetch ?? globalThis.fetch) as FetchLike),
  })
  return Object.assign(client, { manager })
}

export { createAnyWebClient, defaultIsAuthError, serviceTokenMiddleware }
export type {
  AnyWebClient,
  AnyWebClientWithCredentialsOptions,
  AnyWebClientWithManagerOptions,
  AnyWebPaths,
  AuthErrorState,
  CreateAnyWebClientOptions,
  IsAuthError,
  ServiceTokenAdapterOptions,
  TokenPlacement,
}
