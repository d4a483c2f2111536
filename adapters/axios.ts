/**
 * anyweb-service-token/axios: interceptors that add the service token to an axios instance's requests.
 * @packageDocumentation
 */
import type { AxiosInstance, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios'
import {
  appliesTo,
  bodyError,
  createAdapterCore,
  decodedRefuses,
  defaultIsAuthError,
  formWithToken,
  headerValue,
  injectJsonText,
  injectUrlEncoded,
  jsonOfDecoded,
  once,
  renewToken,
  tokenNow,
} from '../src/adapter-core.js'
import type { AdapterCore, AuthErrorState, IsAuthError, ServiceTokenAdapterOptions, TokenPlacement } from '../src/adapter-core.js'
import type { TokenManager } from '../src/types.js'
import { isPlainObject } from '../src/util.js'

/**
 * What the request interceptor leaves for the response interceptor, on the config itself. A class, not
 * a plain object: axios' mergeConfig (run again on every config inside its adapters) deep-copies plain
 * objects under any enumerable key, which for this one cost a tenth of a request.
 */
class RequestState {
  constructor(
    readonly token: string,
    /** The config as the caller made it, before the token was placed: what a replay sends. */
    readonly original: AxiosRequestConfig,
    readonly replayed: boolean,
  ) {}
}

/** Enumerable, so it survives interceptors that copy the config with `{ ...config }`. */
const STATE = Symbol('anyweb-service-token.state')
/** Marks a replay's config; enumerable symbols survive axios' mergeConfig. */
const REPLAY = Symbol('anyweb-service-token.replay')

type TaggedConfig = InternalAxiosRequestConfig & { [STATE]?: RequestState; [REPLAY]?: true }

function withQueryParam(params: unknown, name: string, token: string): unknown {
  if (params instanceof URLSearchParams) {
    const copy = new URLSearchParams(params)
    copy.set(name, token)
    return copy
  }
  return { ...(isPlainObject(params) ? params : {}), [name]: token }
}

/**
 * The caller's `data` with the token added; axios serialises it afterwards as it would have. The content
 * type matters to a string only, so it is looked up (in AxiosHeaders, not free) only then.
 */
function dataWithToken(data: unknown, headers: { getContentType(): unknown }, field: string, token: string): unknown {
  if (data === undefined || data === null || data === '') return { [field]: token }
  if (isPlainObject(data)) return { ...data, [field]: token }
  if (data instanceof URLSearchParams) {
    const copy = new URLSearchParams(data)
    copy.set(field, token)
    return copy
  }
  if (typeof FormData !== 'undefined' && data instanceof FormData) return formWithToken(data, field, token)
  if (typeof data === 'string') {
    const contentType = headers.getContentType()
    return typeof contentType === 'string' && /^application\/x-www-form-urlencoded\b/i.test(contentType)
      ? injectUrlEncoded(data, field, token)
      : injectJsonText(data, field, token)
  }
  throw bodyError('axios `data` is neither an object, a string, URLSearchParams nor FormData.')
}

function toHeaders(raw: unknown): Headers {
  const headers = new Headers()
  const source = raw as { toJSON?: () => unknown } | null | undefined
  const plain = typeof source?.toJSON === 'function' ? source.toJSON() : source
  if (typeof plain !== 'object' || plain === null) return headers
  for (const [name, value] of Object.entries(plain)) {
    if (value === undefined || value === null || value === false) continue
    try {
      headers.set(name, Array.isArray(value) ? value.join(', ') : String(value))
    } catch {
      // A header the web Headers class refuses cannot matter to the auth-error check.
    }
  }
  return headers
}

/**
 * Where axios sends `config`, by its own rule (buildFullPath: an absolute `url` wins unless
 * `allowAbsoluteUrls` is false, else `baseURL` + `url`), without the query string, which cannot change
 * the origin. `instance.getUri()` gives the same origin but merges the defaults again and serialises the
 * params: a fifth of the time of a request. A protocol-relative result (`//host`) does not parse as a URL,
 * so such a request never gets the token.
 */
function targetOf(config: AxiosRequestConfig): string {
  const url = config.url ?? ''
  const base = config.baseURL
  if (!base) return url
  const absolute = config.allowAbsoluteUrls !== false
  // The same few calls again and again: the last answer is kept, so the joined text is built (and
  // flattened by the checks that read it) once, not per request.
  if (url === lastTarget.url && base === lastTarget.base && absolute === lastTarget.absolute) return lastTarget.target
  const target =
    absolute && /^([a-z][a-z\d+\-.]*:)?\/\//i.test(url) ? url : url === '' ? base : `${base.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`
  Object.assign(lastTarget, { url, base, absolute, target })
  return target
}

const lastTarget = { url: '', base: '', absolute: true, target: '' }

/** The content type of an axios response, from AxiosHeaders or a plain object. */
function contentTypeOf(headers: unknown): string | null {
  const source = headers as { get?: (name: string) => unknown; [name: string]: unknown } | undefined
  const value = typeof source?.get === 'function' ? source.get('content-type') : source?.['content-type']
  return typeof value === 'string' ? value : null
}

function signalOf(config: AxiosRequestConfig): AbortSignal | undefined {
  return typeof AbortSignal !== 'undefined' && config.signal instanceof AbortSignal ? config.signal : undefined
}

/** The {@link AuthErrorState} of an axios response, for a custom `isAuthError`. */
function authStateOf(response: AxiosResponse): AuthErrorState {
  let headers: Headers | undefined
  return {
    status: response.status,
    // Built only if the predicate looks at it.
    get headers() {
      return (headers ??= toHeaders(response.headers))
    },
    url: targetOf(response.config),
    json: once(async () => jsonOfDecoded(response.data, contentTypeOf(response.headers))),
  }
}

/** What the response hook hands on when there is no replay: the response, or the error it came with. */
function passOn(response: AxiosResponse, error: unknown): AxiosResponse {
  if (error !== undefined) throw error
  return response
}

function isAxiosErrorWithResponse(error: unknown): error is { response: AxiosResponse; isAxiosError: true } {
  return typeof error === 'object' && error !== null && (error as { isAxiosError?: unknown }).isAxiosError === true &&
    typeof (error as { response?: unknown }).response === 'object' && (error as { response?: unknown }).response !== null
}

/**
 * The config as it is now, for a replay: its own enumerable members (symbols too, as a spread copies
 * them) and its headers as a plain object. Copied member by member: axios builds each request's config
 * key by key on a null prototype, so the engine keeps it as a dictionary, and a spread of such an
 * object takes a slow path (three times the time of this loop, the largest cost of the interceptor).
 */
function snapshotOf(config: InternalAxiosRequestConfig): AxiosRequestConfig {
  const copy: Record<PropertyKey, unknown> = {}
  const source = config as unknown as Record<PropertyKey, unknown>
  for (const key in source) if (Object.hasOwn(source, key)) copy[key] = source[key]
  for (const symbol of Object.getOwnPropertySymbols(source)) {
    if (Object.prototype.propertyIsEnumerable.call(source, symbol)) copy[symbol] = source[symbol]
  }
  copy['headers'] = config.headers.toJSON()
  return copy as AxiosRequestConfig
}

function placeToken(core: AdapterCore, config: InternalAxiosRequestConfig, token: string): void {
  const { placement } = core
  if (placement.in === 'header') config.headers.set(placement.name, headerValue(placement, token))
  else if (placement.in === 'query') config.params = withQueryParam(config.params, placement.name, token)
  else {
    config.data = dataWithToken(config.data, config.headers, placement.field, token)
  }
}

/**
 * Adds a request and a response interceptor to `instance`: requests to the API's origin get a valid
 * service token, and a request whose token was refused is replayed once (through `instance.request`)
 * with a new one. Works with axios' Node http adapter and with `adapter: 'fetch'`.
 *
 * Behaviour:
 * - Body placement works on `data` before axios serialises it: plain objects (also when axios sends
 *   them urlencoded or multipart), JSON or urlencoded strings, `URLSearchParams`, `FormData`; other data
 *   (Buffer, streams) is rejected with a `ConfigurationError`. Empty `data` becomes `{ serviceToken }`.
 * - Redirects: tokened requests are sent with `maxRedirects: 0` (both adapters), so no redirect is ever
 *   followed with the token; the 3xx response goes through `validateStatus` (rejected by default).
 * - The replay goes through `instance.request`, so the instance's interceptors run on it too: attach
 *   this after your own interceptors so that each runs once per attempt.
 * - Errors: the request rejects with the manager's {@link ServiceTokenError} (not an AxiosError) when no
 *   token can be had, with `config.signal.reason` when aborted while waiting, otherwise as axios does.
 *
 * @param instance - An axios instance (or the default `axios`).
 * @param manager - The token manager (from `createTokenManager`).
 * @param options - See {@link ServiceTokenAdapterOptions}.
 * @returns `detach()`, which ejects both interceptors.
 * @throws {ConfigurationError} synchronously, for invalid options, or when the manager has no `baseUrl`
 *   and no `origins` is given.
 *
 * @example
 * ```ts
 * import axios from 'axios'
 * import { createTokenManager } from 'anyweb-service-token'
 * import { attachServiceToken } from 'anyweb-service-token/axios'
 *
 * const manager = createTokenManager({ appid, secret })
 * const api = axios.create({ baseURL: 'https://api.anyweb.cc' })
 * const detach = attachServiceToken(api, manager)
 * const { data } = await api.post('/service/checkAddresses', { group }) // serviceToken is added
 * detach()
 * ```
 */
function attachServiceToken(
  instance: AxiosInstance,
  manager: TokenManager,
  options?: ServiceTokenAdapterOptions,
): () => void {
  if (typeof instance?.interceptors?.request?.use !== 'function') {
    throw new TypeError('attachServiceToken(instance, manager): `instance` must be an axios instance.')
  }
  const core = createAdapterCore(manager, options)

  // Neither hook is an async function: axios chains them with `then`, and a plain value returned there
  // costs no promise of ours and no extra turns; a promise is returned only when there is a wait.
  function onRequest(config: InternalAxiosRequestConfig): InternalAxiosRequestConfig | Promise<InternalAxiosRequestConfig> {
    if (!appliesTo(core, targetOf(config), config.method ?? 'get')) return config
    const original = snapshotOf(config)
    const now = tokenNow(core, signalOf(config))
    return typeof now === 'string' ? tokened(config, original, now) : now.then((token) => tokened(config, original, token))
  }

  function tokened(config: InternalAxiosRequestConfig, original: AxiosRequestConfig, token: string): InternalAxiosRequestConfig {
    const tagged = config as TaggedConfig
    placeToken(core, config, token)
    config.maxRedirects = 0
    tagged[STATE] = new RequestState(token, original, tagged[REPLAY] === true)
    return config
  }

  function settle(response: AxiosResponse, error: unknown): AxiosResponse | Promise<AxiosResponse> {
    const state = (response.config as TaggedConfig | undefined)?.[STATE]
    if (state !== undefined && !state.replayed) {
      // Answered at once in the common case, so a response that is fine takes no extra turn.
      const verdict = refuses(response)
      if (verdict === true) return replay(state)
      if (verdict !== false) return verdict.then((refused) => (refused ? replay(state) : passOn(response, error)))
    }
    return passOn(response, error)
  }

  async function replay(state: RequestState): Promise<AxiosResponse> {
    await renewToken(core, state.token, signalOf(state.original))
    const again: AxiosRequestConfig & { [REPLAY]: true } = { ...state.original, [REPLAY]: true }
    return instance.request(again)
  }

  function refuses(response: AxiosResponse): boolean | Promise<boolean> {
    if (core.isAuthError !== defaultIsAuthError) return core.isAuthError(authStateOf(response))
    const { data } = response
    // Parsed data (an object) is judged as is; the content type matters only to text or bytes.
    const decoded = typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data)
    return decodedRefuses(response.status, data, decoded ? contentTypeOf(response.headers) : null)
  }

  const requestId = instance.interceptors.request.use(onRequest)
  const responseId = instance.interceptors.response.use(
    (response) => settle(response, undefined),
    (error: unknown) => (isAxiosErrorWithResponse(error) ? settle(error.response, error) : Promise.reject(error)),
  )
  let attached = true
  return function detach(): void {
    if (!attached) return
    attached = false
    instance.interceptors.request.eject(requestId)
    instance.interceptors.response.eject(responseId)
  }
}

export { attachServiceToken, defaultIsAuthError }
export type { AuthErrorState, IsAuthError, ServiceTokenAdapterOptions, TokenPlacement }
