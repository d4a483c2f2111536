/**
 * A request kept so it can be sent again: one form (URL + init with a replayable body) for every input
 * fetch accepts, which is also how every host client's request is sent.
 * @packageDocumentation
 */

/** A body the token can be placed in and that can be sent any number of times. */
type PlainBody = string | ArrayBuffer | URLSearchParams | FormData | null

/** A request as URL + init, kept so it can be sent again with another token. */
interface Call {
  /** The absolute URL. */
  readonly url: string
  /** The caller's init, its body a {@link PlainBody} unless it is a one-shot stream. */
  readonly init: RequestInit
  /** False when the body is a one-shot stream: sent once, never replayed, never redirected with its body. */
  readonly replayable: boolean
  /**
   * Whether the caller's redirect mode is `follow`: then the init says `manual` (the exchange follows the
   * allowed redirects itself, so a redirect can never carry the token elsewhere).
   */
  readonly follows: boolean
}

/** Whether a body is a stream that can be read once only (so never replayed). */
function isOneShotBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false
  if (typeof ReadableStream !== 'undefined' && body instanceof ReadableStream) return true
  return Symbol.asyncIterator in body
}

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
 * Whether `init` sets anything a Request has (method, headers, signal…), which only `new Request(input,
 * init)` merges correctly. Other members (undici's `dispatcher`, what ky passes on) are for fetch alone.
 */
function setsRequestFields(init: RequestInit | undefined): boolean {
  for (const key in init) if (key in Request.prototype) return true
  return false
}

/** The init that sends what `request` would, with `body` in place of its stream. */
function initOfRequest(request: Request, body: BodyInit | null): RequestInit & { duplex?: 'half' } {
  const init: RequestInit & { duplex?: 'half' } = {
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
  if (body instanceof ReadableStream) init.duplex = 'half'
  return init
}

/**
 * Reads a request body whole and lets go of the stream: a caller that cancels the body once the exchange
 * is over (ky does, after every request) would otherwise meet a locked stream.
 */
async function readReleasing(body: ReadableStream<Uint8Array>): Promise<ArrayBuffer> {
  const reader = body.getReader()
  try {
    const chunks: Uint8Array[] = []
    let size = 0
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      chunks.push(read.value)
      size += read.value.byteLength
    }
    const bytes = new Uint8Array(size)
    let offset = 0
    for (const chunk of chunks) {
      bytes.set(chunk, offset)
      offset += chunk.byteLength
    }
    return bytes.buffer
  } finally {
    reader.releaseLock()
  }
}

/**
 * The call for a fetch input whose URL is `url`. A URL + init with a plain body is kept as it is; a
 * Request, or any other body, is read once into bytes, except when `keepStream` (a one-shot stream that
 * the token does not go into): that is sent as it is, once.
 */
async function callOf(url: string, input: Request | URL | string, init: RequestInit | undefined, keepStream: boolean): Promise<Call> {
  if (!(input instanceof Request)) {
    const body = init?.body
    if (isPlainBody(body)) return kept(url, { ...init }, true)
    if (ArrayBuffer.isView(body)) return kept(url, { ...init, body: body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer }, true)
  }
  // ky passes fetch-only options (none a Request has) alongside its Request: kept, not merged.
  const merge = input instanceof Request && !setsRequestFields(init)
  const request = merge ? input : new Request(input, init)
  const extra = merge ? init : undefined
  const body = request.body === null ? null : keepStream ? request.body : await readReleasing(request.body)
  return kept(url, { ...initOfRequest(request, body), ...extra }, !(body instanceof ReadableStream))
}

/** The call of `init` (a copy of the caller's, for this call alone), its automatic redirects turned off. */
function kept(url: string, init: RequestInit, replayable: boolean): Call {
  const follows = (init.redirect ?? 'follow') === 'follow'
  if (follows) init.redirect = 'manual'
  return { url, init, replayable, follows }
}

export { callOf, isOneShotBody }
export type { Call, PlainBody }
