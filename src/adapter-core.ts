/**
 * What the four adapters share: where the token goes, which requests get it, how an auth error is
 * recognised, and the web-standard send/follow/replay cycle. Web standards only (Request, Headers,
 * URLSearchParams, FormData): this file knows no HTTP client.
 * @packageDocumentation
 */
import { ConfigurationError } from './errors.js'
import { readyTokenOf } from './ready-token.js'
import type { FetchLike, GetTokenOptions, TokenManager } from './types.js'
import { describe, isPlainObject } from './util.js'

/**
 * Where the token goes in a request.
 *
 * - `{ in: 'body', field }`: a field of a JSON object body, an urlencoded body or a multipart form. An
 *   empty body becomes `{"<field>": "<token>"}` with `content-type: application/json`. A field the
 *   caller already set is overwritten. GET and HEAD requests cannot carry a body and are sent untouched.
 * - `{ in: 'header', name, scheme? }`: a header, e.g. `authorization: Bearer <token>`.
 * - `{ in: 'query', name }`: a query parameter.
 *
 * @example
 * ```ts
 * const placement: TokenPlacement = { in: 'header', name: 'authorization', scheme: 'Bearer' }
 * ```
 */
type TokenPlacement =
  | { in: 'body'; field: string }
  | { in: 'header'; name: string; scheme?: string }
  | { in: 'query'; name: string }

/** What {@link ServiceTokenAdapterOptions.isAuthError} receives: the response, host-independent. */
interface AuthErrorState {
  /** The HTTP status. */
  status: number
  /** The response headers. */
  headers: Headers
  /** The URL the request went to. */
  url: string
  /**
   * The body parsed as JSON, read from a copy so the caller's response stays readable; `undefined`
   * when the content type is not JSON, the body is larger than 64 KiB, or it does not parse.
   */
  json(): Promise<unknown>
}

/** Tells whether a response means "this token is not accepted": the request is then replayed once. */
type IsAuthError = (state: AuthErrorState) => boolean | Promise<boolean>

/**
 * Options shared by every adapter (`withServiceToken`, `attachServiceToken`, `serviceTokenHooks`,
 * `serviceTokenMiddleware`).
 *
 * @example
 * ```ts
 * const options: ServiceTokenAdapterOptions = { origins: ['https://api.anyweb.cc'] }
 * ```
 */
interface ServiceTokenAdapterOptions {
  /**
   * Where the token goes.
   * @default { in: 'body', field: 'serviceToken' }
   */
  placement?: TokenPlacement
  /**
   * Whether a response is an auth error (the token was refused).
   * @default HTTP 401, or a JSON body whose `code` is `"A108P001"` (whatever the status)
   */
  isAuthError?: IsAuthError
  /**
   * The origins (`scheme://host:port`) the token may be sent to; a full URL counts by its origin.
   * Requests anywhere else pass through untouched.
   * @default [the origin of manager.baseUrl]
   */
  origins?: readonly string[]
}

/** The adapter options, checked once, with every default applied. */
interface AdapterCore {
  readonly manager: TokenManager
  readonly placement: TokenPlacement
  readonly isAuthError: IsAuthError
  readonly origins: ReadonlySet<string>
  /** `origin + pathname` of the token endpoint, which is never touched. */
  readonly tokenEndpoint: string | undefined
  /** The URL text {@link allowsLiteral} judged last, and its answer: most calls repeat a few URLs. */
  readonly lastLiteral: { url: string; allowed: boolean | undefined }
}

/** A caller's request kept so it can be sent again: its head and its body, buffered when possible. */
interface RequestTemplate {
  /** The caller's request; its body has been taken over by `body`. */
  readonly request: Request
  /** The body: bytes, none, or a one-shot stream that can be sent once only. */
  body: ArrayBuffer | ReadableStream<Uint8Array> | null
  /** False once a one-shot stream body has been sent: no replay, no redirect with a body. */
  replayable: boolean
}

/** Bodies larger than this are not read to look for an auth error code. */
const MAX_AUTH_BODY_BYTES = 64 * 1024
/** The fetch standard's redirect limit. */
const MAX_REDIRECTS = 20
const DEFAULT_PLACEMENT: TokenPlacement = { in: 'body', field: 'serviceToken' }
const AUTH_ERROR_CODE = 'A108P001'


function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

function resolvePlacement(value: unknown): TokenPlacement {
  if (value === undefined) return DEFAULT_PLACEMENT
  const bad = (detail: string): never => {
    throw new ConfigurationError('placement', `Invalid option \`placement\`: ${detail}`)
  }
  if (typeof value !== 'object' || value === null) return bad(`expected an object, got ${describe(value)}.`)
  const placement = value as Record<string, unknown>
  switch (placement['in']) {
    case 'body':
      if (!nonEmptyString(placement['field'])) return bad('`field` must be a non-empty string.')
      return { in: 'body', field: placement['field'] }
    case 'query':
      if (!nonEmptyString(placement['name'])) return bad('`name` must be a non-empty string.')
      return { in: 'query', name: placement['name'] }
    case 'header': {
      const { name, scheme } = placement
      if (!nonEmptyString(name)) return bad('`name` must be a non-empty string.')
      // Headers() would throw later, at the first request: fail at start-up instead.
      try {
        new Headers([[name, 'x']])
      } catch {
        return bad(`${JSON.stringify(name)} is not a valid header name.`)
      }
      // Lower case, as HTTP/2 writes it: header edits then compare names without folding this one.
      if (scheme === undefined) return { in: 'header', name: name.toLowerCase() }
      if (!nonEmptyString(scheme) || /\s/.test(scheme)) return bad('`scheme` must be a non-empty word such as "Bearer".')
      return { in: 'header', name: name.toLowerCase(), scheme }
    }
    default:
      return bad(`\`in\` must be "body", "header" or "query", got ${describe(placement['in'])}.`)
  }
}

function originOf(option: string, value: unknown): string {
  let origin = 'null'
  try {
    if (typeof value === 'string') origin = new URL(value).origin
  } catch {
    // reported below
  }
  if (origin === 'null') {
    throw new ConfigurationError(option, `Invalid option \`${option}\`: expected an http(s) URL or origin, got ${describe(value)}.`)
  }
  return origin
}

/**
 * Checks the adapter options once and applies the defaults.
 * @throws {ConfigurationError} when an option is invalid, or when `origins` is missing and the manager
 *   has no `baseUrl`.
 */
function createAdapterCore(manager: TokenManager, options: ServiceTokenAdapterOptions = {}): AdapterCore {
  if (typeof manager !== 'object' || manager === null || typeof manager.getToken !== 'function') {
    throw new ConfigurationError('manager', 'Invalid argument `manager`: expected a TokenManager from createTokenManager().')
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('options', `Invalid adapter options: expected an object, got ${describe(options)}.`)
  }
  const placement = resolvePlacement(options.placement)
  const isAuthError = options.isAuthError ?? defaultIsAuthError
  if (typeof isAuthError !== 'function') {
    throw new ConfigurationError('isAuthError', `Invalid option \`isAuthError\`: expected a function, got ${describe(isAuthError)}.`)
  }
  let origins: string[]
  if (options.origins !== undefined) {
    if (!Array.isArray(options.origins)) {
      throw new ConfigurationError('origins', `Invalid option \`origins\`: expected an array of origins, got ${describe(options.origins)}.`)
    }
    origins = options.origins.map((value: unknown, index) => originOf(`origins[${index}]`, value))
  } else if (manager.baseUrl !== undefined) {
    origins = [originOf('baseUrl', manager.baseUrl)]
  } else {
    throw new ConfigurationError(
      'origins',
      'Invalid option `origins`: the manager has no `baseUrl`, so say where the token may be sent, e.g. `origins: ["https://api.example.com"]`.',
    )
  }
  let tokenEndpoint: string | undefined
  if (manager.tokenUrl !== undefined) {
    const url = new URL(manager.tokenUrl)
    tokenEndpoint = url.origin + url.pathname
  }
  return Object.freeze({ manager, placement, isAuthError, origins: new Set(origins), tokenEndpoint, lastLiteral: { url: '', allowed: undefined } })
}

function parseUrl(value: string | URL): URL | undefined {
  try {
    return new URL(value)
  } catch {
    return undefined
  }
}

/**
 * An URL path that parsing keeps as written, up to the query, the fragment or the end: only characters
 * the URL parser neither encodes, decodes, strips nor treats as a separator (no dot segment, escape,
 * backslash, whitespace, control, quote, brace or non-ASCII character).
 */
const LITERAL_PATH = /\/[\w\-~!$&'()*+,;=:@/]*(?=[?#]|$)/y

/**
 * {@link allowsUrl} for an URL text spelled `origin/path…` with an allowed origin and a path that
 * parsing keeps as written, answered without parsing it or allocating (a parse per request costs a few
 * percent of a loopback request); `undefined` for any other text.
 */
function allowsLiteral(core: AdapterCore, url: string): boolean | undefined {
  const last = core.lastLiteral
  if (url === last.url) return last.allowed
  let allowed: boolean | undefined
  for (const origin of core.origins) {
    if (!url.startsWith(origin)) continue
    LITERAL_PATH.lastIndex = origin.length
    if (!LITERAL_PATH.test(url)) continue
    // The path ends where the match does: it is the token endpoint's exactly when it ends as far in and starts so.
    const endpoint = core.tokenEndpoint
    allowed = endpoint === undefined || LITERAL_PATH.lastIndex !== endpoint.length || !url.startsWith(endpoint)
    break
  }
  last.url = url
  last.allowed = allowed
  return allowed
}

/** Whether the token may be sent to `url`: an allowed origin, and not the token endpoint itself. */
function allowsUrl(core: AdapterCore, url: string | URL): boolean {
  const literal = typeof url === 'string' ? allowsLiteral(core, url) : undefined
  if (literal !== undefined) return literal
  const parsed = typeof url === 'string' ? parseUrl(url) : url
  if (parsed === undefined || !core.origins.has(parsed.origin)) return false
  return core.tokenEndpoint !== parsed.origin + parsed.pathname
}

/** Whether a request gets a token: an allowed URL, and (for body placement) a method that has a body. */
function appliesTo(core: AdapterCore, url: string | URL, method: string): boolean {
  return fitsPlacement(core, method) && allowsUrl(core, url)
}

/** Whether a request with `method` can carry the token: anything but GET and HEAD for body placement. */
function fitsPlacement(core: AdapterCore, method: string): boolean {
  return core.placement.in !== 'body' || canHaveBody(method)
}

function canHaveBody(method: string): boolean {
  const upper = method.toUpperCase()
  return upper !== 'GET' && upper !== 'HEAD'
}

/** Content types already looked at, with their MIME type and JSON-ness: an API answers with the same few every time. */
const contentTypes = new Map<string, { mime: string; json: boolean }>()

function describeContentType(contentType: string | null | undefined): { mime: string; json: boolean } {
  const given = contentType ?? ''
  let known = contentTypes.get(given)
  if (known === undefined) {
    const mime = given.split(';', 1)[0]!.trim().toLowerCase()
    known = { mime, json: /^[\w.+-]+\/(?:[\w.+-]+\+)?json$/.test(mime) }
    if (contentTypes.size >= 64) contentTypes.clear()
    contentTypes.set(given, known)
  }
  return known
}

/** The MIME type essence (`type/subtype`, lower case) of a content-type header, or `''`. */
function mimeType(contentType: string | null | undefined): string {
  return describeContentType(contentType).mime
}

/** `application/json`, `text/json` and any `+json` suffix. */
function isJsonContentType(contentType: string | null | undefined): boolean {
  return describeContentType(contentType).json
}


function bodyError(detail: string): ConfigurationError {
  return new ConfigurationError(
    'placement',
    `Cannot put the token into this request body: ${detail} Send a JSON object, urlencoded or multipart body, or use placement \`{ in: 'header' }\` or \`{ in: 'query' }\`.`,
  )
}

/**
 * Adds `field` to a JSON object text. A new field is appended textually so that every other byte of
 * the caller's JSON (formatting, big numbers) is kept; an existing field is overwritten by re-serialising.
 * A text in braces that cannot hold the field yet (its quoted name is absent and there is no escape that
 * could spell it) is not parsed at all: parsing every body cost more than anything else the adapter does,
 * and grows with the body. Such a text goes out as written plus the token, so a malformed one is answered
 * by the API, not refused here.
 * @throws {ConfigurationError} when the text is not a JSON object.
 */
function injectJsonText(text: string, field: string, token: string): string {
  const open = skipJsonSpace(text, 0, 1)
  const close = skipJsonSpace(text, text.length - 1, -1)
  const braced = open < close && text.charCodeAt(open) === 0x7b && text.charCodeAt(close) === 0x7d
  if (!braced || text.includes('\\') || text.includes(quoted(field))) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw bodyError('the body is not valid JSON.')
    }
    if (!isPlainObject(parsed)) throw bodyError(`the JSON body is ${describe(parsed)}, not an object.`)
    if (Object.hasOwn(parsed, field)) {
      Object.defineProperty(parsed, field, { value: token, enumerable: true, writable: true, configurable: true })
      return JSON.stringify(parsed)
    }
  }
  // A JSON object text: `{` at `open`, its closing `}` at `close`, empty when only whitespace lies between.
  const separator = skipJsonSpace(text, open + 1, 1) === close ? '' : ','
  return `${text.slice(0, close)}${separator}${jsonMember(field, token)}${text.slice(close)}`
}

/** The first index from `from`, stepping by `step`, that is not JSON whitespace (space, tab, CR, LF). */
function skipJsonSpace(text: string, from: number, step: 1 | -1): number {
  let index = from
  for (;;) {
    const code = text.charCodeAt(index)
    if (code !== 0x20 && code !== 0x09 && code !== 0x0a && code !== 0x0d) return index
    index += step
  }
}

/** `JSON.stringify(field)`, kept for the last field asked (always the same one in practice). */
function quoted(field: string): string {
  if (field !== lastQuoted.field) Object.assign(lastQuoted, { field, json: JSON.stringify(field) })
  return lastQuoted.json
}

const lastQuoted = { field: '', json: '""' }

/** The last `"field":"token"` written: the token changes once a lifetime, the field never. */
const lastMember = { field: '', token: '', json: '' }

function jsonMember(field: string, token: string): string {
  if (field !== lastMember.field || token !== lastMember.token) {
    lastMember.json = `${JSON.stringify(field)}:${JSON.stringify(token)}`
    lastMember.field = field
    lastMember.token = token
  }
  return lastMember.json
}

/**
 * Adds `name=token` to an urlencoded string (a form body or a query without `?`). Appended textually
 * when new, so the caller's own encoding is kept; an existing one is replaced in place.
 */
function injectUrlEncoded(text: string, name: string, token: string): string {
  const params = new URLSearchParams(text)
  if (!params.has(name)) {
    const pair = new URLSearchParams([[name, token]]).toString()
    if (text === '') return pair
    return text.endsWith('&') ? text + pair : `${text}&${pair}`
  }
  params.set(name, token)
  return params.toString()
}

/** A copy of `form` with `field` set: an existing entry keeps its position, a new one goes last. */
function formWithToken(form: FormData, field: string, token: string): FormData {
  const copy = new FormData()
  for (const [name, value] of form) copy.append(name, value)
  copy.set(field, token)
  return copy
}

/** The last header value written: a flat string made once per token, not a new concatenation per request (fetch checks every character of it). */
const lastHeader: { scheme: string | undefined; token: string; value: string } = { scheme: undefined, token: '', value: '' }

/** The header value for a header placement. */
function headerValue(placement: { scheme?: string }, token: string): string {
  const { scheme } = placement
  if (scheme === undefined) return token
  if (scheme !== lastHeader.scheme || token !== lastHeader.token) {
    lastHeader.value = `${scheme} ${token}`
    lastHeader.scheme = scheme
    lastHeader.token = token
  }
  return lastHeader.value
}

const decoder = new TextDecoder()

/** The header edits that placing a token needs; a `Headers` has them, and so has {@link HeaderRecord}. */
interface HeaderEdits {
  get(name: string): string | null
  set(name: string, value: string): void
  delete(name: string): void
}

/**
 * Case-insensitive edits of a plain header object (the form most callers pass, and what a rebuilt
 * Request gets), copied on the first change only: building a `Headers` for it would cost fetch a second
 * conversion of every header, and most requests need no change (or one new entry). Names given to its
 * methods are lower case; `record` is the caller's object as long as nothing changed.
 */
class HeaderRecord implements HeaderEdits {
  #record: Record<string, unknown>
  #copied = false

  constructor(init: Record<string, unknown>) {
    this.#record = init
  }

  get record(): Record<string, string> {
    return this.#record as Record<string, string>
  }

  #find(name: string): string | undefined {
    return keySpelling(this.#record, name)
  }

  get(name: string): string | null {
    const key = this.#find(name)
    return key === undefined ? null : String(this.#record[key])
  }
  set(name: string, value: string): void {
    this.delete(name)
    if (!this.#copied) this.#record = { ...this.#record }
    this.#copied = true
    this.#record[name] = value
  }
  delete(name: string): void {
    if (this.#find(name) === undefined) return
    // A fresh object rather than `delete`, which would turn this one into a slow dictionary for fetch.
    const kept: Record<string, unknown> = {}
    for (const key in this.#record) if (!spells(key, name)) kept[key] = this.#record[key]
    this.#record = kept
    this.#copied = true
  }
}

/** The first key of `record` spelling `name` (lower case) in any letter case. */
function keySpelling(record: Record<string, unknown>, name: string): string | undefined {
  for (const key in record) if (spells(key, name)) return key
  return undefined
}

/** Whether header name `key` is `name` (lower case) in any letter case. */
function spells(key: string, name: string): boolean {
  return key.length === name.length && key.toLowerCase() === name
}

/** A body the token can be put into without a Request object: what the fetch fast path accepts. */
type PlainBody = string | ArrayBuffer | URLSearchParams | FormData | null

/**
 * The caller's body with the token added, and what happens to `headers`.
 * @throws {ConfigurationError} for bodies the token cannot go into (binary, plain text, not an object).
 */
function bodyWithToken(body: PlainBody, headers: HeaderEdits, field: string, token: string): BodyInit | Promise<BodyInit> {
  if (body instanceof URLSearchParams) {
    const copy = new URLSearchParams(body)
    copy.set(field, token)
    return copy
  }
  if (body instanceof FormData) return formWithToken(body, field, token)
  const contentType = headers.get('content-type')
  const type = mimeType(contentType)
  headers.delete('content-length')
  if (body === null || (typeof body === 'string' ? body.length : body.byteLength) === 0) {
    if (type === 'application/x-www-form-urlencoded') return injectUrlEncoded('', field, token)
    if (!isJsonContentType(contentType)) headers.set('content-type', 'application/json')
    return injectJsonText('{}', field, token)
  }
  if (type === 'multipart/form-data') {
    // The new form has a new boundary: the platform writes the matching content-type.
    headers.delete('content-type')
    return new Response(body, { headers: { 'content-type': contentType ?? '' } }).formData().then(
      (form) => formWithToken(form, field, token),
      () => {
        throw bodyError('the multipart body could not be parsed.')
      },
    )
  }
  const text = typeof body === 'string' ? body : decoder.decode(body)
  if (type === 'application/x-www-form-urlencoded') return injectUrlEncoded(text, field, token)
  // A string body sent without a content type is labelled text/plain by fetch; JSON is often sent so.
  if (isJsonContentType(contentType) || type === '' || type === 'text/plain') return injectJsonText(text, field, token)
  throw bodyError(`its content type is ${JSON.stringify(type)}.`)
}

/** Whether a body is a stream that can be read once only (so never replayed). */
function isOneShotBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return true
  return Symbol.asyncIterator in body
}

/**
 * Takes over `request` so it can be sent (and replayed) with a token. The body is buffered, except a
 * body the caller gave as a one-shot stream when the token does not go into the body.
 */
async function captureRequest(core: AdapterCore, request: Request, oneShot: boolean): Promise<RequestTemplate> {
  if (request.body === null) return { request, body: null, replayable: true }
  if (oneShot && core.placement.in !== 'body') return { request, body: request.body, replayable: false }
  return { request, body: await readReleasing(request.body), replayable: true }
}

/**
 * Reads a request body whole and lets go of the stream. `arrayBuffer()` leaves it locked for good, and
 * a caller that cancels the body once the exchange is over (ky does, after every request) then gets a
 * TypeError with its stack trace built: in a ky request that cost more than all else the adapter does.
 */
async function readReleasing(body: ReadableStream<Uint8Array>): Promise<ArrayBuffer> {
  const reader = body.getReader()
  try {
    return (await readAll(reader, Number.POSITIVE_INFINITY))!.buffer
  } finally {
    reader.releaseLock()
  }
}

/**
 * Reads `reader` to its end, or only until exactly `enough` bytes have come (more than that means the
 * declared length was wrong: then to the end); past `limit` bytes it cancels the stream and answers
 * `undefined`. `first` is a chunk already read from it.
 */
async function readAll(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  limit: number,
  enough = Number.POSITIVE_INFINITY,
  first?: Uint8Array,
): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const chunks: Uint8Array[] = first === undefined ? [] : [first]
  let size = first?.byteLength ?? 0
  while (size !== enough) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > limit) {
      reader.cancel().catch(() => undefined)
      return undefined
    }
    chunks.push(value)
  }
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

/** Headers that describe a body: dropped with the body when a redirect turns the request into a GET. */
const BODY_HEADERS = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']

interface BuildOptions {
  token: string
  url?: string
  method?: string
  dropBody?: boolean
}

/**
 * A new request from the template with the token placed. Automatic redirects are switched off so a
 * redirect can never carry the token elsewhere; {@link followRedirects} follows the allowed ones.
 * @throws {ConfigurationError} when the body cannot carry the token.
 */
async function buildRequest(core: AdapterCore, template: RequestTemplate, options: BuildOptions): Promise<Request> {
  const source = template.request
  const method = options.method ?? source.method
  // A plain record, not a Headers: the Request below converts its init headers anyway.
  const headers = new HeaderRecord(Object.fromEntries(source.headers))
  let body: BodyInit | null = null
  if (options.dropBody === true || !canHaveBody(method)) {
    for (const name of BODY_HEADERS) headers.delete(name)
  } else if (template.body instanceof ArrayBuffer) {
    body = template.body
  } else if (template.body !== null) {
    body = template.body
    template.body = null
    template.replayable = false
  }
  const { placement } = core
  if (placement.in === 'header') headers.set(placement.name, headerValue(placement, options.token))
  else if (placement.in === 'body' && canHaveBody(method) && options.dropBody !== true) {
    body = await bodyWithToken(body instanceof ArrayBuffer ? body : null, headers, placement.field, options.token)
  }
  const init: RequestInit & { duplex?: 'half' } = initOfRequest(source, body)
  init.method = method
  init.headers = headers.record
  if (init.redirect === 'follow') init.redirect = 'manual'
  if (body instanceof ReadableStream) init.duplex = 'half'
  return new Request(urlWithToken(core, options.url ?? source.url, options.token), init)
}

function isRedirectStatus(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308
}

interface RedirectHop {
  url: URL
  method: string
  dropBody: boolean
}

/** Where a redirect response leads and with what method, following the fetch standard's rules. */
function redirectHop(status: number, location: string | null, from: string, method: string): RedirectHop | undefined {
  if (!isRedirectStatus(status) || location === null) return undefined
  let url: URL
  try {
    url = new URL(location, from)
  } catch {
    return undefined
  }
  const upper = method.toUpperCase()
  if ((status === 303 && upper !== 'GET' && upper !== 'HEAD') || ((status === 301 || status === 302) && upper === 'POST')) {
    return { url, method: 'GET', dropBody: true }
  }
  return { url, method, dropBody: false }
}

function discard(response: Response): void {
  // The body is never read: release the connection without waiting (a cancel can stay pending).
  response.body?.cancel().catch(() => undefined)
}

/**
 * Follows redirects of a tokened request, but only to allowed origins (the token re-attached there);
 * a redirect anywhere else is returned as is, unfollowed, so neither the token nor a body that held it
 * ever leaves the allow-list. Caller's `redirect: 'manual'` or `'error'` are left to fetch.
 */
async function followRedirects(
  core: AdapterCore,
  state: { fetch: FetchLike; template: RequestTemplate; token: string; response: Response },
): Promise<Response> {
  const { template, token } = state
  let { response } = state
  if (template.request.redirect !== 'follow') return response
  let url = template.request.url
  let method = template.request.method
  let dropBody = false
  for (let hops = 1; ; hops++) {
    const hop = redirectHop(response.status, response.headers.get('location'), url, method)
    if (hop === undefined || !allowsUrl(core, hop.url)) return response
    dropBody ||= hop.dropBody
    if (!dropBody && !template.replayable) return response
    if (hops > MAX_REDIRECTS) {
      discard(response)
      throw new TypeError(`fetch failed: more than ${MAX_REDIRECTS} redirects.`)
    }
    discard(response)
    url = hop.url.href
    method = hop.method
    response = await state.fetch(await buildRequest(core, template, { token, url, method, dropBody }))
  }
}

/** Reads a copy of the body as JSON, bounded; never disturbs `response`. */
async function readJsonBounded(response: Response): Promise<unknown> {
  if (!isJsonContentType(response.headers.get('content-type'))) return undefined
  const length = Number(response.headers.get('content-length') ?? 0)
  if (!(length <= MAX_AUTH_BODY_BYTES) || response.body === null || response.bodyUsed) return undefined
  let bytes: Uint8Array | undefined
  try {
    bytes = await readAll(response.clone().body!.getReader(), MAX_AUTH_BODY_BYTES)
  } catch {
    return undefined
  }
  return bytes === undefined ? undefined : parseJsonBytes(bytes)
}

function parseJsonBytes(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(bytes)) as unknown
  } catch {
    return undefined
  }
}

/** The bytes of a buffer or of any view on one, without copying. */
function bytesOf(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * The default {@link IsAuthError} for a body a host client already decoded (axios' `data`), answered
 * at once: no state object, no promise, and no parse when the text cannot spell the code.
 */
function decodedRefuses(status: number, data: unknown, contentType: string | null): boolean {
  if (status === 401) return true
  if (typeof data === 'string' && !data.includes(AUTH_ERROR_CODE) && !data.includes('\\')) return false
  if ((data instanceof ArrayBuffer || ArrayBuffer.isView(data)) && !mayHoldAuthCode(bytesOf(data))) return false
  return carriesAuthCode(jsonOfDecoded(data, contentType))
}

/**
 * A response body that a host client already decoded (axios' `data`) as JSON, bounded like a fetch
 * body: objects are taken as they are, strings and bytes are parsed when the content type is JSON.
 */
function jsonOfDecoded(data: unknown, contentType: string | null): unknown {
  if (typeof data === 'string') {
    if (!isJsonContentType(contentType) || data.length > MAX_AUTH_BODY_BYTES) return undefined
    try {
      return JSON.parse(data) as unknown
    } catch {
      return undefined
    }
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    if (!isJsonContentType(contentType) || data.byteLength > MAX_AUTH_BODY_BYTES) return undefined
    return parseJsonBytes(bytesOf(data))
  }
  return isPlainObject(data) || Array.isArray(data) ? data : undefined
}

/** Memoises `read` so several predicates (or a custom one) read the body once. */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined
  return () => (result ??= read())
}

/** The {@link AuthErrorState} of a fetch `Response`. */
function authStateOfResponse(response: Response, url: string): AuthErrorState {
  return { status: response.status, headers: response.headers, url: response.url || url, json: once(() => readJsonBounded(response)) }
}

/**
 * Node's own fetch (undici): a Response's inner state is read by its own methods only, never by the
 * runtime, and a body read to its declared length needs nothing more from the stream.
 */
const NODE_UNDICI = /* @__PURE__ */ (() => {
  const scope = globalThis as { process?: { versions?: Record<string, string | undefined> }; Bun?: unknown; Deno?: unknown }
  return scope.process?.versions?.['undici'] !== undefined && scope.Bun === undefined && scope.Deno === undefined
})()

/**
 * What {@link BufferedResponse} extends. Where the runtime itself reads a Response's inner state
 * (Deno.serve and Bun.serve send that, not what the getters say), `Response`, built with the real head
 * and body. In Node, `Response.prototype` without undici's constructor (which would build an inner state
 * and a Headers that nothing reads, a few percent of a loopback request): every method and getter of
 * Response is overridden, so `instanceof Response` holds and nothing reaches undici's state.
 */
const BufferedBase: typeof Response = /* @__PURE__ */ (() => {
  if (!NODE_UNDICI) return Response
  function Unbuilt(): void {}
  Unbuilt.prototype = Response.prototype
  return Unbuilt as unknown as typeof Response
})()

/** What a {@link BufferedResponse} keeps of the response it was read from. */
interface Head {
  readonly status: number
  readonly statusText: string
  readonly headers: Headers
  readonly type: ResponseType
  readonly url: string
  readonly redirected: boolean
}

function headOf(response: Head): Head {
  const { status, statusText, headers, type, url, redirected } = response
  return { status, statusText, headers, type, url, redirected }
}

/**
 * A response whose body was already read (to look for an auth error): it serves those bytes directly,
 * and builds a stream only if the caller asks for `body`. Its head (status, headers, url, type) is the
 * original's, its Headers object included, not a copy: copying headers, and streams, are what make a
 * Response expensive to construct in Node, and most callers only call `json()` or `text()`. The
 * original itself is not kept: read only to its declared length, it still holds undici's fetch state
 * (about 17 KiB), which would stay as long as the caller keeps this response.
 */
class BufferedResponse extends BufferedBase {
  readonly #head: Head
  readonly #bytes: Uint8Array<ArrayBuffer>
  #used = false
  #stream: ReadableStream<Uint8Array<ArrayBuffer>> | undefined
  /** Whether {@link #stream} gave its bytes to a read, or was cancelled. */
  #pulled = false
  /** Whether {@link #stream} is a branch of a tee (by {@link clone}): then reads go through it. */
  #teed = false

  constructor(original: Head, bytes: Uint8Array<ArrayBuffer>) {
    const head = headOf(original)
    super(NODE_UNDICI ? undefined : bytes, NODE_UNDICI ? undefined : head)
    this.#head = head
    this.#bytes = bytes
  }

  override get status(): number {
    return this.#head.status
  }
  override get ok(): boolean {
    return this.#head.status >= 200 && this.#head.status <= 299
  }
  override get statusText(): string {
    return this.#head.statusText
  }
  override get headers(): Headers {
    return this.#head.headers
  }
  override get type(): ResponseType {
    return this.#head.type
  }
  override get url(): string {
    return this.#head.url
  }
  override get redirected(): boolean {
    return this.#head.redirected
  }
  /**
   * A byte stream that gives the bytes when first read, not before. A client may only look at `body`
   * (axios' fetch adapter does, for every response) and then read with `text()`: that takes the bytes
   * directly and locks the stream, as fetch's own `text()` leaves it.
   */
  override get body(): ReadableStream<Uint8Array<ArrayBuffer>> {
    if (this.#stream === undefined) {
      this.#stream = new ReadableStream(
        {
          type: 'bytes',
          pull: (controller) => {
            // A tee's pulls (for either branch) are no read of this response's own `body`.
            if (!this.#teed) this.#pulled = true
            controller.enqueue(this.#bytes.slice())
            controller.close()
          },
          // A cancelled body is a used one, as fetch's own is.
          cancel: () => {
            if (!this.#teed) this.#pulled = true
          },
        },
        { highWaterMark: 0 },
      ) as ReadableStream<Uint8Array<ArrayBuffer>>
      // Once a body method has read the bytes, the stream is as fetch leaves it then: locked.
      if (this.#used) this.#stream.getReader()
    }
    return this.#stream
  }
  override get bodyUsed(): boolean {
    // The inherited state is read only where the runtime reads it (Deno, Bun); in Node there is none.
    return (
      this.#used ||
      (this.#stream !== undefined && (this.#stream.locked || this.#pulled || (!NODE_UNDICI && super.bodyUsed)))
    )
  }

  /** Throws as fetch's own response does when its body was read (or its stream taken) already. */
  #refuseIfUsed(): void {
    if (this.bodyUsed) throw new TypeError('Body is unusable: Body has already been read')
  }

  #take(): Uint8Array<ArrayBuffer> {
    this.#refuseIfUsed()
    this.#used = true
    this.#stream?.getReader()
    return this.#bytes
  }

  /**
   * A Response reading the stream, when `body` is a branch of a tee: then reads go through it, as fetch's
   * own would.
   */
  #streamed(): Response | undefined {
    if (!this.#teed) return undefined
    this.#refuseIfUsed()
    return new Response(this.#stream)
  }

  override async arrayBuffer(): Promise<ArrayBuffer> {
    const streamed = this.#streamed()
    if (streamed !== undefined) return streamed.arrayBuffer()
    const bytes = this.#take()
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)
  }
  override async bytes(): Promise<Uint8Array<ArrayBuffer>> {
    return new Uint8Array(await this.arrayBuffer())
  }
  override async text(): Promise<string> {
    const streamed = this.#streamed()
    return streamed !== undefined ? streamed.text() : decoder.decode(this.#take())
  }
  override async json(): Promise<unknown> {
    return JSON.parse(await this.text()) as unknown
  }
  override async blob(): Promise<Blob> {
    // Through a Response, so the blob's type is the content type as fetch serialises it.
    return new Response(await this.arrayBuffer(), { headers: this.headers }).blob()
  }
  override async formData(): Promise<FormData> {
    return new Response(await this.arrayBuffer(), { headers: this.headers }).formData()
  }
  override clone(): Response {
    if (this.bodyUsed) throw new TypeError('Response.clone: Body has already been consumed.')
    if (this.#stream !== undefined) {
      const [mine, theirs] = this.#stream.tee()
      this.#stream = mine
      this.#teed = true
      const twin = new BufferedResponse(this.#head, this.#bytes)
      twin.#stream = theirs
      twin.#teed = true
      return twin
    }
    return new BufferedResponse(this.#head, this.#bytes)
  }
}

const AUTH_CODE_BYTES = /* @__PURE__ */ new TextEncoder().encode(AUTH_ERROR_CODE)

/**
 * Whether a JSON text could carry `"code": "A108P001"`: it contains those bytes, or a backslash (an
 * escape could spell them otherwise). A fast negative spares parsing every successful answer; the
 * searches are the engine's own (`indexOf`), not a loop over the bytes.
 */
function mayHoldAuthCode(bytes: Uint8Array): boolean {
  if (bytes.indexOf(0x5c) !== -1) return true
  const first = AUTH_CODE_BYTES[0]!
  const last = bytes.length - AUTH_CODE_BYTES.length
  for (let index = bytes.indexOf(first); index !== -1 && index <= last; index = bytes.indexOf(first, index + 1)) {
    let offset = 1
    while (offset < AUTH_CODE_BYTES.length && bytes[index + offset] === AUTH_CODE_BYTES[offset]) offset++
    if (offset === AUTH_CODE_BYTES.length) return true
  }
  return false
}

/** Statuses whose responses never have a body (a Response with one cannot be constructed). */
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304])

/**
 * The declared length of a small JSON answer (at most 64 KiB) that is read once and handed on as a
 * {@link BufferedResponse}, cheaper than a clone, whose tee makes every chunk be read twice; `-1` for
 * anything else, which is judged from a bounded read of a clone.
 */
function smallJsonLength(response: Response): number {
  const { headers } = response
  const declared = headers.get('content-length')
  const length = declared === null ? Number.NaN : Number(declared)
  return length <= MAX_AUTH_BODY_BYTES &&
    response.body !== null &&
    !response.bodyUsed &&
    !NULL_BODY_STATUSES.has(response.status) &&
    isJsonContentType(headers.get('content-type'))
    ? length
    : -1
}

/**
 * The reader of a small JSON answer of declared `length` ({@link smallJsonLength}) that is to be read
 * up to that length and not one read further; `undefined` for an answer that is read with `bytes()`.
 * From the network through Node's own fetch and without a content coding (so `length` is that of the
 * bytes): the read that would only report the end makes undici finish the fetch (its end-of-body steps
 * and a resource-timing entry), about 5 % of a loopback request, and tells the caller nothing. So such
 * a request leaves no `performance` resource-timing entry, and undici's fetch state stays with the
 * original Response until it is collected (where a fetch answers without the event loop ever turning,
 * about 20 KiB per request until it does). Anything else (a Response built in code, whose declared
 * length may not match its body; Deno, Bun) is read whole. The reader is kept, not released: the
 * stream is never handed on (the {@link BufferedResponse} serves the bytes).
 */
function declaredLengthReader(response: Response, length: number): ReadableStreamDefaultReader<Uint8Array> | undefined {
  return NODE_UNDICI && length > 0 && response.type !== 'default' && response instanceof Response && !response.headers.has('content-encoding')
    ? response.body!.getReader()
    : undefined
}

/** The whole body of a small answer that is not read to its declared length only. */
function wholeBody(response: Response): Promise<Uint8Array<ArrayBuffer>> {
  return typeof response.bytes === 'function' ? response.bytes() : response.arrayBuffer().then((buffer) => new Uint8Array(buffer))
}

/**
 * What follows the first read of a small answer: the chunk itself when it is all the declared `length`
 * on a buffer of its own (as undici's are: no copy), otherwise the rest read too ({@link readAll}).
 */
function afterFirstRead(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  length: number,
  first: ReadableStreamReadResult<Uint8Array>,
): Uint8Array<ArrayBuffer> | Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (first.done) return new Uint8Array(0)
  const { value } = first
  if (value.byteLength === length && value.byteOffset === 0 && value.buffer.byteLength === length && value.buffer instanceof ArrayBuffer) {
    return value as Uint8Array<ArrayBuffer>
  }
  return readAll(reader, Number.POSITIVE_INFINITY, length, value)
}

/**
 * A fetch for a client that builds a Request for every call and reads every answer whole itself
 * (axios' fetch adapter), for calls whose body is no stream. A Request with nothing to merge is sent as
 * URL + init with its body read once ({@link callOfRequest}, as for ky). A small JSON answer from the
 * network is read ahead, to its declared length and not one read further, and handed on as a
 * {@link BufferedResponse}: the client then reads the bytes already there, and undici skips its
 * end-of-body steps (such a request leaves no `performance` resource-timing entry). Anything else goes,
 * and comes back, as it is. It sends with the global `fetch` as it is at each call.
 */
async function fetchSendingLight(input: Request | URL | string, init?: RequestInit): Promise<Response> {
  const call = input instanceof Request && !setsRequestFields(init) && !input.bodyUsed ? await callOfRequest(input, init) : { url: input, init }
  const response = await fetch(call.url, call.init)
  // Not a small JSON answer (length -1): no reader either, the answer goes on as it is.
  const length = smallJsonLength(response)
  const reader = declaredLengthReader(response, length)
  if (reader === undefined) return response
  const read = afterFirstRead(reader, length, await reader.read())
  return new BufferedResponse(response, read instanceof Promise ? (await read)! : read)
}

/**
 * Whether a small answer read whole refuses the token: `false` at once when the default check needs no
 * parse (no escapes, no "A108P001" in the bytes), so the common case costs no microtask.
 */
function refusesBytes(core: AdapterCore, response: Response, bytes: Uint8Array<ArrayBuffer>, url: string): boolean | Promise<boolean> {
  if (core.isAuthError === defaultIsAuthError && response.status !== 401 && !mayHoldAuthCode(bytes)) return false
  return core.isAuthError({
    status: response.status,
    headers: response.headers,
    url: response.url || url,
    json: once(async () => parseJsonBytes(bytes)),
  })
}

/**
 * The default {@link IsAuthError}: HTTP 401, or a JSON body whose `code` is `"A108P001"` (AnyWeb's
 * "serviceToken wrong", which may come with any status).
 *
 * @example
 * ```ts
 * withServiceToken(fetch, manager, {
 *   isAuthError: async (state) => state.status === 403 || (await defaultIsAuthError(state)),
 * })
 * ```
 */
async function defaultIsAuthError(state: AuthErrorState): Promise<boolean> {
  if (state.status === 401) return true
  return carriesAuthCode(await state.json())
}

/** Whether a parsed body is AnyWeb's "serviceToken wrong" answer. */
function carriesAuthCode(body: unknown): boolean {
  return isPlainObject(body) && body['code'] === AUTH_ERROR_CODE
}

/** Compare-and-invalidate the refused token, then get the current one (a newer one, or a fresh fetch). */
function renewToken(core: AdapterCore, refused: string, signal: AbortSignal | undefined): Promise<string> {
  core.manager.invalidate(refused)
  return core.manager.getToken(tokenOptions(signal))
}

/** Sends the template with `token`, following allowed redirects. */
async function sendFollowing(core: AdapterCore, fetch: FetchLike, template: RequestTemplate, token: string): Promise<Response> {
  const response = await fetch(await buildRequest(core, template, { token }))
  return followRedirects(core, { fetch, template, token, response })
}

/**
 * The end of every exchange: if `response` refuses `token`, renew it (compare-and-invalidate) and send
 * once more with the new one; a replay that fails again is returned as is. What it hands on is the
 * response itself, or for a small JSON answer (read to look for the auth error) a {@link BufferedResponse}.
 */
async function replayIfRefused(
  core: AdapterCore,
  state: {
    /** The response, or the fetch that brings it. */
    response: Response | Promise<Response>
    /** Follows a redirect (allowed origins only) of the response or the replay; absent when `send` follows or the caller's redirect mode is not `follow`. */
    follow?: ((response: Response, token: string) => Promise<Response>) | undefined
    url: string
    token: string
    signal: AbortSignal | undefined
    send: (token: string) => Promise<Response>
  },
): Promise<Response> {
  let response = await state.response
  if (state.follow !== undefined && isRedirectStatus(response.status)) response = await state.follow(response, state.token)
  let refused: boolean | Promise<boolean>
  const length = smallJsonLength(response)
  if (length !== -1) {
    // The first read inline (not in a function of its own): most answers come in one chunk.
    const reader = declaredLengthReader(response, length)
    let bytes: Uint8Array<ArrayBuffer>
    if (reader === undefined) bytes = await wholeBody(response)
    else {
      const read = afterFirstRead(reader, length, await reader.read())
      bytes = read instanceof Promise ? (await read)! : read
    }
    refused = refusesBytes(core, response, bytes, state.url)
    response = new BufferedResponse(response, bytes)
  } else {
    refused = core.isAuthError(authStateOfResponse(response, state.url))
  }
  if (refused === false || !(await refused)) return response
  const fresh = await renewToken(core, state.token, state.signal)
  discard(response)
  const replay = await state.send(fresh)
  return state.follow !== undefined && isRedirectStatus(replay.status) ? await state.follow(replay, fresh) : replay
}

/**
 * Finishes an exchange whose first response arrived: follows allowed redirects, and on an auth error
 * renews the token and replays once (unless the body was a one-shot stream). A replay that fails again
 * is returned as is.
 */
async function settleExchange(
  core: AdapterCore,
  state: { fetch: FetchLike; template: RequestTemplate; token: string; response: Response },
): Promise<Response> {
  const { fetch, template, token } = state
  const followed = await followRedirects(core, state)
  if (!template.replayable) return followed
  return replayIfRefused(core, {
    response: followed,
    url: template.request.url,
    token,
    signal: template.request.signal,
    send: (fresh) => sendFollowing(core, fetch, template, fresh),
  })
}

/** A fetch call given as a URL and init, kept so it can be sent again with another token. */
interface InitCall {
  readonly url: string
  readonly init: RequestInit
}

/** Whether `body` can be sent by the fast path: no stream, no Blob, nothing read once only. */
function isPlainBody(body: unknown): body is PlainBody | undefined {
  return (
    body === undefined ||
    body === null ||
    typeof body === 'string' ||
    body instanceof ArrayBuffer ||
    body instanceof URLSearchParams ||
    body instanceof FormData
  )
}

/**
 * The init for fetch: the call's own with the token placed and automatic redirects off. Synchronous
 * except for a multipart body, which has to be parsed.
 */
function initWithToken(core: AdapterCore, call: InitCall, token: string): RequestInit | Promise<RequestInit> {
  const { placement } = core
  const given = call.init.headers
  const redirect = call.init.redirect ?? 'follow'
  const mode = redirect === 'follow' ? 'manual' : redirect
  // The common cases in one step, from a plain header object: it gains the token header (it has none in
  // any letter case), or it is left as it is and a JSON text body gains the field (no content-length to drop).
  const plain = given === undefined || isPlainObject(given)
  if (plain && placement.in === 'header' && (given === undefined || keySpelling(given, placement.name) === undefined)) {
    return { ...call.init, headers: { ...given, [placement.name]: headerValue(placement, token) }, redirect: mode }
  }
  const text = call.init.body
  if (plain && placement.in === 'body' && typeof text === 'string' && text !== '' && given !== undefined && keySpelling(given, 'content-length') === undefined) {
    const contentType = keySpelling(given, 'content-type')
    if (contentType !== undefined && isJsonContentType(String(given[contentType]))) {
      return { ...call.init, body: injectJsonText(text, placement.field, token), redirect: mode }
    }
  }
  const init: RequestInit = { ...call.init, redirect: mode }
  if (placement.in === 'query') return init
  const headers = plain ? new HeaderRecord((given ?? {}) as Record<string, unknown>) : new Headers(given)
  if (placement.in === 'header') {
    headers.set(placement.name, headerValue(placement, token))
    return withHeaders(init, headers)
  }
  const body = bodyWithToken((call.init.body as PlainBody | undefined) ?? null, headers, placement.field, token)
  if (body instanceof Promise) return body.then((ready) => withHeaders(init, headers, ready))
  return withHeaders(init, headers, body)
}

/** `init` with the edited headers (a plain object stays one) and, when given, a new body. */
function withHeaders(init: RequestInit, headers: HeaderRecord | Headers, body?: BodyInit): RequestInit {
  if (body !== undefined) init.body = body
  init.headers = headers instanceof HeaderRecord ? headers.record : headers
  return init
}

/** The call's URL with the token in the query, for a query placement. */
function urlWithToken(core: AdapterCore, url: string, token: string): string {
  if (core.placement.in !== 'query') return url
  const parsed = new URL(url)
  parsed.search = injectUrlEncoded(parsed.search.slice(1), core.placement.name, token)
  return parsed.href
}

/**
 * The whole cycle for a call given as URL + init with a plain body, without building Request objects
 * (a Request costs fetch about a quarter of its throughput). A redirect hands over to the general path.
 */
function exchangeInit(core: AdapterCore, fetch: FetchLike, call: InitCall): Promise<Response> {
  const token = tokenNow(core, call.init.signal ?? undefined)
  return typeof token === 'string' ? settleInit(core, fetch, call, token) : token.then((ready) => settleInit(core, fetch, call, ready))
}

const NO_OPTIONS = Object.freeze({})

/** `getToken` options for a caller's signal: one shared empty object when there is none. */
function tokenOptions(signal: AbortSignal | undefined): GetTokenOptions {
  return signal === undefined ? NO_OPTIONS : { signal }
}

/** The cached token without a promise when the manager has it at hand; otherwise the wait for it (or its error). */
function tokenNow(core: AdapterCore, signal: AbortSignal | undefined): string | Promise<string> {
  return (signal?.aborted === true ? undefined : readyTokenOf(core.manager)) ?? core.manager.getToken(tokenOptions(signal))
}

/** Sends a URL + init call with `token`, then follows, checks and replays it: one async step in all. */
function settleInit(core: AdapterCore, fetch: FetchLike, call: InitCall, token: string): Promise<Response> {
  return replayIfRefused(core, {
    response: sendOnce(core, fetch, call, token),
    follow: (call.init.redirect ?? 'follow') === 'follow' ? (response, current) => followInit(core, fetch, call, current, response) : undefined,
    url: call.url,
    token,
    signal: call.init.signal ?? undefined,
    send: (fresh) => sendOnce(core, fetch, call, fresh),
  })
}

/** One fetch of a URL + init call with `token` in place (no redirect followed). */
function sendOnce(core: AdapterCore, fetch: FetchLike, call: InitCall, token: string): Promise<Response> {
  const init = initWithToken(core, call, token)
  const url = urlWithToken(core, call.url, token)
  return init instanceof Promise ? init.then((ready) => fetch(url, ready)) : fetch(url, init)
}

/** Follows a redirect of a URL + init call by the general path (to allowed origins only). */
async function followInit(core: AdapterCore, fetch: FetchLike, call: InitCall, token: string, response: Response): Promise<Response> {
  const template = await captureRequest(core, new Request(call.url, call.init), false)
  return await followRedirects(core, { fetch, template, token, response })
}

/** The whole cycle for a request that gets a token: wait for it, send, follow, replay once on an auth error. */
async function exchange(core: AdapterCore, fetch: FetchLike, template: RequestTemplate): Promise<Response> {
  const token = await core.manager.getToken({ signal: template.request.signal })
  const response = await fetch(await buildRequest(core, template, { token }))
  return settleExchange(core, { fetch, template, token, response })
}

/**
 * Whether `init` sets anything a Request has (method, headers, signal…), which only `new Request(input,
 * init)` merges correctly. Other members (undici's `dispatcher`, what ky passes on) are for fetch alone.
 */
function setsRequestFields(init: RequestInit | undefined): boolean {
  for (const key in init) if (key in Request.prototype) return true
  return false
}

/** The init that sends what `request` would, with `body` (read from it, or a new one) in place of its stream. */
function initOfRequest(request: Request, body: BodyInit | null): RequestInit {
  const init: RequestInit = {
    method: request.method,
    headers: request.headers,
    body,
    redirect: request.redirect,
    signal: request.signal,
    credentials: request.credentials,
    cache: request.cache,
    integrity: request.integrity,
    keepalive: request.keepalive,
    referrerPolicy: request.referrerPolicy,
  }
  if (request.mode !== 'navigate') init.mode = request.mode
  return init
}

/**
 * A Request with nothing to merge ({@link setsRequestFields}) as URL + init, its body read once: sent so,
 * it spares undici the proxy stream it builds for a Request input, and the body can be sent again.
 */
async function callOfRequest(request: Request, init: RequestInit | undefined): Promise<InitCall> {
  const body = request.body === null ? null : await readReleasing(request.body)
  return { url: request.url, init: { ...initOfRequest(request, body), ...init } }
}

/** The URL a fetch input points to, without touching its body; `undefined` when it does not parse. */
function urlOf(input: Request | URL | string): URL | undefined {
  try {
    if (input instanceof URL) return input
    const base = (globalThis as { location?: { href?: string } }).location?.href
    return new URL(typeof input === 'string' ? input : input.url, base)
  } catch {
    return undefined
  }
}

/** Marks a fetch made by {@link createTokenFetch}, with the core it serves. */
const TOKEN_FETCH = Symbol('anyweb-service-token.fetch')

/**
 * A fetch that gives requests for the allowed origins a token and replays them once on an auth error;
 * every other request goes to `fetch` exactly as given. URL + init calls with a plain body take the
 * fast path; a Request or a stream body the general one. `oneShotBody` says the caller's body was a
 * stream even when it arrives inside a Request (as from ky), so it is not buffered for a replay.
 */
function createTokenFetch(core: AdapterCore, fetch: FetchLike, options: { oneShotBody?: boolean } = {}): typeof globalThis.fetch {
  // Not an async function: the fast path hands back exchangeInit's promise itself, with no extra
  // microtasks; anything thrown before it becomes a rejection, as from fetch.
  const tokenFetch = function fetchWithServiceToken(input: Request | URL | string, init?: RequestInit): Promise<Response> {
    try {
      // An allowed URL text spelled `origin/path` is taken as written; any other input is resolved first
      // (a relative one against `location`, where there is one).
      const literal = typeof input === 'string' ? allowsLiteral(core, input) : undefined
      const url = typeof input === 'string' && literal !== undefined ? input : urlOf(input)
      const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
      if (url === undefined || !fitsPlacement(core, method) || !(literal ?? allowsUrl(core, url))) {
        return init === undefined ? fetch(input) : fetch(input, init)
      }
      if (!(input instanceof Request) && isPlainBody(init?.body)) {
        return exchangeInit(core, fetch, { url: typeof url === 'string' ? url : url.href, init: init ?? {} })
      }
      return exchangeRequest(core, fetch, input, init, options.oneShotBody === true)
    } catch (error) {
      return Promise.reject(error)
    }
  }
  return Object.assign(tokenFetch, { [TOKEN_FETCH]: core })
}

/**
 * A Request, or a body the fast path cannot take (a stream, a Blob). A Request with nothing to merge (ky
 * passes its own options that fetch alone knows) has its body read once for replays and is sent as URL +
 * init like the fast path, not rebuilt; anything else is captured as a template for the general path.
 * `oneShotBody` says the caller's body was a stream even inside a Request (as from ky): not buffered.
 */
async function exchangeRequest(core: AdapterCore, fetch: FetchLike, input: Request | URL | string, init: RequestInit | undefined, oneShotBody: boolean): Promise<Response> {
  if (input instanceof Request && !setsRequestFields(init) && !(oneShotBody && core.placement.in !== 'body' && input.body !== null)) {
    return await exchangeInit(core, fetch, await callOfRequest(input, init))
  }
  const template = await captureRequest(core, new Request(input, init), oneShotBody || isOneShotBody(init?.body ?? undefined))
  return await exchange(core, fetch, template)
}

/** Whether `fetch` already is a token fetch for `core` (ky merges hook arrays, so an init hook may run twice). */
function isTokenFetchOf(fetch: unknown, core: AdapterCore): boolean {
  return typeof fetch === 'function' && (fetch as { [TOKEN_FETCH]?: AdapterCore })[TOKEN_FETCH] === core
}

export {
  appliesTo,
  bodyError,
  buildRequest,
  captureRequest,
  createAdapterCore,
  createTokenFetch,
  decodedRefuses,
  defaultIsAuthError,
  fetchSendingLight,
  formWithToken,
  headerValue,
  injectJsonText,
  injectUrlEncoded,
  isJsonContentType,
  isOneShotBody,
  isTokenFetchOf,
  jsonOfDecoded,
  MAX_AUTH_BODY_BYTES,
  mayHoldAuthCode,
  NODE_UNDICI,
  once,
  redirectHop,
  renewToken,
  settleExchange,
  tokenNow,
}
export type { AdapterCore, AuthErrorState, IsAuthError, RedirectHop, RequestTemplate, ServiceTokenAdapterOptions, TokenPlacement }
