/**
 * The token into a request: a header, a query parameter or a body field, losslessly. Only what holds the
 * token changes; every other byte of the caller's JSON, form or query is kept as written.
 * @packageDocumentation
 */
import { ConfigurationError } from '../errors.js'
import type { TokenPlacement } from '../types.js'
import { describe, isPlainObject } from '../util.js'
import { isJsonContentType, mimeType } from './answer.js'
import type { Call, PlainBody } from './call.js'

function bodyError(detail: string): ConfigurationError {
  return new ConfigurationError(
    'placement',
    `Cannot put the token into this request body: ${detail} Send a JSON object, urlencoded or multipart body, or use placement \`{ in: 'header' }\` or \`{ in: 'query' }\`.`,
  )
}

/** The header value for a header placement. */
function headerValue(placement: { scheme?: string }, token: string): string {
  return placement.scheme === undefined ? token : `${placement.scheme} ${token}`
}

/** The value of header `name` (lower case) in any form of headers a caller may give. */
function headerOf(headers: HeadersInit | undefined, name: string): string | null {
  if (headers === undefined) return null
  if (headers instanceof Headers) return headers.get(name)
  const entries = Array.isArray(headers) ? headers : Object.entries(headers)
  for (const [key, value] of entries) if (key.toLowerCase() === name) return String(value)
  return null
}

/**
 * `headers` with each named header (lower case) set, or removed when its value is `undefined`. A plain
 * object stays a plain object (fetch converts it once; a Headers would cost a second conversion).
 */
function editHeaders(headers: HeadersInit | undefined, edits: Record<string, string | undefined>): HeadersInit {
  if (headers === undefined || isPlainObject(headers)) {
    const edited: Record<string, string> = {}
    for (const key in headers) if (!Object.hasOwn(edits, key.toLowerCase())) edited[key] = headers[key] as string
    for (const name in edits) if (edits[name] !== undefined) edited[name] = edits[name]
    return edited
  }
  const edited = new Headers(headers)
  for (const name in edits) {
    const value = edits[name]
    if (value === undefined) edited.delete(name)
    else edited.set(name, value)
  }
  return edited
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

/** The index just past the JSON string that opens at `start` (a `"`). */
function stringEnd(text: string, start: number): number {
  let index = start + 1
  for (;;) {
    const code = text.charCodeAt(index)
    if (code === 0x22) return index + 1
    index += code === 0x5c ? 2 : 1
  }
}

/** The index just past the JSON value that starts at `start`, in a text known to be valid JSON. */
function valueEnd(text: string, start: number): number {
  const first = text.charCodeAt(start)
  if (first === 0x22) return stringEnd(text, start)
  if (first !== 0x7b && first !== 0x5b) {
    let index = start
    while (index < text.length && !/[\s,}\]]/.test(text[index]!)) index++
    return index
  }
  let depth = 0
  let index = start
  for (;;) {
    const code = text.charCodeAt(index)
    if (code === 0x22) {
      index = stringEnd(text, index)
      continue
    }
    if (code === 0x7b || code === 0x5b) depth++
    else if (code === 0x7d || code === 0x5d) depth--
    index++
    if (depth === 0) return index
  }
}

/**
 * `text` (a valid JSON object text) with the value of every top-level member named `field` replaced by
 * `value`, each other byte kept.
 */
function withMemberValue(text: string, field: string, value: string): string {
  let out = ''
  let copied = 0
  let index = skipJsonSpace(text, skipJsonSpace(text, 0, 1) + 1, 1)
  while (text.charCodeAt(index) === 0x22) {
    const keyEnd = stringEnd(text, index)
    const key = JSON.parse(text.slice(index, keyEnd)) as string
    const start = skipJsonSpace(text, skipJsonSpace(text, keyEnd, 1) + 1, 1)
    const end = valueEnd(text, start)
    if (key === field) {
      out += text.slice(copied, start) + value
      copied = end
    }
    // Past the comma, or onto the closing brace.
    index = skipJsonSpace(text, end, 1)
    if (text.charCodeAt(index) === 0x2c) index = skipJsonSpace(text, index + 1, 1)
  }
  return out + text.slice(copied)
}

/**
 * `text`, a JSON object, with `field` set to `token`: appended when new, its value replaced when present,
 * every other byte of the caller's JSON (formatting, big numbers, `1.50`) kept. A text that cannot hold
 * the field yet (its quoted name is absent and there is no escape that could spell it) is not parsed: a
 * malformed one goes out as written plus the token, and the API answers it.
 * @throws {ConfigurationError} when the text is not a JSON object.
 */
function injectJsonText(text: string, field: string, token: string): string {
  const name = JSON.stringify(field)
  const open = skipJsonSpace(text, 0, 1)
  const close = skipJsonSpace(text, text.length - 1, -1)
  const braced = open < close && text.charCodeAt(open) === 0x7b && text.charCodeAt(close) === 0x7d
  if (!braced || text.includes('\\') || text.includes(name)) {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      throw bodyError('the body is not valid JSON.')
    }
    if (!isPlainObject(parsed)) throw bodyError(`the JSON body is ${describe(parsed)}, not an object.`)
    if (Object.hasOwn(parsed, field)) return withMemberValue(text, field, JSON.stringify(token))
  }
  const separator = skipJsonSpace(text, open + 1, 1) === close ? '' : ','
  return `${text.slice(0, close)}${separator}${name}:${JSON.stringify(token)}${text.slice(close)}`
}

/** The name of an urlencoded pair, decoded as URLSearchParams decodes it. */
function pairName(pair: string): string {
  const equals = pair.indexOf('=')
  return new URLSearchParams(`${equals === -1 ? pair : pair.slice(0, equals)}=`).keys().next().value ?? ''
}

/**
 * `text` (an urlencoded form or a query without `?`) with `name=token`: appended when new; when present,
 * the first such pair replaced and any other dropped. Every other pair is kept exactly as written.
 */
function injectUrlEncoded(text: string, name: string, token: string): string {
  const pair = new URLSearchParams([[name, token]]).toString()
  const encodedName = pair.slice(0, pair.indexOf('='))
  // A pair can spell the name only with its encoded form, an escape or a `+`.
  if (text.includes(encodedName) || text.includes('%') || text.includes('+')) {
    let placed = false
    const pairs: string[] = []
    for (const piece of text.split('&')) {
      if (piece === '' || pairName(piece) !== name) pairs.push(piece)
      else if (!placed) {
        pairs.push(pair)
        placed = true
      }
    }
    if (placed) return pairs.join('&')
  }
  if (text === '') return pair
  return text.endsWith('&') ? text + pair : `${text}&${pair}`
}

/** A copy of `form` with `field` set: an existing entry keeps its position, a new one goes last. */
function formWithToken(form: FormData, field: string, token: string): FormData {
  const copy = new FormData()
  for (const [name, value] of form) copy.append(name, value)
  copy.set(field, token)
  return copy
}

/** `url` with `name=token` in its query, every other byte kept. */
function urlWithToken(url: string, name: string, token: string): string {
  const hash = url.indexOf('#')
  const end = hash === -1 ? url.length : hash
  const question = url.indexOf('?')
  const start = question === -1 || question > end ? end : question
  const query = start === end ? '' : url.slice(start + 1, end)
  return `${url.slice(0, start)}?${injectUrlEncoded(query, name, token)}${url.slice(end)}`
}

/** Bytes are decoded as they are: a BOM kept (so refused as JSON, as the same text given as a string is), bad UTF-8 refused. */
const decoder = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true })

/**
 * The init with the token in its body (a {@link PlainBody}); only multipart bytes, which must be parsed,
 * make it wait.
 * @throws {ConfigurationError} for bodies the token cannot go into (binary, plain text, not an object).
 */
function initWithBodyToken(init: RequestInit, field: string, token: string): RequestInit | Promise<RequestInit> {
  const body = (init.body ?? null) as PlainBody
  if (body instanceof URLSearchParams) return { ...init, body: new URLSearchParams(injectUrlEncoded(body.toString(), field, token)) }
  if (body instanceof FormData) return { ...init, body: formWithToken(body, field, token) }
  const contentType = headerOf(init.headers, 'content-type')
  const type = mimeType(contentType)
  // The body's length changes: fetch writes the new one.
  const lengthGiven = headerOf(init.headers, 'content-length') !== null
  const edits: Record<string, string | undefined> = lengthGiven ? { 'content-length': undefined } : {}
  const withBody = (next: BodyInit): RequestInit => ({
    ...init,
    body: next,
    ...(Object.keys(edits).length === 0 ? {} : { headers: editHeaders(init.headers, edits) }),
  })
  if (body === null || (typeof body === 'string' ? body.length : body.byteLength) === 0) {
    if (type === 'application/x-www-form-urlencoded') return withBody(injectUrlEncoded('', field, token))
    if (!isJsonContentType(contentType)) edits['content-type'] = 'application/json'
    return withBody(injectJsonText('{}', field, token))
  }
  if (type === 'multipart/form-data') {
    // The new form has a new boundary: the platform writes the matching content type.
    edits['content-type'] = undefined
    return new Response(body, { headers: { 'content-type': contentType! } }).formData().then(
      (form) => withBody(formWithToken(form, field, token)),
      () => {
        throw bodyError('the multipart body could not be parsed.')
      },
    )
  }
  let text: string
  try {
    text = typeof body === 'string' ? body : decoder.decode(body)
  } catch {
    throw bodyError('its bytes are not UTF-8 text.')
  }
  if (type === 'application/x-www-form-urlencoded') return withBody(injectUrlEncoded(text, field, token))
  // A string body sent without a content type is labelled text/plain by fetch; JSON is often sent so.
  if (isJsonContentType(contentType) || type === '' || type === 'text/plain') return withBody(injectJsonText(text, field, token))
  throw bodyError(`its content type is ${JSON.stringify(type)}.`)
}

/**
 * The call with `token` placed. Synchronous except for a multipart body given as bytes, which has to be
 * parsed.
 * @throws {ConfigurationError} when the body cannot carry the token.
 */
function placeToken(placement: TokenPlacement, call: Call, token: string): Call | Promise<Call> {
  const { init } = call
  switch (placement.in) {
    case 'header':
      return { ...call, init: { ...init, headers: editHeaders(init.headers, { [placement.name]: headerValue(placement, token) }) } }
    case 'query':
      return { ...call, url: urlWithToken(call.url, placement.name, token) }
    case 'body': {
      const placed = initWithBodyToken(init, placement.field, token)
      return placed instanceof Promise ? placed.then((ready) => ({ ...call, init: ready })) : { ...call, init: placed }
    }
  }
}

export { bodyError, editHeaders, formWithToken, headerValue, injectJsonText, injectUrlEncoded, placeToken, urlWithToken }
export type { TokenPlacement }
