import { ConfigurationError } from '../errors.js'
import { describe, isRecord, unknownKey, unknownKeyMessage } from '../util.js'

/**
 * A ready-made broken grant for the `bad-grant` fault: each one breaks exactly one thing in an otherwise
 * normal `code: 1000` answer.
 *
 * @example
 * ```ts
 * emu.inject('serviceToken', { type: 'bad-grant', kind: 'zero-expires-in' }, { times: 1 })
 * ```
 */
type BadGrantKind =
  | 'missing-expires-in'
  | 'zero-expires-in'
  | 'negative-expires-in'
  | 'string-expires-in'
  | 'null-expires-in'
  | 'huge-expires-in'
  | 'empty-token'
  | 'missing-token'
  | 'non-string-token'
  | 'missing-data'
  | 'null-data'

/**
 * A failure the emulator can be told to serve instead of (or, for `latency`, before) its normal answer.
 *
 * - `latency`: wait `ms` milliseconds, then answer normally.
 * - `status`: HTTP `status` (default 503; any 400–599) with a small JSON or text body that is not an
 *   AnyWeb envelope, as a gateway would send.
 * - `rate-limit`: HTTP 429 with `Retry-After: <retryAfter>` seconds (default 1).
 * - `hang`: never answer, until the request's signal aborts or the `listen()` server closes.
 * - `malformed-json`: HTTP 200, `content-type: application/json`, a truncated JSON body.
 * - `html`: an HTML error page with HTTP `status` 502 (default) or 200, as a proxy would send.
 * - `reset`: the connection is reset: the in-process `fetch` rejects with a `TypeError` ("fetch failed"),
 *   a `listen()` server destroys the socket.
 * - `api-error`: an AnyWeb error envelope with any `code` (e.g. `A108B001`), with `status` (default: the
 *   emulator's `errorStatus`).
 * - `bad-grant` (token endpoint only): `code: 1000` with a broken `data`: a ready-made `kind`, or exactly
 *   the `data` you give.
 *
 * @example
 * ```ts
 * emu.inject('all', { type: 'rate-limit', retryAfter: 2 }, { times: 1 })
 * ```
 */
type Fault =
  | { type: 'latency'; ms: number }
  | { type: 'status'; status?: number; body?: 'json' | 'text' }
  | { type: 'rate-limit'; retryAfter?: number }
  | { type: 'hang' }
  | { type: 'malformed-json' }
  | { type: 'html'; status?: 200 | 502 }
  | { type: 'reset' }
  | { type: 'api-error'; code: string; message?: string; status?: number }
  | { type: 'bad-grant'; kind: BadGrantKind }
  | { type: 'bad-grant'; data: unknown }

/**
 * Which endpoint a fault applies to; `'all'` means both API endpoints (never `/__emulator/*`).
 *
 * @example
 * ```ts
 * emu.inject('checkAddresses', { type: 'status', status: 502 })
 * ```
 */
type FaultEndpoint = 'serviceToken' | 'checkAddresses' | 'all'

/**
 * Options of `emu.inject()`.
 *
 * @example
 * ```ts
 * emu.inject('serviceToken', { type: 'reset' }, { times: 2 }) // the next two token requests fail
 * ```
 */
interface InjectOptions {
  /**
   * How many matching requests get the fault; then it is removed.
   * @default Infinity (until `clearFaults()`)
   */
  times?: number
}

/** A fault checked and normalised: what the handler serves. */
type ResolvedFault =
  | { type: 'latency'; ms: number }
  | { type: 'status'; status: number; body: 'json' | 'text' }
  | { type: 'rate-limit'; retryAfter: number }
  | { type: 'hang' }
  | { type: 'malformed-json' }
  | { type: 'html'; status: number }
  | { type: 'reset' }
  | { type: 'api-error'; code: string; message: string; status: number | undefined }
  | { type: 'bad-grant'; body: string }

const BAD_GRANT_KINDS: readonly BadGrantKind[] = [
  'missing-expires-in',
  'zero-expires-in',
  'negative-expires-in',
  'string-expires-in',
  'null-expires-in',
  'huge-expires-in',
  'empty-token',
  'missing-token',
  'non-string-token',
  'missing-data',
  'null-data',
]

/** A token that looks like a JWT but that this emulator never signed: a client that accepts a broken grant and uses it gets A108P001. */
const UNUSABLE_TOKEN = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJiYWQtZ3JhbnQiOnRydWV9.not-a-signature'

function badGrantBody(kind: BadGrantKind, tokenTtl: number): Record<string, unknown> {
  const envelope = (data: unknown): Record<string, unknown> => ({ code: 1000, message: 'success', data })
  switch (kind) {
    case 'missing-expires-in':
      return envelope({ serviceToken: UNUSABLE_TOKEN })
    case 'zero-expires-in':
      return envelope({ serviceToken: UNUSABLE_TOKEN, expiresIn: 0 })
    case 'negative-expires-in':
      return envelope({ serviceToken: UNUSABLE_TOKEN, expiresIn: -tokenTtl })
    case 'string-expires-in':
      return envelope({ serviceToken: UNUSABLE_TOKEN, expiresIn: String(tokenTtl) })
    case 'null-expires-in':
      return envelope({ serviceToken: UNUSABLE_TOKEN, expiresIn: null })
    case 'huge-expires-in':
      return envelope({ serviceToken: UNUSABLE_TOKEN, expiresIn: 1e12 })
    case 'empty-token':
      return envelope({ serviceToken: '', expiresIn: tokenTtl })
    case 'missing-token':
      return envelope({ expiresIn: tokenTtl })
    case 'non-string-token':
      return envelope({ serviceToken: 12345, expiresIn: tokenTtl })
    case 'missing-data':
      return { code: 1000, message: 'success' }
    case 'null-data':
      return envelope(null)
  }
}

function fail(option: string, message: string): never {
  throw new ConfigurationError(option, `Invalid fault: ${message}`)
}



function optionalStatus(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    fail(option, `\`${option}\` must be an HTTP status between ${min} and ${max}, got ${describe(value)}.`)
  }
  return value
}

/** The fields each fault type knows besides `type`. */
const FAULT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  latency: ['ms'],
  status: ['status', 'body'],
  'rate-limit': ['retryAfter'],
  hang: [],
  'malformed-json': [],
  reset: [],
  html: ['status'],
  'api-error': ['code', 'message', 'status'],
  'bad-grant': ['kind', 'data'],
}

/** Checks a fault given to `inject()` and turns it into what the handler serves. */
function resolveFault(endpoint: FaultEndpoint, fault: unknown, tokenTtl: number): ResolvedFault {
  if (!isRecord(fault)) fail('fault', `expected an object with a \`type\`, got ${describe(fault)}.`)
  const fields = typeof fault.type === 'string' && Object.hasOwn(FAULT_FIELDS, fault.type) ? FAULT_FIELDS[fault.type] : undefined
  const unknown = fields === undefined ? undefined : unknownKey(fault, ['type', ...fields])
  if (unknown !== undefined) fail(`fault.${unknown.key}`, unknownKeyMessage(`field of a ${String(fault.type)} fault`, unknown, ['type', ...fields!]))
  switch (fault.type) {
    case 'latency': {
      const { ms } = fault
      if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
        fail('fault.ms', `latency \`ms\` must be a finite number ≥ 0, got ${describe(ms)}.`)
      }
      return { type: 'latency', ms }
    }
    case 'status': {
      const status = optionalStatus('fault.status', fault.status, 503, 400, 599)
      if (status === 429) fail('fault.status', 'use the `rate-limit` fault for HTTP 429.')
      const { body = 'json' } = fault
      if (body !== 'json' && body !== 'text') fail('fault.body', `\`body\` must be 'json' or 'text', got ${describe(body)}.`)
      return { type: 'status', status, body }
    }
    case 'rate-limit': {
      const { retryAfter = 1 } = fault
      if (typeof retryAfter !== 'number' || !Number.isInteger(retryAfter) || retryAfter < 0) {
        fail('fault.retryAfter', `\`retryAfter\` must be a whole number of seconds ≥ 0, got ${describe(retryAfter)}.`)
      }
      return { type: 'rate-limit', retryAfter }
    }
    case 'hang':
    case 'malformed-json':
    case 'reset':
      return { type: fault.type }
    case 'html': {
      const { status = 502 } = fault
      if (status !== 502 && status !== 200) fail('fault.status', `an html fault's \`status\` must be 502 or 200, got ${describe(status)}.`)
      return { type: 'html', status }
    }
    case 'api-error': {
      const { code, message = 'emulated error' } = fault
      if (typeof code !== 'string' || code === '') fail('fault.code', `\`code\` must be a non-empty string, got ${describe(code)}.`)
      if (typeof message !== 'string') fail('fault.message', `\`message\` must be a string, got ${describe(message)}.`)
      const status = fault.status === undefined ? undefined : optionalStatus('fault.status', fault.status, 200, 200, 599)
      return { type: 'api-error', code, message, status }
    }
    case 'bad-grant': {
      if (endpoint !== 'serviceToken') {
        fail('fault.type', `a bad-grant fault applies to the 'serviceToken' endpoint only, not '${endpoint}'.`)
      }
      if ('data' in fault) {
        let data: string | undefined
        try {
          data = JSON.stringify(fault.data)
        } catch {
          fail('fault.data', 'bad-grant `data` must be serialisable as JSON.')
        }
        // JSON.stringify drops `undefined`: the envelope then has no `data` at all, which is a fair meaning.
        return { type: 'bad-grant', body: data === undefined ? '{"code":1000,"message":"success"}' : `{"code":1000,"message":"success","data":${data}}` }
      }
      const { kind } = fault
      if (!BAD_GRANT_KINDS.includes(kind as BadGrantKind)) {
        fail('fault.kind', `bad-grant \`kind\` must be one of ${BAD_GRANT_KINDS.join(', ')}, got ${describe(kind)}.`)
      }
      return { type: 'bad-grant', body: JSON.stringify(badGrantBody(kind as BadGrantKind, tokenTtl)) }
    }
    default:
      fail('fault.type', `unknown fault type ${describe(fault.type)}.`)
  }
}

/** Checks `inject()`'s `times`. */
function resolveTimes(options: unknown): number {
  if (options === undefined) return Number.POSITIVE_INFINITY
  if (!isRecord(options)) fail('options', `expected { times? }, got ${describe(options)}.`)
  const unknown = unknownKey(options, ['times'])
  if (unknown !== undefined) fail(`options.${unknown.key}`, unknownKeyMessage('inject() option', unknown, ['times']))
  const { times } = options
  if (times === undefined) return Number.POSITIVE_INFINITY
  if (typeof times !== 'number' || !(Number.isInteger(times) || times === Number.POSITIVE_INFINITY) || times < 1) {
    fail('options.times', `\`times\` must be a whole number ≥ 1, got ${describe(times)}.`)
  }
  return times
}

const STATUS_TEXT: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

/** What nginx sends when its upstream fails; some CDNs send the same page with HTTP 200. */
const HTML_PAGE =
  `<!DOCTYPE html>\n<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n<hr><center>nginx</center>\n</body>\n</html>\n`

/** A success envelope cut off mid-way, as when a proxy drops the connection under load. */
const TRUNCATED_JSON = '{"code":1000,"message":"success","data":{"serviceToken":"eyJhbGciOiJIUzI1NiIsInR5cCI6'

/** The response of a fault that answers at once; `undefined` for the ones that do something else. */
function faultResponse(fault: ResolvedFault, errorStatus: number): Response | undefined {
  switch (fault.type) {
    case 'status': {
      const statusText = STATUS_TEXT[fault.status] ?? 'Error'
      return fault.body === 'json'
        ? Response.json({ error: statusText, status: fault.status }, { status: fault.status })
        : new Response(`${fault.status} ${statusText}\n`, { status: fault.status, headers: { 'content-type': 'text/plain; charset=utf-8' } })
    }
    case 'rate-limit':
      return Response.json(
        { error: 'Too Many Requests', status: 429 },
        { status: 429, headers: { 'retry-after': String(fault.retryAfter) } },
      )
    case 'malformed-json':
      return new Response(TRUNCATED_JSON, { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' } })
    case 'html':
      return new Response(HTML_PAGE, { status: fault.status, headers: { 'content-type': 'text/html; charset=utf-8' } })
    case 'api-error':
      return Response.json({ code: fault.code, message: fault.message, data: null }, { status: fault.status ?? errorStatus })
    case 'bad-grant':
      return new Response(fault.body, { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' } })
    case 'latency':
    case 'hang':
    case 'reset':
      return undefined
  }
}

/** The errors `handle()` rejects with for a `reset` fault, so that servers know to destroy the socket. */
const resetErrors = new WeakSet<object>()

/** What undici's fetch rejects with when the peer resets the connection. */
function createResetError(): TypeError {
  const cause = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read', errno: -104 })
  const error = new TypeError('fetch failed', { cause })
  resetErrors.add(error)
  return error
}

function isResetError(value: unknown): boolean {
  return typeof value === 'object' && value !== null && resetErrors.has(value)
}

/**
 * Resolves when any of `signals` aborts, rejecting with that signal's reason; listeners are removed then,
 * and no timer is involved, so a hang never keeps a process alive on its own.
 */
function untilAborted(signals: readonly AbortSignal[]): Promise<never> {
  return new Promise<never>((_, reject) => {
    const aborted = signals.find((signal) => signal.aborted)
    if (aborted !== undefined) {
      reject(aborted.reason)
      return
    }
    const onAbort = (event: Event): void => {
      for (const signal of signals) signal.removeEventListener('abort', onAbort)
      reject((event.target as AbortSignal).reason)
    }
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true })
  })
}

/** Waits `ms` milliseconds, or rejects as soon as a signal aborts (clearing the timer). */
function delay(ms: number, signals: readonly AbortSignal[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const aborted = signals.find((signal) => signal.aborted)
    if (aborted !== undefined) {
      reject(aborted.reason)
      return
    }
    const cleanup = (): void => {
      clearTimeout(timer)
      for (const signal of signals) signal.removeEventListener('abort', onAbort)
    }
    const onAbort = (event: Event): void => {
      cleanup()
      reject((event.target as AbortSignal).reason)
    }
    const timer = setTimeout(() => {
      cleanup()
      resolve()
    }, ms)
    for (const signal of signals) signal.addEventListener('abort', onAbort, { once: true })
  })
}

export { createResetError, delay, faultResponse, isResetError, resolveFault, resolveTimes, untilAborted }
export type { BadGrantKind, Fault, FaultEndpoint, InjectOptions, ResolvedFault }
