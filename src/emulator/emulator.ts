import { ConfigurationError } from '../errors.js'
import { createResetError, delay, faultResponse, resolveFault, resolveTimes, untilAborted } from './faults.js'
import type { Fault, FaultEndpoint, InjectOptions, ResolvedFault } from './faults.js'
import { createJwtCodec } from './jwt.js'
import { listen } from './listen.js'
import type { EmulatorServer, ListenOptions } from './listen.js'
import { resolveEmulatorOptions } from './options.js'
import type { EmulatorOptions } from './options.js'
import { isRecord } from '../util.js'

/**
 * What the emulator has served since it was created or since `resetStats()`.
 *
 * @example
 * ```ts
 * expect(emu.stats().tokensIssued).toBe(1) // single flight: one token for 100 concurrent callers
 * ```
 */
interface EmulatorStats {
  /** Tokens issued (successful token answers; `bad-grant` faults are not counted). */
  tokensIssued: number
  /** Requests received per endpoint, faulted ones included; `other` is every unknown path. */
  requests: { serviceToken: number; checkAddresses: number; other: number }
  /** `A108P001` answers: requests that carried a missing, wrong, expired, revoked or superseded token. */
  authFailures: number
  /** Requests that got an injected fault (a `latency` fault counts too). */
  faultsServed: number
}

/**
 * A local AnyWeb service, from {@link createEmulator}. Every method is bound: pass `emu.fetch` or
 * `emu.handle` around freely.
 *
 * @example
 * ```ts
 * const emu = createEmulator()
 * const manager = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: 'http://127.0.0.1', fetch: emu.fetch })
 * ```
 */
interface Emulator {
  /**
   * The web-standard handler: give it to `Deno.serve`, `Bun.serve` or any `(Request) => Response` host.
   * Answers every bad input with a response; rejects only for a `reset` fault (a `TypeError`, like fetch)
   * and when `request.signal` aborts (with its reason).
   */
  handle(request: Request): Promise<Response>
  /**
   * The handler as an in-process `fetch`: no socket involved. Relative URLs such as `'/service/serviceToken'`
   * are accepted. Rejects with `signal.reason` when the signal aborts, like fetch.
   */
  fetch(input: Request | URL | string, init?: RequestInit): Promise<Response>
  /**
   * Serves the emulator over HTTP with the runtime's own server (node:http, `Deno.serve`, `Bun.serve`).
   * @throws {ConfigurationError} for an invalid port or hostname.
   */
  listen(options?: ListenOptions): Promise<EmulatorServer>
  /** Makes every token issued so far invalid: using one answers `A108P001`. New tokens work. */
  revokeAll(): void
  /**
   * Serves `fault` to the next `options.times` requests to `endpoint` (default: until `clearFaults()`).
   * Faults queue in the order they were injected; each request gets the first one that matches.
   * @throws {ConfigurationError} for an invalid fault.
   */
  inject(endpoint: FaultEndpoint, fault: Fault, options?: InjectOptions): void
  /** Removes every injected fault. */
  clearFaults(): void
  /** A snapshot of the counters. */
  stats(): EmulatorStats
  /** Sets every counter back to zero. */
  resetStats(): void
}

const TOKEN_PATH = '/service/serviceToken'
const CHECK_PATH = '/service/checkAddresses'
/** Served by `handle` too, so that a test can read the counters of an emulator in another process. */
const STATS_PATH = '/__emulator/stats'

/** Where a relative URL given to `emu.fetch` points; the emulator ignores the host anyway. */
const IN_PROCESS_ORIGIN = 'http://127.0.0.1'

interface TokenRecord {
  appid: string
  seq: number
  expiresAtMs: number
  supersededAtMs: number | undefined
}

type Fields = Record<string, unknown>
type BodyResult = { ok: true; fields: Fields; form: boolean } | { ok: false; reason: string }

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } })
}


/** Whether `a` equals `b`, in time that does not depend on where they differ. */
function safeEqual(a: string, b: string): boolean {
  let difference = a.length ^ b.length
  for (let i = 0; i < b.length; i++) difference |= (a.charCodeAt(i) || 0) ^ b.charCodeAt(i)
  return difference === 0
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '')
}

/** Reads JSON, urlencoded or multipart bodies into fields: AnyWeb's samples send multipart. */
async function readFields(request: Request): Promise<BodyResult> {
  const type = (request.headers.get('content-type') ?? '').toLowerCase()
  try {
    if (type.startsWith('multipart/form-data') || type.startsWith('application/x-www-form-urlencoded')) {
      const form = await request.formData()
      const fields: Fields = {}
      for (const [name, value] of form) {
        if (typeof value === 'string' && !(name in fields)) fields[name] = value
      }
      return { ok: true, fields, form: true }
    }
    // Any other type (or none) is read as JSON: clients often forget the header.
    const text = await request.text()
    if (text.trim() === '') return { ok: true, fields: {}, form: false }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return { ok: false, reason: 'the request body is not valid JSON' }
    }
    if (!isRecord(parsed)) return { ok: false, reason: 'the request body is not a JSON object' }
    return { ok: true, fields: parsed, form: false }
  } catch {
    if (request.signal.aborted) throw request.signal.reason
    return { ok: false, reason: 'the request body could not be read as a form' }
  }
}

function bearer(request: Request): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '')
  return match?.[1]
}

/**
 * Creates a local AnyWeb service: `/service/serviceToken` issues HS256 JWTs, `/service/checkAddresses`
 * checks them, and faults can be injected. Nothing is listening until `listen()`.
 *
 * Token endpoint checks, in order: appid empty → `A108P002`, appid unknown → `A108P005`, secret empty →
 * `A108P003`, secret wrong → `A108P004`. A body that is not JSON, urlencoded or multipart counts as
 * "appid empty"; an appid that is not a string as unknown. checkAddresses: a body that is not a JSON object (or form) → `A108P007`; then the token
 * (missing, forged, expired, revoked, superseded → `A108P001`); then `group` → `A108P007`.
 * Errors come with HTTP `errorStatus` (200 by default). Unknown paths answer 404, other methods than
 * POST 405; `GET /__emulator/stats` answers {@link EmulatorStats}.
 *
 * @default options: apps `{ 'demo-app': 'demo-secret' }`, tokenTtl 7200 s, reissue `'stateless'`, users `{}`
 * @throws {ConfigurationError} for an invalid option.
 * @example
 * ```ts
 * import { createEmulator } from 'anyweb-service-token/emulator'
 * const emu = createEmulator({ apps: { 'my-app': 's3cret' }, tokenTtl: 60 })
 * const server = await emu.listen()
 * const manager = createTokenManager({ appid: 'my-app', secret: 's3cret', baseUrl: server.url })
 * // …
 * await server.close()
 * ```
 */
function createEmulator(options?: EmulatorOptions): Emulator {
  const config = resolveEmulatorOptions(options)
  const codec = createJwtCodec(config.signingKey)

  const registry = new Map<string, TokenRecord>()
  const latestByApp = new Map<string, TokenRecord>()
  let sequence = 0
  let revokedThrough = 0
  let pruneAt = 1024

  let faults: Array<{ endpoint: FaultEndpoint; fault: ResolvedFault; remaining: number }> = []

  const zero = (): EmulatorStats => ({
    tokensIssued: 0,
    requests: { serviceToken: 0, checkAddresses: 0, other: 0 },
    authFailures: 0,
    faultsServed: 0,
  })
  let counters = zero()

  const envelope = (code: string, message: string): Response => {
    if (code === 'A108P001') counters.authFailures++
    return json({ code, message, data: null }, config.errorStatus)
  }

  /** Expired records can never become valid again; dropping them keeps a long-running emulator small. */
  const prune = (now: number): void => {
    if (registry.size < pruneAt) return
    for (const [jti, record] of registry) if (now >= record.expiresAtMs) registry.delete(jti)
    pruneAt = Math.max(1024, registry.size * 2)
  }

  const issue = async (appid: string): Promise<Response> => {
    const issuedAt = config.now()
    prune(issuedAt)
    const jti = crypto.randomUUID()
    const record: TokenRecord = {
      appid,
      seq: ++sequence,
      expiresAtMs: issuedAt + config.tokenTtl * 1000,
      supersededAtMs: undefined,
    }
    // Registered before the await so concurrent issues supersede each other in a fixed order.
    registry.set(jti, record)
    if (config.reissue.invalidatePrevious) {
      const previous = latestByApp.get(appid)
      if (previous !== undefined) previous.supersededAtMs ??= issuedAt
    }
    latestByApp.set(appid, record)
    counters.tokensIssued++
    const serviceToken = await codec.sign({
      appid,
      developerId: `dev-${appid}`,
      iat: Math.floor(issuedAt / 1000),
      // Rounded up: the token must not die before issuedAt + tokenTtl, which is what expiresIn promises.
      exp: Math.ceil(record.expiresAtMs / 1000),
      jti,
    })
    return json({ code: 1000, message: 'success', data: { serviceToken, expiresIn: config.tokenTtl } }, 200)
  }

  const serviceToken = async (request: Request): Promise<Response> => {
    const body = await readFields(request)
    if (!body.ok) return envelope('A108P002', `appid is empty: ${body.reason}.`)
    const { appid, secret } = body.fields
    if (isBlank(appid)) return envelope('A108P002', 'appid is empty.')
    const expected = typeof appid === 'string' ? config.apps.get(appid) : undefined
    if (typeof appid !== 'string' || expected === undefined) return envelope('A108P005', 'appid is invalid.')
    if (isBlank(secret)) return envelope('A108P003', 'secret is empty.')
    if (typeof secret !== 'string' || !safeEqual(secret, expected)) return envelope('A108P004', 'secret is invalid.')
    return issue(appid)
  }

  const tokenIsValid = async (token: unknown): Promise<boolean> => {
    if (typeof token !== 'string' || token === '') return false
    const claims = await codec.verify(token)
    if (claims === undefined) return false
    const record = registry.get(claims.jti)
    if (record === undefined || record.appid !== claims.appid) return false
    const now = config.now()
    if (now >= record.expiresAtMs || record.seq <= revokedThrough) return false
    return record.supersededAtMs === undefined || now < record.supersededAtMs + config.reissue.graceMs
  }

  const checkAddresses = async (request: Request, url: URL): Promise<Response> => {
    const body = await readFields(request)
    if (!body.ok) return envelope('A108P007', `group is malformed: ${body.reason}.`)
    let token: unknown
    for (const location of config.tokenFrom) {
      token =
        location === 'body'
          ? body.fields.serviceToken
          : location === 'header'
            ? bearer(request)
            : (url.searchParams.get('serviceToken') ?? undefined)
      if (typeof token === 'string' && token !== '') break
    }
    if (!(await tokenIsValid(token))) return envelope('A108P001', 'serviceToken wrong')

    let { group } = body.fields
    // Form bodies can only carry the group as JSON text; in a JSON body a string is simply malformed.
    if (body.form && typeof group === 'string') {
      try {
        group = JSON.parse(group)
      } catch {
        return envelope('A108P007', 'group is malformed: not valid JSON.')
      }
    }
    if (!isRecord(group)) return envelope('A108P007', 'group is malformed: expected an object of unionid → addresses.')
    const result: Record<string, string[]> = {}
    for (const [unionid, addresses] of Object.entries(group)) {
      if (!Array.isArray(addresses) || !addresses.every((address) => typeof address === 'string')) {
        return envelope('A108P007', `group is malformed: the addresses of "${unionid}" are not an array of strings.`)
      }
      const owned = config.users.get(unionid)
      // defineProperty, not assignment: a "__proto__" unionid must stay an ordinary key.
      Object.defineProperty(result, unionid, {
        value: addresses.filter((address: string) => owned === undefined || !owned.has(address)),
        enumerable: true,
        writable: true,
        configurable: true,
      })
    }
    return json({ code: 1000, message: 'success', data: result }, 200)
  }

  const takeFault = (endpoint: 'serviceToken' | 'checkAddresses'): ResolvedFault | undefined => {
    const index = faults.findIndex((entry) => entry.endpoint === endpoint || entry.endpoint === 'all')
    const entry = faults[index]
    if (entry === undefined) return undefined
    entry.remaining--
    if (entry.remaining <= 0) faults.splice(index, 1)
    return entry.fault
  }

  const snapshot = (): EmulatorStats => ({ ...counters, requests: { ...counters.requests } })

  const dispatch = async (request: Request, closing: AbortSignal | undefined): Promise<Response> => {
    const signals = closing === undefined ? [request.signal] : [request.signal, closing]
    const url = new URL(request.url)
    const { pathname } = url
    if (pathname === STATS_PATH) {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return json({ code: 'METHOD_NOT_ALLOWED', message: `${request.method} is not allowed here; use GET.` }, 405, { allow: 'GET, HEAD' })
      }
      return json(snapshot(), 200)
    }
    const endpoint = pathname === TOKEN_PATH ? 'serviceToken' : pathname === CHECK_PATH ? 'checkAddresses' : undefined
    if (endpoint === undefined) {
      counters.requests.other++
      return json({ code: 'NOT_FOUND', message: `No such endpoint: ${request.method} ${pathname}` }, 404)
    }
    counters.requests[endpoint]++

    const fault = takeFault(endpoint)
    if (fault !== undefined) {
      counters.faultsServed++
      if (fault.type === 'hang') return untilAborted(signals)
      if (fault.type === 'reset') throw createResetError()
      if (fault.type === 'latency') {
        await delay(fault.ms, signals)
      } else {
        const response = faultResponse(fault, config.errorStatus)
        if (response !== undefined) {
          if (fault.type === 'api-error' && fault.code === 'A108P001') counters.authFailures++
          return response
        }
      }
    }

    if (request.method !== 'POST') {
      return json({ code: 'METHOD_NOT_ALLOWED', message: `${request.method} is not allowed here; use POST.` }, 405, { allow: 'POST' })
    }
    return endpoint === 'serviceToken' ? serviceToken(request) : checkAddresses(request, url)
  }

  /** Reports each request to `onRequest`; reading the code from a clone leaves the answer untouched. */
  const observed = async (request: Request, closing: AbortSignal | undefined): Promise<Response> => {
    const report = config.onRequest
    if (report === undefined) return dispatch(request, closing)
    const started = performance.now()
    const entry = { method: request.method, path: new URL(request.url).pathname }
    const done = (status: number, code: number | string | undefined): void => {
      try {
        report({ ...entry, status, code, durationMs: performance.now() - started })
      } catch {
        // A logging bug must not break the service.
      }
    }
    try {
      const response = await dispatch(request, closing)
      const body: unknown = await response.clone().json().catch(() => undefined)
      const code = typeof body === 'object' && body !== null ? (body as { code?: unknown }).code : undefined
      done(response.status, typeof code === 'number' || typeof code === 'string' ? code : undefined)
      return response
    } catch (error) {
      done(0, undefined)
      throw error
    }
  }

  const handle = (request: Request): Promise<Response> => observed(request, undefined)

  return {
    handle,
    async fetch(input, init) {
      const request = new Request(typeof input === 'string' && input.startsWith('/') ? `${IN_PROCESS_ORIGIN}${input}` : input, init)
      if (request.signal.aborted) throw request.signal.reason
      const response = await observed(request, undefined)
      // An abort during the (short) work after the last await must still reject, as fetch would.
      if (request.signal.aborted) throw request.signal.reason
      return response
    },
    listen: (listenOptions) => listen(observed, listenOptions),
    revokeAll() {
      revokedThrough = sequence
    },
    inject(endpoint, fault, injectOptions) {
      if (endpoint !== 'serviceToken' && endpoint !== 'checkAddresses' && endpoint !== 'all') {
        throw new ConfigurationError('endpoint', `Invalid fault endpoint ${JSON.stringify(endpoint)}: expected 'serviceToken', 'checkAddresses' or 'all'.`)
      }
      const resolved = resolveFault(endpoint, fault, config.tokenTtl)
      const remaining = resolveTimes(injectOptions)
      faults.push({ endpoint, fault: resolved, remaining })
    },
    clearFaults() {
      faults = []
    },
    stats: snapshot,
    resetStats() {
      counters = zero()
    },
  }
}

export { createEmulator }
export type { Emulator, EmulatorStats }
