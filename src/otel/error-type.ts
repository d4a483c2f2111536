/** The `error.type` of an error, as OTel's semantic conventions want it: a short, low-cardinality code. */

/**
 * The server codes used as they are: the documented shapes only, AnyWeb's (`A108P004`) and the integer
 * errcodes of WeChat, WeCom and Feishu (`40013`, `-1`, `10014`). Anything else a server answers (a
 * gateway's request id, a word) could make one series per failure: the library's code stands for it.
 */
const SERVER_CODE = /^(?:A\d{3}P\d{3}|-?\d{1,9})$/

/** What the error's own code must look like: short, no spaces, nothing a message could carry. */
const CODE = /^[A-Za-z0-9_.-]{1,40}$/

function match(value: unknown, shape: RegExp): string | undefined {
  return typeof value === 'string' && shape.test(value) ? value : undefined
}

/**
 * The server's code (`serverCode`) when it has a documented shape, else the error's `code` (the
 * library's `ERR_…`, or a client's such as `ECONNREFUSED`), else `_OTHER`.
 */
function errorType(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '_OTHER'
  const { serverCode, code } = error as { serverCode?: unknown; code?: unknown }
  return match(serverCode, SERVER_CODE) ?? match(code, CODE) ?? '_OTHER'
}

export { errorType }
