/**
 * anyweb-service-token/axios: interceptors that add the service token to an axios instance's requests.
 * @packageDocumentation
 */
import axios, { AxiosError, getAdapter, toFormData } from 'axios'
import type { AxiosAdapter, AxiosHeaders, AxiosInstance, AxiosRequestConfig, AxiosResponse, InternalAxiosRequestConfig } from 'axios'
import { ConfigurationError, isServiceTokenError } from '../src/errors.js'
import { MAX_ANSWER_BYTES, mayBeJson } from '../src/http/answer.js'
import { decodedRefuses, defaultIsAuthError, jsonOfDecoded, once, ruleOf } from '../src/http/auth-error.js'
import type { AuthErrorState, IsAuthError, ResolvedRule } from '../src/http/auth-error.js'
import { renewToken, tokenFor } from '../src/http/exchange.js'
import { bodyError, formWithToken, headerValue, injectJsonText, injectUrlEncoded, urlWithToken } from '../src/http/place.js'
import type { TokenPlacement } from '../src/http/place.js'
import { appliesTo, createPolicy, outsiderOrigin, reportOutsider } from '../src/http/policy.js'
import type { Policy, ServiceTokenAdapterOptions } from '../src/http/policy.js'
import type { TokenManager } from '../src/types.js'
import { describe, isPlainObject } from '../src/util.js'

/**
 * The token as query parameter `name`: in `config.url` where the URL has one already (axios would keep
 * it and add its `params` after it, and APIs read the first: WeChat's documentation prints its URLs
 * with `?access_token=ACCESS_TOKEN`), otherwise in `params`.
 */
function placeInQuery(config: InternalAxiosRequestConfig, name: string, token: string): void {
  const url = config.url ?? ''
  const question = url.indexOf('?')
  if (question !== -1 && new URLSearchParams(url.slice(question + 1).split('#')[0]).has(name)) config.url = urlWithToken(url, name, token)
  else config.params = withQueryParam(config.params, name, token)
}

function withQueryParam(params: unknown, name: string, token: string): unknown {
  if (params instanceof URLSearchParams) {
    const copy = new URLSearchParams(params)
    copy.set(name, token)
    return copy
  }
  // A class instance's own fields are what axios serialises too.
  return { ...(typeof params === 'object' && params !== null ? params : {}), [name]: token }
}

function isEmptyData(data: unknown): boolean {
  return data === undefined || data === null || data === ''
}

/**
 * The request body as axios' `transformRequest` left it, with the token added: a JSON text (also from
 * a plain object, or from no body at all), an urlencoded text, or `FormData`. The content type matters
 * to a text only, so it is looked up (in AxiosHeaders, not free) only then.
 */
function dataWithToken(data: unknown, headers: AxiosHeaders, field: string, token: string): unknown {
  if (typeof data === 'string') {
    const contentType = headers.getContentType()
    if (typeof contentType === 'string' && /^application\/x-www-form-urlencoded\b/i.test(contentType)) return injectUrlEncoded(data, field, token)
    if (data !== '') return injectJsonText(data, field, token)
  }
  if (isEmptyData(data) || isPlainObject(data)) {
    // No body (the interceptor gives one, unless the URL changed after it), or an object a custom
    // transformRequest left as it is: sent as JSON.
    headers.setContentType('application/json')
    return JSON.stringify({ ...(isPlainObject(data) ? data : {}), [field]: token })
  }
  if (data instanceof URLSearchParams) return injectUrlEncoded(data.toString(), field, token)
  if (typeof FormData !== 'undefined' && data instanceof FormData) return formWithToken(data, field, token)
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
 * params, which costs more than the rest of the check. A protocol-relative result (`//host`) does not parse as a URL,
 * so such a request never gets the token.
 */
function targetOf(config: AxiosRequestConfig): string {
  const url = config.url ?? ''
  const base = config.baseURL
  if (!base) return url
  if (config.allowAbsoluteUrls !== false && /^([a-z][a-z\d+\-.]*:)?\/\//i.test(url)) return url
  return url === '' ? base : `${base.replace(/\/+$/, '')}/${url.replace(/^\/+/, '')}`
}

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
 * axios before 1.20 sends with its fetch adapter whatever `maxRedirects` says, so fetch follows
 * redirects, to any origin, with the token: there the redirect mode goes into `fetchOptions` too (which
 * costs fetch a Request built twice, so not where `maxRedirects: 0` is enough). Adapters named as text
 * are resolved by this axios, so its version is the one that counts.
 */
const FETCH_IGNORES_MAX_REDIRECTS = /* @__PURE__ */ (() => {
  const [major, minor] = String(axios.VERSION).split('.').map(Number)
  return major === 1 && minor !== undefined && minor < 20
})()

/**
 * What a request's config holds before the token is placed: what a replay starts from again, and what
 * the config is left with afterwards (the caller may log it or send it again, even elsewhere).
 */
interface Unplaced {
  readonly url: string | undefined
  readonly data: unknown
  readonly params: unknown
  /**
   * The caller's own value, if any, of the one header the token changes: the token's header, or with
   * body placement `content-length` (an adapter sets it from the body with the field).
   */
  readonly header: unknown
  readonly maxRedirects: number | undefined
  readonly fetchOptions: InternalAxiosRequestConfig['fetchOptions']
  readonly timeout: number | undefined
}

function unplaced(policy: Policy, config: InternalAxiosRequestConfig): Unplaced {
  const { url, data, params, maxRedirects, fetchOptions, timeout } = config
  const name = touchedHeader(policy)
  return { url, data, params, header: name === undefined ? undefined : config.headers.get(name), maxRedirects, fetchOptions, timeout }
}

function touchedHeader(policy: Policy): string | undefined {
  const { placement } = policy
  return placement.in === 'header' ? placement.name : placement.in === 'body' ? 'content-length' : undefined
}

/** `config` with `token` placed, from what it sent before any token ({@link unplaced}). */
function placeInConfig(policy: Policy, config: InternalAxiosRequestConfig, token: string, before: Unplaced): void {
  const { placement } = policy
  if (placement.in === 'header') config.headers.set(placement.name, headerValue(placement, token))
  else if (placement.in === 'query') placeInQuery(config, placement.name, token)
  else {
    config.data = dataWithToken(config.data, config.headers, placement.field, token)
    // A length the caller gave no longer fits the body (one an adapter left, {@link restore} took away).
    if (before.header !== undefined && before.header !== null) config.headers.delete('content-length')
  }
  // No redirect is ever followed with the token (both adapters; the 3xx goes through validateStatus).
  config.maxRedirects = 0
  if (FETCH_IGNORES_MAX_REDIRECTS) config.fetchOptions = { ...config.fetchOptions, redirect: 'manual' }
}

/**
 * `config` as it was before the token went in. What the adapters themselves add to the headers stays (a
 * user agent, a multipart boundary, which a replay's body gets anew), but the length of a body with the
 * field: the config may be sent again without it.
 */
function restore(policy: Policy, config: InternalAxiosRequestConfig, before: Unplaced): void {
  if (before.url === undefined) delete config.url
  else config.url = before.url
  config.data = before.data
  config.params = before.params
  const name = touchedHeader(policy)
  if (name !== undefined) {
    if (before.header === undefined || before.header === null) config.headers.delete(name)
    else config.headers.set(name, before.header as string)
  }
  if (before.maxRedirects === undefined) delete config.maxRedirects
  else config.maxRedirects = before.maxRedirects
  if (before.fetchOptions === undefined) delete config.fetchOptions
  else config.fetchOptions = before.fetchOptions
  if (before.timeout === undefined) delete config.timeout
  else config.timeout = before.timeout
}

/** axios' `timeout` of a config, when it sets one (0 means none). */
function timeoutOf(config: AxiosRequestConfig): number | undefined {
  return typeof config.timeout === 'number' && config.timeout > 0 ? config.timeout : undefined
}

/**
 * The wait for a token, bounded by axios' `timeout`: past it, the error axios gives for a timeout. (The
 * shared token request goes on for the callers that still wait.)
 */
function tokenWithin<T>(wait: Promise<T>, config: InternalAxiosRequestConfig, timeout: number | undefined): Promise<T> {
  if (timeout === undefined) return wait
  let timer: ReturnType<typeof setTimeout> | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      const code = config.transitional?.clarifyTimeoutError === true ? 'ETIMEDOUT' : 'ECONNABORTED'
      reject(new AxiosError(config.timeoutErrorMessage || `timeout of ${timeout}ms exceeded`, code, config))
    }, timeout)
  })
  return Promise.race([wait, expired]).finally(() => clearTimeout(timer))
}

/** What is left of axios' `timeout` for the exchange after `spent` ms waiting for its token. */
function spend(config: InternalAxiosRequestConfig, timeout: number | undefined, spent: number): void {
  if (timeout !== undefined && spent > 0) config.timeout = Math.max(1, Math.ceil(timeout - spent))
}

/**
 * Before transformRequest, with body placement, for a request the token will go with: a body it could
 * not put the field into is made one it can. No body becomes an empty object (serialised as JSON unless
 * the caller chose another content type); an object sent multipart becomes a web `FormData` by axios'
 * own rules (in Node axios would make a one-shot `form-data` stream of it); a JSON object text with no
 * content type is labelled JSON (axios would label it urlencoded).
 */
function prepareBody(config: InternalAxiosRequestConfig): void {
  let { data } = config
  if (isEmptyData(data)) data = config.data = {}
  if (isPlainObject(data)) {
    const type = config.headers.getContentType()
    if (typeof type === 'string' && /^multipart\/form-data\b/i.test(type)) config.data = toFormData(data, new FormData(), config.formSerializer)
  } else if (typeof data === 'string' && config.headers.getContentType() === undefined && /^\s*\{/.test(data)) {
    config.headers.setContentType('application/json')
  }
}

/** {@link decodedRefuses} for a Blob answer: read when it is small JSON, as a fetch answer would be. */
async function blobRefuses(status: number, data: Blob, contentType: string | null, rule: ResolvedRule): Promise<boolean> {
  return (
    status === 401 ||
    (data.size <= MAX_ANSWER_BYTES && mayBeJson(contentType) && decodedRefuses(status, new Uint8Array(await data.arrayBuffer()), contentType, rule))
  )
}

/** Lets go of a refused answer's body when it is a stream (`responseType: 'stream'`): its socket is freed. */
function discardData(data: unknown): void {
  if (typeof ReadableStream !== 'undefined' && data instanceof ReadableStream) data.cancel().catch(() => undefined)
  else if (typeof (data as { destroy?: unknown } | null)?.destroy === 'function') (data as { destroy(): void }).destroy()
}

/**
 * A library error as axios' error path carries every failure: an `AxiosError` with the request's
 * `config` (and the refused answer's `request`, when one was sent), so error interceptors that read
 * `error.config` work; the library's error is its `cause`, its `code` the library's code. No `response`:
 * a refresh interceptor that sees a 401 there would start a refresh loop of its own.
 */
function asAxiosError(error: unknown, config: InternalAxiosRequestConfig, refused?: AxiosResponse): unknown {
  if (!isServiceTokenError(error)) return error
  const wrapped = new AxiosError(error.message, error.code, config, refused?.request)
  // Non-enumerable, as a native `cause` is: loggers that walk own properties do not descend into it.
  Object.defineProperty(wrapped, 'cause', { value: error, writable: true, enumerable: false, configurable: true })
  return wrapped
}

/** The wrapper {@link attachServiceToken} puts in place of a request's adapter (named so it is found again). */
function isServiceTokenAdapter(adapter: unknown): boolean {
  return typeof adapter === 'function' && adapter.name === 'serviceTokenAdapter'
}

/**
 * Gives an axios instance's requests to the API's origin a valid service token, and replays a request
 * whose token was refused once with a new one. Works with axios' Node http adapter, with
 * `adapter: 'fetch'`, and with an adapter of your own.
 *
 * How: a synchronous request interceptor wraps the request's adapter, and the token is placed there,
 * after every interceptor and `transformRequest`; the auth-error check and the replay happen there too,
 * before `transformResponse`. So your interceptors run once per call, see requests without the token
 * and only the final response (after any replay), and a call costs no extra promise hops.
 *
 * Behaviour:
 * - Body placement adds the field to the body as `transformRequest` made it: a JSON text (plain
 *   objects; also no body at all, which becomes `{"serviceToken":…}`), an urlencoded text (objects sent
 *   urlencoded, `URLSearchParams`), or `FormData` (objects sent multipart). Other data (Buffer, streams)
 *   is rejected with a `ConfigurationError`.
 * - Redirects: tokened requests are sent with `maxRedirects: 0` (both adapters; before axios 1.20, whose
 *   fetch adapter ignores it, also with `fetchOptions.redirect: 'manual'`), so no redirect is ever
 *   followed with the token; the 3xx response goes through `validateStatus` (rejected by default).
 * - Afterwards `response.config` and `error.config` hold no token: safe to log, or to send again.
 * - Both adapters send as axios makes them send: the token goes into the config axios hands its adapter,
 *   and the answer is judged from the data the adapter decoded (up to 64 KiB; `responseType: 'stream'`
 *   answers are judged by their status only).
 * - The replay sends the same request again with the new token, through the same adapter: your
 *   interceptors do not run again, and `transformResponse` runs once, on the final answer. A replay that
 *   fails again is returned as is.
 * - Errors: when no token can be had (or the body cannot carry it), the request rejects with an
 *   `AxiosError` whose `code` is the library's code (e.g. `ERR_ANYWEB_CREDENTIALS`), with `config`
 *   (without the token), and whose `cause` is the library's error: `isServiceTokenError(error.cause)`.
 *   When the token was refused and the renewal failed, `request` is the refused answer's.
 *   An abort while waiting for it rejects with axios' `CanceledError`, as every aborted axios
 *   request does; axios' `timeout` bounds each attempt together with the wait for its token (past it,
 *   axios' own timeout error); otherwise as axios does.
 *
 * @param instance - An axios instance (or the default `axios`).
 * @param manager - The token manager (from `createTokenManager`).
 * @param options - See {@link ServiceTokenAdapterOptions}.
 * @returns `detach()`, which ejects the interceptor (requests already under way finish as they began).
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
    throw new ConfigurationError('instance', `Invalid argument \`instance\`: attachServiceToken(instance, manager, options?) takes an axios instance first (axios.create() or axios), got ${describe(instance)}.`)
  }
  const policy = createPolicy(manager, options)

  /**
   * The request's adapter, wrapped. Where the request goes is judged here, at dispatch, from the config
   * as it is sent: an interceptor that ran after this one may have changed it.
   */
  function withToken(given: AxiosRequestConfig['adapter']): AxiosAdapter {
    return function serviceTokenAdapter(config) {
      try {
        const adapter = getAdapter(given ?? instance.defaults.adapter, config)
        const target = targetOf(config)
        const method = config.method ?? 'get'
        if (!appliesTo(policy, target, method)) {
          const outsider = outsiderOrigin(policy, target, method)
          return outsider === undefined ? adapter(config) : watchOutsider(adapter(config), outsider)
        }
        const now = tokenFor(policy, signalOf(config))
        if (typeof now === 'string') return exchange(adapter, config, now, given, 0)
        // axios' timeout bounds each attempt with the wait for its token.
        const started = Date.now()
        return tokenWithin(now, config, timeoutOf(config)).then(
          (token) => exchange(adapter, config, token, given, Date.now() - started),
          (error: unknown) => Promise.reject(asAxiosError(error, config)),
        )
      } catch (error) {
        return Promise.reject(asAxiosError(error, config))
      }
    }
  }

  /**
   * Sends with `token`; on an auth error renews it (compare-and-invalidate) and sends once more. The
   * config is then left as it came (no token in it, its own adapter): `response.config` and
   * `error.config` can be logged, or sent again, safely.
   */
  async function exchange(
    adapter: AxiosAdapter,
    config: InternalAxiosRequestConfig,
    token: string,
    given: AxiosRequestConfig['adapter'],
    waited: number,
  ): Promise<AxiosResponse> {
    const before = unplaced(policy, config)
    const timeout = timeoutOf(config)
    let refused: AxiosResponse | undefined
    try {
      placeInConfig(policy, config, token, before)
      spend(config, timeout, waited)
      let response: AxiosResponse
      let error: unknown
      try {
        response = await adapter(config)
      } catch (caught) {
        if (!isAxiosErrorWithResponse(caught)) throw caught
        response = caught.response
        error = caught
      }
      const verdict = refuses(response)
      if (verdict === false || (verdict !== true && !(await verdict))) return passOn(response, error)
      refused = response
      const renewing = Date.now()
      const fresh = await tokenWithin(renewToken(policy, token, signalOf(config), response.status), config, timeout)
      if (fresh === undefined) return passOn(response, error)
      discardData(response.data)
      restore(policy, config, before)
      placeInConfig(policy, config, fresh, before)
      spend(config, timeout, Date.now() - renewing)
      return await adapter(config)
    } catch (error) {
      throw asAxiosError(error, config, refused)
    } finally {
      restore(policy, config, before)
      if (given === undefined) delete config.adapter
      else config.adapter = given
    }
  }

  /**
   * An answer to a request that got no token because of its origin: reported (once per origin) when it
   * refuses one, the sign of an axios `baseURL` and a manager that name the API differently.
   */
  function watchOutsider(sent: Promise<AxiosResponse>, origin: string): Promise<AxiosResponse> {
    const notice = (response: AxiosResponse): void => {
      Promise.resolve(refuses(response)).then(
        (refused) => refused && reportOutsider(policy, origin, response.status),
        () => undefined,
      )
    }
    return sent.then(
      (response) => {
        notice(response)
        return response
      },
      (error: unknown) => {
        if (isAxiosErrorWithResponse(error)) notice(error.response)
        throw error
      },
    )
  }

  /** The response as the adapter gives it (before transformResponse): for JSON, usually a text. */
  function refuses(response: AxiosResponse): boolean | Promise<boolean> {
    const rule = ruleOf(policy.isAuthError)
    if (rule === undefined) return policy.isAuthError(authStateOf(response))
    const { data } = response
    // `responseType: 'blob'` (the fetch adapter): a small JSON one is read to be looked at.
    if (typeof Blob !== 'undefined' && data instanceof Blob) return blobRefuses(response.status, data, contentTypeOf(response.headers), rule)
    // Parsed data (an object) is judged as is; the content type matters only to text or bytes.
    const decoded = typeof data === 'string' || data instanceof ArrayBuffer || ArrayBuffer.isView(data)
    return decodedRefuses(response.status, data, decoded ? contentTypeOf(response.headers) : null, rule)
  }

  // Synchronous: axios then calls it inline, with no promise hop, and dispatches at once.
  const requestId = instance.interceptors.request.use(
    (config) => {
      // Attached twice (or a config sent again while under way): one wrapper, one replay.
      if (isServiceTokenAdapter(config.adapter)) return config
      if (policy.placement.in === 'body' && appliesTo(policy, targetOf(config), config.method ?? 'get')) prepareBody(config)
      config.adapter = withToken(config.adapter)
      return config
    },
    undefined,
    { synchronous: true },
  )
  let attached = true
  return function detach(): void {
    if (!attached) return
    attached = false
    instance.interceptors.request.eject(requestId)
  }
}

export { attachServiceToken, defaultIsAuthError }
export type { AuthErrorState, IsAuthError, ServiceTokenAdapterOptions, TokenPlacement }
