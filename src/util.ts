/**
 * What a wrong value was, for an error message. Numbers and booleans are shown; strings never are,
 * because a string in the wrong place may be a secret or a token.
 */
function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return typeof value === 'string' ? 'a string' : typeof value
}

/**
 * The first key of `given` that is not in `known`, with the known name it is closest to (a letter case,
 * a prefix or a suffix away: `ttl` → `tokenTtl`), for a "did you mean"; `undefined` when all are known.
 */
function unknownKey(given: object, known: readonly string[]): { key: string; hint: string | undefined } | undefined {
  const key = Object.keys(given).find((name) => !known.includes(name))
  if (key === undefined) return undefined
  const lower = key.toLowerCase()
  const hint = known.find((name) => {
    const candidate = name.toLowerCase()
    return candidate === lower || candidate.startsWith(lower) || candidate.endsWith(lower) || lower.startsWith(candidate)
  })
  return { key, hint }
}

/** "Unknown … option `x` (did you mean `y`?); known options: …" */
function unknownKeyMessage(what: string, found: { key: string; hint: string | undefined }, known: readonly string[]): string {
  return `Unknown ${what} \`${found.key}\`${found.hint === undefined ? '' : ` (did you mean \`${found.hint}\`?)`}; known: ${known.join(', ')}.`
}

/** A non-null, non-array object. */
function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** A plain object (`{}` or `Object.create(null)`): what JSON objects and option bags are. */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value)) return false
  const prototype: unknown = Object.getPrototypeOf(value)
  return prototype === Object.prototype || prototype === null
}

/**
 * Resolves after `ms` unless `signal` aborts first; never rejects, so whoever waits checks why it woke up.
 */
function pause(ms: number, signal: Pick<AbortSignal, 'aborted' | 'addEventListener' | 'removeEventListener'>): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve()
    const onAbort = (): void => {
      clearTimeout(timer)
      resolve()
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** The longest delay `setTimeout` can wait (2³¹−1 ms, about 24.8 days); a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1

/** The longest token accepted, in characters: JWTs are a few hundred; a longer value is not a token. */
const MAX_TOKEN_LENGTH = 8192

/**
 * Why `token` cannot be sent as a token, or `undefined` when it can: a token travels in headers, query
 * strings and JSON bodies, where only visible ASCII survives unchanged (a CR/LF would split a header).
 * The reason never quotes the value.
 */
function tokenFault(token: unknown): string | undefined {
  if (typeof token !== 'string') return `expected a string, got ${describe(token)}`
  if (token === '') return 'it is empty'
  if (token.length > MAX_TOKEN_LENGTH) return `it has ${token.length} characters, more than ${MAX_TOKEN_LENGTH}`
  const bad = token.search(/[^\x21-\x7e]/)
  if (bad !== -1) return `character ${bad + 1} of ${token.length} is not visible ASCII (a space, line break or other character)`
  return undefined
}

/** The ways a server may quote a value it echoes: raw, JSON-escaped (also `\/` and `\uXXXX`), URL- or form-encoded. */
function quotings(value: string): string[] {
  const json = JSON.stringify(value).slice(1, -1)
  const asciiJson = json.replace(/[^\x20-\x7e]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`)
  const url = encodeURIComponent(value)
  const form = new URLSearchParams({ v: value }).toString().slice(2)
  return [value, json, json.replaceAll('/', '\\/'), asciiJson, asciiJson.replaceAll('/', '\\/'), url, form, encodeURI(value)]
}

/**
 * A function that replaces every occurrence of `secret` in a text, however it was quoted, with
 * `[redacted]`. Matching ignores case: hex escapes come in either case, and hiding a little more than
 * the secret is harmless.
 */
function redactor(secret: string): (text: string) => string {
  const variants = [...new Set(quotings(secret))].filter((variant) => variant !== '').sort((a, b) => b.length - a.length)
  if (variants.length === 0) return (text) => text
  const pattern = new RegExp(variants.map((variant) => variant.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'), 'gi')
  return (text) => text.replace(pattern, '[redacted]')
}

export { describe, isPlainObject, isRecord, MAX_TIMER_MS, MAX_TOKEN_LENGTH, pause, redactor, tokenFault, unknownKey, unknownKeyMessage }
