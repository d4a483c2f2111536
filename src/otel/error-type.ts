/** The `error.type` of an error, as OTel's semantic conventions want it: a short, low-cardinality code. */

/** What a code must look like to be used as it is: short, no spaces, nothing a message could carry. */
const CODE = /^[A-Za-z0-9_.-]{1,40}$/

function codeOf(value: unknown): string | undefined {
  return typeof value === 'string' && CODE.test(value) ? value : undefined
}

/**
 * AnyWeb's own code (`serverCode`, e.g. `A108P004`) when the provider answered one, else the error's
 * `code` (the library's `ERR_…`, or a client's such as `ECONNREFUSED`), else `_OTHER`.
 */
function errorType(error: unknown): string {
  if (typeof error !== 'object' || error === null) return '_OTHER'
  const { serverCode, code } = error as { serverCode?: unknown; code?: unknown }
  return codeOf(serverCode) ?? codeOf(code) ?? '_OTHER'
}

export { errorType }
