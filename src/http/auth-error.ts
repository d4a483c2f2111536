/**
 * Is this answer a refusal of the token? Platform rules (HTTP 401, or one of the platform's codes in a
 * JSON body; AnyWeb's `code: "A108P001"` by default) and what a custom rule is given.
 * @packageDocumentation
 */
import { ConfigurationError } from '../errors.js'
import type { AuthErrorState, IsAuthError } from '../types.js'
import { describe, isPlainObject } from '../util.js'
import { MAX_ANSWER_BYTES, mayBeJson } from './answer.js'

/**
 * A platform's rule for "this token is not accepted": HTTP 401, or a JSON body whose `field` holds one of
 * `codes` (at one of `statuses`, or at any status when `statuses` is not given).
 *
 * @example
 * ```ts
 * const rule: AuthErrorRule = { field: 'errcode', codes: [40001, 40014, 42001], statuses: [200] }
 * ```
 */
interface AuthErrorRule {
  /** The JSON field that carries the platform's code, e.g. `"code"` or `"errcode"`. */
  field: string
  /** The codes that mean the token was refused (expired, invalid, superseded). */
  codes: readonly (string | number)[]
  /**
   * The HTTP statuses at which the body is looked at.
   * @default every status
   */
  statuses?: readonly number[]
}

/** A rule checked once, with the texts its fast pre-check looks for. */
interface ResolvedRule {
  readonly field: string
  /** The codes as text: a body's `40001` and `"40001"` both match either. */
  readonly codes: ReadonlySet<string>
  readonly statuses: ReadonlySet<number> | undefined
  readonly needles: readonly string[]
}

/** The rule behind each predicate made by {@link authErrorRule}: what the fast paths read instead of calling it. */
const rules = new WeakMap<IsAuthError, ResolvedRule>()

/**
 * The {@link IsAuthError} of a platform's {@link AuthErrorRule}. The adapters recognise it and judge
 * answers without a promise, and without parsing a body whose text cannot spell one of the codes.
 *
 * @example
 * ```ts
 * withServiceToken(fetch, manager, { isAuthError: authErrorRule({ field: 'errcode', codes: [40001, 42001] }) })
 * ```
 */
function authErrorRule(rule: AuthErrorRule): IsAuthError {
  const { field, codes, statuses } = checkRule(rule)
  const needles = codes.map(String)
  const resolved: ResolvedRule = {
    field,
    codes: new Set(needles),
    statuses: statuses === undefined ? undefined : new Set(statuses),
    needles,
  }
  const isAuthError: IsAuthError = async (state) => state.status === 401 || bodyRefuses(resolved, state.status, await state.json())
  rules.set(isAuthError, resolved)
  return isAuthError
}

function invalid(option: string, message: string): never {
  throw new ConfigurationError(option, `Invalid option \`${option}\` of authErrorRule(): ${message}`)
}

/** What is wrong with a value that should be an array of some items (the values themselves are not quoted). */
function arrayFault(value: unknown): string {
  if (!Array.isArray(value)) return describe(value)
  return value.length === 0 ? 'an empty array' : 'an array with another item'
}

/** A rule's fields checked at once: a mistake shows when the rule is made, not as a refusal never seen. */
function checkRule(rule: unknown): AuthErrorRule {
  if (typeof rule !== 'object' || rule === null) invalid('rule', `expected an object { field, codes, statuses? }, got ${describe(rule)}.`)
  const { field, codes, statuses } = rule as Partial<Record<keyof AuthErrorRule, unknown>>
  if (typeof field !== 'string' || field === '') invalid('field', `expected the name of the JSON field holding the code (e.g. "errcode"), got ${describe(field)}.`)
  const isCode = (code: unknown): boolean => (typeof code === 'number' && Number.isFinite(code)) || (typeof code === 'string' && code !== '')
  if (!Array.isArray(codes) || codes.length === 0 || !codes.every(isCode)) {
    invalid('codes', `expected a non-empty array of codes (numbers or non-empty strings, e.g. [40001, 42001]), got ${arrayFault(codes)}.`)
  }
  const isStatus = (status: unknown): boolean => Number.isInteger(status) && (status as number) >= 100 && (status as number) <= 599
  if (statuses !== undefined && (!Array.isArray(statuses) || !statuses.every(isStatus))) {
    invalid('statuses', `expected an array of HTTP statuses (whole numbers from 100 to 599, e.g. [200]), got ${arrayFault(statuses)}.`)
  }
  return rule as unknown as AuthErrorRule
}

/** The rule of a predicate made by {@link authErrorRule}; `undefined` for a custom one. */
function ruleOf(isAuthError: IsAuthError): ResolvedRule | undefined {
  return rules.get(isAuthError)
}

/** Whether a parsed body, answered with `status`, carries one of the rule's codes. */
function bodyRefuses(rule: ResolvedRule, status: number, body: unknown): boolean {
  if ((rule.statuses !== undefined && !rule.statuses.has(status)) || !isPlainObject(body)) return false
  const code = body[rule.field]
  return (typeof code === 'number' || typeof code === 'string') && rule.codes.has(String(code))
}

/**
 * Whether a JSON text could carry one of the rule's codes: it holds one's characters, or a `\u` escape
 * (the only JSON escape that can spell a letter or a digit). A fast negative spares parsing every
 * successful answer.
 */
function mayHoldAuthCode(text: string, rule: ResolvedRule = anywebRule): boolean {
  return rule.needles.some((needle) => text.includes(needle)) || text.includes('\\u')
}

/** Whether an answer with `status` needs its body looked at, or is judged by its status alone. */
function statusDecides(rule: ResolvedRule, status: number): boolean {
  return status !== 401 && rule.statuses !== undefined && !rule.statuses.has(status)
}

/**
 * The default {@link IsAuthError}, AnyWeb's: HTTP 401, or a JSON body whose `code` is `"A108P001"`
 * (AnyWeb's "serviceToken wrong", which may come with any status). A manager made with a preset gives
 * the adapters that platform's rule instead.
 *
 * @example
 * ```ts
 * withServiceToken(fetch, manager, {
 *   isAuthError: async (state) => state.status === 403 || (await defaultIsAuthError(state)),
 * })
 * ```
 */
const defaultIsAuthError: IsAuthError = authErrorRule({ field: 'code', codes: ['A108P001'] })
const anywebRule = ruleOf(defaultIsAuthError)!

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
  const rule = ruleOf(isAuthError)
  const { status } = response
  if (rule !== undefined && status !== 401 && (statusDecides(rule, status) || text === undefined || !mayHoldAuthCode(text, rule))) return false
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
    return !mayBeJson(contentType) || data.length > MAX_ANSWER_BYTES ? undefined : parseJson(data)
  }
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    return !mayBeJson(contentType) || data.byteLength > MAX_ANSWER_BYTES ? undefined : parseJson(decoder.decode(bytesOf(data)))
  }
  return isPlainObject(data) || Array.isArray(data) ? data : undefined
}

/**
 * A rule's verdict on a body a host client already decoded (axios' `data`), answered at once: no state
 * object, no promise, and no parse when the text cannot spell a code.
 */
function decodedRefuses(status: number, data: unknown, contentType: string | null, rule: ResolvedRule = anywebRule): boolean {
  if (status === 401) return true
  if (statusDecides(rule, status)) return false
  if (typeof data === 'string' && !mayHoldAuthCode(data, rule)) return false
  if ((data instanceof ArrayBuffer || ArrayBuffer.isView(data)) && !mayHoldAuthCode(decoder.decode(bytesOf(data)), rule)) return false
  return bodyRefuses(rule, status, jsonOfDecoded(data, contentType))
}

export { answerRefuses, authErrorRule, decodedRefuses, defaultIsAuthError, jsonOfDecoded, mayHoldAuthCode, once, ruleOf }
export type { AuthErrorRule, AuthErrorState, IsAuthError, ResolvedRule }
