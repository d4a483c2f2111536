/**
 * Bounded inspection of an answer: how much of a JSON answer is read to look for an auth error, for how
 * long, and the real Response the caller gets back afterwards.
 * @packageDocumentation
 */

/** The limits of a look at an answer. */
interface AnswerLimits {
  /** At most this many decoded bytes are read; a longer answer is handed on unjudged. */
  readonly bytes: number
  /** Milliseconds after the headers within which the body must have ended; a slower one is handed on unjudged. */
  readonly time: number
}

/** What a look at an answer gives. */
interface Inspected {
  /** What the caller gets: the answer itself when nothing was read, else a new Response with its head. */
  readonly response: Response
  /** The whole body as text, when it ended within the limits; `undefined` when it was not read whole. */
  readonly text: string | undefined
}

/** At most 64 KiB of an answer are read: an auth error is a few dozen bytes. */
const MAX_ANSWER_BYTES = 64 * 1024

const JSON_TYPE = /^[\w.+-]+\/(?:[\w.+-]+\+)?json$/

/** The MIME type essence (`type/subtype`, lower case) of a content-type header, or `''`. */
function mimeType(contentType: string | null | undefined): string {
  if (contentType == null) return ''
  const end = contentType.indexOf(';')
  return (end === -1 ? contentType : contentType.slice(0, end)).trim().toLowerCase()
}

/** `application/json`, `text/json` and any `+json` suffix. */
function isJsonContentType(contentType: string | null | undefined): boolean {
  const essence = mimeType(contentType)
  return essence === 'application/json' || JSON_TYPE.test(essence)
}

/** JSON, or plain text that may be JSON (some APIs, WeChat's media endpoints among them, label their JSON errors so). */
function mayBeJson(contentType: string | null | undefined): boolean {
  return isJsonContentType(contentType) || mimeType(contentType) === 'text/plain'
}

/** Whether an answer is worth a look: JSON (or plain text), with a body that a new Response can carry, not longer than `limit` as declared. */
function inspectable(response: Response, limit: number): boolean {
  const { status, headers } = response
  if (response.body === null || response.bodyUsed || status < 200 || status > 599 || !mayBeJson(headers.get('content-type'))) {
    return false
  }
  // A declared length counts the bytes on the wire: for a compressed answer only the decoded bytes read can tell.
  const declared = headers.get('content-length')
  return declared === null || headers.has('content-encoding') || Number(declared) <= limit
}

const TIMED_OUT = Symbol('timed out')
const ABORTED = Symbol('aborted')

/**
 * Reads a JSON answer to its end if it ends within `limits` (decoded bytes, time after the headers), and
 * gives the caller a real Response in its place: with what was read, then (when the answer did not end
 * within the limits) the rest, still streaming. Anything else is handed on untouched.
 * @throws `signal.reason` when the caller aborts while the answer is being read.
 */
async function inspectAnswer(response: Response, limits: AnswerLimits, signal: AbortSignal | undefined): Promise<Inspected> {
  if (!inspectable(response, limits.bytes)) return { response, text: undefined }
  signal?.throwIfAborted()
  const reader = response.body!.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  let interrupt!: (why: symbol) => void
  const interrupted = new Promise<symbol>((resolve) => (interrupt = resolve))
  const timer = setTimeout(interrupt, limits.time, TIMED_OUT)
  const onAbort = (): void => interrupt(ABORTED)
  signal?.addEventListener('abort', onAbort)
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined
  try {
    for (;;) {
      pending = reader.read()
      const result = await Promise.race([pending, interrupted])
      if (result === ABORTED) break
      if (typeof result === 'symbol') return { response: rebuilt(response, bodyOf(chunks, reader, pending)), text: undefined }
      if (result.done) {
        // The text first: handing the chunks to the new body transfers them.
        const text = textOf(chunks, size)
        return { response: rebuilt(response, bodyOf(chunks)), text }
      }
      chunks.push(result.value)
      size += result.value.byteLength
      if (size > limits.bytes) return { response: rebuilt(response, bodyOf(chunks, reader)), text: undefined }
    }
  } catch {
    // A body that failed part-way: the caller meets the failure where fetch's own body would show it.
    if (signal?.aborted !== true) return { response: rebuilt(response, bodyOf(chunks, reader, pending)), text: undefined }
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
  reader.cancel(signal!.reason).catch(() => undefined)
  throw signal!.reason
}

const decoder = new TextDecoder()

/** The text of a whole body read in `chunks`. */
function textOf(chunks: Uint8Array[], size: number): string {
  if (chunks.length === 1) return decoder.decode(chunks[0])
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return decoder.decode(bytes)
}

/**
 * The body handed on, a byte stream as fetch's own: the chunks already read, then, when `reader` is
 * given, the rest of it (a read already under way first). A stream of the chunks costs a fraction of a
 * Response made from bytes (which copies and re-reads them); a chunk that owns its whole buffer is handed
 * over, not copied.
 */
function bodyOf(
  chunks: Uint8Array[],
  reader?: ReadableStreamDefaultReader<Uint8Array>,
  pending?: Promise<ReadableStreamReadResult<Uint8Array>>,
): ReadableStream<Uint8Array> {
  let next = reader === undefined ? chunks.length : 0
  return new ReadableStream(
    {
      type: 'bytes',
      start(controller) {
        if (reader !== undefined) return
        for (const chunk of chunks) controller.enqueue(owned(chunk))
        controller.close()
      },
      async pull(controller) {
        if (next < chunks.length) return controller.enqueue(owned(chunks[next++]!))
        const read = pending ?? reader!.read()
        pending = undefined
        const { done, value } = await read
        if (done) controller.close()
        else controller.enqueue(owned(value))
      },
      cancel: (reason) => reader?.cancel(reason),
    },
    { highWaterMark: 0 },
  ) as ReadableStream<Uint8Array>
}

/** `chunk` when it is the whole of its buffer (so it can be handed over), else a copy. */
function owned(chunk: Uint8Array): Uint8Array<ArrayBuffer> {
  return chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer
    ? (chunk as Uint8Array<ArrayBuffer>)
    : chunk.slice()
}

/** What a Response made in code cannot take from its init, kept as fetch's own answer showed it. */
interface Head {
  readonly url: string
  readonly type: ResponseType
  readonly redirected: boolean
}

/**
 * A real Response (made by Response's own constructor, so every method of `Response.prototype` works on
 * it) that shows the `url`, `type` and `redirected` of the answer it stands for.
 */
class InspectedResponse extends Response {
  readonly #head: Head

  constructor(body: ReadableStream<Uint8Array> | null, init: ResponseInit, head: Head) {
    super(body, init)
    this.#head = head
  }
  override get url(): string {
    return this.#head.url
  }
  override get type(): ResponseType {
    return this.#head.type
  }
  override get redirected(): boolean {
    return this.#head.redirected
  }
  override clone(): Response {
    const twin = super.clone()
    return new InspectedResponse(twin.body, twin, this.#head)
  }
}

/** A real Response with the head of `original` and `body`. */
function rebuilt(original: Response, body: ReadableStream<Uint8Array> | null, redirected = original.redirected): Response {
  // Not the original itself: a held answer must not keep it (and its connection's state) alive.
  const head = { url: original.url, type: original.type, redirected }
  return new InspectedResponse(body, { status: original.status, statusText: original.statusText, headers: original.headers }, head)
}

/**
 * The text of `copy` (a clone, so the caller's answer is untouched) if it ends within `limits`; past
 * them the copy is cancelled and `undefined` is the answer, so the caller's own reading and cancelling
 * never wait for it.
 */
async function copyText(copy: Response, limits: AnswerLimits): Promise<string | undefined> {
  if (copy.body === null) return undefined
  const reader = copy.body.getReader()
  let late = false
  const timer = setTimeout(() => {
    late = true
    reader.cancel().catch(() => undefined)
  }, limits.time)
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (let read = await reader.read(); !read.done; read = await reader.read()) {
      size += read.value.byteLength
      if (size > limits.bytes) {
        reader.cancel().catch(() => undefined)
        return undefined
      }
      chunks.push(read.value)
    }
  } catch {
    return undefined
  } finally {
    clearTimeout(timer)
  }
  return late ? undefined : textOf(chunks, size)
}

/** Lets go of an answer that is not handed on: its connection is freed without waiting. */
function discard(response: Response): void {
  response.body?.cancel().catch(() => undefined)
}

export { copyText, discard, inspectAnswer, isJsonContentType, mayBeJson, MAX_ANSWER_BYTES, mimeType, rebuilt }
export type { AnswerLimits, Inspected }
