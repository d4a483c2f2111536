/**
 * Is this answer a refusal of the token? The default rule (HTTP 401, or AnyWeb's `code: "A108P001"` in a
 * JSON body, whatever the status) and what a custom rule is given.
 * @packageDocumentation
 */
import { isPlainObject } from '../util.js'
import { isJsonContentType, MAX_ANSWER_BYTES } from './answer.js'

/** What {@link ServiceTokenAdapterOptions.isAuthError} receives: the response, host-independent. */
interface AuthErrorState {
  /** The HTTP status. */
  status: number
  /** The response headers. */
  headers: Headers
  /** The URL the request went to. */
  url: string
  /**
   * The body parsed as JSON, from what was read for the check (the caller's response stays readable);
   * `undefined` when the content type is not JSON, the body is longer than 64 KiB (decoded), did not end
   * within `answerTimeout`, or does not parse.
   */
  json(): Promise<unknown>
}

/** Tells whether a response means "this token is not accepted": the request is then replayed once. */
type IsAuthError = (state: AuthErrorState) => boolean | Promise<boolean>

/** AnyWeb's "serviceToken wrong", for expired and invalid tokens alike. */
const AUTH_ERROR_CODE = 'A108P001'

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
  return state.status === 401 || carriesAuthCode(await state.json())
}

/** Whether a parsed body is AnyWeb's "serviceToken wrong" answer. */
function carriesAuthCode(body: unknown): boolean {
  return isPlainObject(body) && body['code'] === AUTH_ERROR_CODE
}

/**
 * Whether a JSON text could carry `"code": "A108P001"`: it holds those characters, or a `\u` escape
 * (the only JSON escape that can spell a letter or a digit). A fast negative spares parsing every
 * successful answer.
 */
function mayHoldAuthCode(text: string): boolean {
  return text.includes(AUTH_ERROR_CODE) || text.includes('\\u')
}

const decoder = new TextDecoder()

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

/** Memoises `read` so several predicates (or a custom one) read the body once. */
function once<T>(read: () => Promise<T>): () => Promise<T> {
  let result: Promise<T> | undefined
  return () => (result ??= read())
}

/**
 * Whether a fetch answer refuses the token, judged from `text` (its whole body, when it was read within
 * the limits): `false` at once when the default rule needs no parse, so the common case costs no promise.
 */
function answerRefuses(isAuthError: IsAuthError, response: Response, text: string | undefined, url: string): boolean | Promise<boolean> {
  if (isAuthError === defaultIsAuthError && response.status !== 401 && (text === undefined || !mayHoldAuthCode(text))) return false
  return isAuthError({
    status: response.status,
    headers: response.headers,
    url: response.url || url,
    json: once(async () => (text === undefined ? undefined : parseJson(text))),
  })
}

/** The bytes of a buffer or of any view on one, without copying. */
function bytesOf(data: ArrayBuffer | ArrayBufferView): Uint8Array {
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
}

/**
 * A response body that a host client already decoded (axios' `data`) as JSON, bounded like a fetch
 * body: objects are taken as they are, strings and bytes are parsed when the content type is JSON.
 */
function jsonOfDecoded(data: unknown, contentType: string | null): unknown {
  if (typeof data === 'string') {
    return !isJsonContentType(contentType) || data.length > MAX_ANSWER_BYTES ? undefined : parseJson(data)
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return !isJsonContentType(contentType) || data.byteLength > MAX_ANSWER_BYTES ? undefined : parseJson(decoder.decode(bytesOf(data)))
  }
  return isPlainObject(data) || Array.isArray(data) ? data : undefined
}

/**
 * The default {@link IsAuthError} for a body a host client already decoded (axios' `data`), answered
 * at once: no state object, no promise, and no parse when the text cannot spell the code.
 */
function decodedRefuses(status: number, data: unknown, contentType: string | null): boolean {
  if (status === 401) return true
  if (typeof data === 'string' && !mayHoldAuthCode(data)) return false
  if ((data instanceof ArrayBuffer || ArrayBuffer.isView(data)) && !mayHoldAuthCode(decoder.decode(bytesOf(data)))) return false
  return carriesAuthCode(jsonOfDecoded(data, contentType))
}

export { answerRefuses, decodedRefuses, defaultIsAuthError, jsonOfDecoded, mayHoldAuthCode, once }
export type { AuthErrorState, IsAuthError }
