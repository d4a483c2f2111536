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
  /** The whole decoded body, when it ended within the limits; `undefined` when it was not read whole. */
  readonly bytes: Uint8Array | undefined
}

/** At most 64 KiB of an answer are read: an auth error is a few dozen bytes. */
const MAX_ANSWER_BYTES = 64 * 1024

const JSON_TYPE = /^[\w.+-]+\/(?:[\w.+-]+\+)?json$/

/** `application/json`, `text/json` and any `+json` suffix. */
function isJsonContentType(contentType: string | null | undefined): boolean {
  return contentType != null && JSON_TYPE.test(contentType.split(';', 1)[0]!.trim().toLowerCase())
}

/** Whether an answer is worth a look: JSON, with a body that a new Response can carry, not longer than `limit` as declared. */
function inspectable(response: Response, limit: number): boolean {
  const { status, headers } = response
  if (response.body === null || response.bodyUsed || status < 200 || status > 599 || !isJsonContentType(headers.get('content-type'))) {
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
 * gives the caller a real Response in its place: with the bytes when it ended, otherwise with what was
 * read followed by the rest, still streaming. Anything else is handed on untouched.
 * @throws `signal.reason` when the caller aborts while the answer is being read.
 */
async function inspectAnswer(response: Response, limits: AnswerLimits, signal: AbortSignal | undefined): Promise<Inspected> {
  if (!inspectable(response, limits.bytes)) return { response, bytes: undefined }
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
      if (typeof result === 'symbol') return { response: rebuilt(response, resumed(chunks, pending, reader)), bytes: undefined }
      if (result.done) {
        const bytes = joined(chunks, size)
        return { response: rebuilt(response, bytes as Uint8Array<ArrayBuffer>), bytes }
      }
      chunks.push(result.value)
      size += result.value.byteLength
      if (size > limits.bytes) return { response: rebuilt(response, resumed(chunks, undefined, reader)), bytes: undefined }
    }
  } catch {
    // A body that failed part-way: the caller meets the failure where fetch's own body would show it.
    if (signal?.aborted !== true) return { response: rebuilt(response, resumed(chunks, pending, reader)), bytes: undefined }
  } finally {
    clearTimeout(timer)
    signal?.removeEventListener('abort', onAbort)
  }
  reader.cancel(signal!.reason).catch(() => undefined)
  throw signal!.reason
}

function joined(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!
  const bytes = new Uint8Array(size)
  let offset = 0
  for (const chunk of chunks) {
    bytes.set(chunk, offset)
    offset += chunk.byteLength
  }
  return bytes
}

/** A stream of what was read, then (a read already under way first) the rest of `reader`. */
function resumed(
  chunks: Uint8Array[],
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  let next = 0
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (next < chunks.length) return controller.enqueue(chunks[next++]!)
        const read = pending ?? reader.read()
        pending = undefined
        const { done, value } = await read
        if (done) controller.close()
        else controller.enqueue(value)
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  )
}

/**
 * A real Response with the head of `original` and `body`. What a constructed Response cannot take from
 * its init (`url`, `redirected`, `type`) is set on it as fetch's own answer showed it.
 */
function rebuilt(original: Response, body: BodyInit | null, redirected = original.redirected): Response {
  const response = new Response(body, { status: original.status, statusText: original.statusText, headers: original.headers })
  // Not the original itself: a held answer must not keep it (and its connection's state) alive.
  return withHead(response, { url: original.url, type: original.type, redirected })
}

function withHead(response: Response, head: Pick<Response, 'url' | 'type' | 'redirected'>): Response {
  return Object.defineProperties(response, {
    url: { value: head.url },
    redirected: { value: head.redirected },
    type: { value: head.type },
    clone: { value: () => withHead(Response.prototype.clone.call(response), head) },
  })
}

/** Lets go of an answer that is not handed on: its connection is freed without waiting. */
function discard(response: Response): void {
  response.body?.cancel().catch(() => undefined)
}

export { discard, inspectAnswer, isJsonContentType, MAX_ANSWER_BYTES, rebuilt }
export type { AnswerLimits, Inspected }
