/**
 * Fault suite (issue 7): every fault the emulator can serve on the token endpoint, against the token
 * manager alone and through each adapter; API faults that must not touch the token; and 10,000 requests
 * under a seeded random mix of faults, every one accounted for.
 */
import { inspect } from 'node:util'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { withServiceToken } from '../../adapters/fetch.js'
import { createEmulator } from '../../src/emulator/index.js'
import type { Emulator, EmulatorServer, Fault, RequestLogEntry } from '../../src/emulator/index.js'
import { createTokenManager, isServiceTokenError } from '../../src/index.js'
import type { TokenManager, TokenManagerEvent } from '../../src/index.js'
import { drivers, libraryErrorOf } from '../helpers/adapter-drivers.js'
import type { Call, Outcome } from '../helpers/adapter-drivers.js'

const APPID = 'fault-suite-app'
/** Distinctive, so that a leak anywhere is found by a plain substring search. */
const SECRET = 'Zq9-FAULT-SUITE-SECRET-7c41e0b2'
const CHECK = '/service/checkAddresses'
const group = { u1: ['cfx:aa', 'cfx:bb'] }

/** The manager's clock: real time plus a skew the tests bump instead of sleeping through backoffs and cooldowns. */
let skew = 0
const now = (): number => Date.now() + skew

const TIMEOUT = 300
const RETRY = { attempts: 2, baseDelay: 5, maxDelay: 50 } as const
/** Worst case of a faulted call: two attempts that time out, one backoff, plus scheduling slack on a busy machine. */
const BOUND_MS = 2 * TIMEOUT + RETRY.maxDelay + 1_000

// ---------------------------------------------------------------------------------------------------------
// Unhandled rejections, for the whole file

const unhandled: unknown[] = []
const onUnhandled = (reason: unknown): void => {
  unhandled.push(reason)
}
beforeAll(() => {
  process.on('unhandledRejection', onUnhandled)
})
afterAll(() => {
  process.off('unhandledRejection', onUnhandled)
})

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

// ---------------------------------------------------------------------------------------------------------
// A world: an emulator on a loopback port, a manager with a small timeout and retry, and everything recorded

interface World {
  emu: Emulator
  server: EmulatorServer
  manager: TokenManager
  events: TokenManagerEvent[]
  log: RequestLogEntry[]
}

async function world(): Promise<World> {
  const log: RequestLogEntry[] = []
  const events: TokenManagerEvent[] = []
  const emu = createEmulator({ apps: { [APPID]: SECRET }, users: { u1: ['cfx:aa'] }, onRequest: (entry) => log.push(entry) })
  const server = await emu.listen()
  const manager = createTokenManager({
    appid: APPID,
    secret: SECRET,
    baseUrl: server.url,
    timeout: TIMEOUT,
    retry: RETRY,
    now,
    onEvent: (event) => events.push(event),
  })
  cleanups.push(
    () => server.close(),
    () => manager.close(),
  )
  return { emu, server, manager, events, log }
}

/** A caller: the manager alone, or one adapter sending a checkAddresses request. Resolves on success. */
interface Client {
  name: string
  make(w: World): (extra?: Partial<Call>) => Promise<Outcome | string>
}

const checkCall = (w: World, extra: Partial<Call> = {}): Call => ({
  url: w.server.url + CHECK,
  body: JSON.stringify({ group }),
  headers: { 'content-type': 'application/json' },
  ...extra,
})

const clients: Client[] = [
  { name: 'manager', make: (w) => () => w.manager.getToken() },
  ...drivers.map(
    (driver): Client => ({
      name: driver.name,
      make(w) {
        const call = driver.client(w.manager)
        return (extra) => call(checkCall(w, extra))
      },
    }),
  ),
]

function succeeded(result: Outcome | string): boolean {
  if (typeof result === 'string') return result.length > 0
  return result.status === 200 && (result.json as { code?: unknown } | undefined)?.code === 1000
}

/** Every text a leak could hide in. */
function leakTexts(w: World, error?: unknown): string[] {
  const texts = [...w.events.map((event) => inspect(event, { depth: 10 })), JSON.stringify(w.log), inspect(w.log, { depth: 10 })]
  if (error !== undefined) {
    texts.push(String(error), inspect(error, { depth: 10 }), inspect(error, { depth: 10, showHidden: true }))
    if (error instanceof Error) texts.push(error.message, error.stack ?? '', JSON.stringify(error) ?? '')
  }
  return texts
}

function expectNoSecret(w: World, error?: unknown): void {
  const leaks = leakTexts(w, error).filter((text) => text.includes(SECRET))
  expect(leaks).toEqual([])
}

async function settle<T>(promise: Promise<T>): Promise<{ ok: true; value: T; ms: number } | { ok: false; error: unknown; ms: number }> {
  const started = performance.now()
  try {
    const value = await promise
    return { ok: true, value, ms: performance.now() - started }
  } catch (error) {
    return { ok: false, error, ms: performance.now() - started }
  }
}

// ---------------------------------------------------------------------------------------------------------
// A. The token endpoint: every fault × every caller

type Code = 'ERR_TOKEN_TIMEOUT' | 'ERR_TOKEN_HTTP' | 'ERR_TOKEN_NETWORK' | 'ERR_TOKEN_RESPONSE' | 'ERR_ANYWEB_CREDENTIALS'

const tokenFaults: Array<{ name: string; fault: Fault; code: Code; final?: boolean }> = [
  { name: 'hang', fault: { type: 'hang' }, code: 'ERR_TOKEN_TIMEOUT' },
  { name: '503 (JSON body)', fault: { type: 'status', status: 503 }, code: 'ERR_TOKEN_HTTP' },
  { name: '500 (text body)', fault: { type: 'status', status: 500, body: 'text' }, code: 'ERR_TOKEN_HTTP' },
  { name: '429 + Retry-After', fault: { type: 'rate-limit', retryAfter: 1 }, code: 'ERR_TOKEN_HTTP' },
  { name: 'reset', fault: { type: 'reset' }, code: 'ERR_TOKEN_NETWORK' },
  { name: 'malformed JSON', fault: { type: 'malformed-json' }, code: 'ERR_TOKEN_RESPONSE' },
  { name: 'HTML page 502', fault: { type: 'html', status: 502 }, code: 'ERR_TOKEN_HTTP' },
  { name: 'HTML page 200', fault: { type: 'html', status: 200 }, code: 'ERR_TOKEN_RESPONSE' },
  ...(['A108P002', 'A108P003', 'A108P004', 'A108P005'] as const).map((code) => ({
    name: `api-error ${code}`,
    fault: { type: 'api-error', code } as Fault,
    code: 'ERR_ANYWEB_CREDENTIALS' as const,
    final: true,
  })),
  ...(['missing-expires-in', 'zero-expires-in', 'negative-expires-in', 'string-expires-in', 'huge-expires-in', 'empty-token'] as const).map(
    (kind) => ({ name: `bad-grant ${kind}`, fault: { type: 'bad-grant', kind } as Fault, code: 'ERR_TOKEN_RESPONSE' as const }),
  ),
]

describe('token endpoint faults', () => {
  describe.each(clients)('$name', (client) => {
    it.each(tokenFaults)('$name → $code, bounded, no leak, recovers', async ({ fault, code, final }) => {
      const w = await world()
      const call = client.make(w)
      w.emu.inject('serviceToken', fault) // until cleared: every attempt gets it

      const result = await settle(call())
      expect(result.ok).toBe(false)
      if (result.ok) return
      expect(result.ms).toBeLessThan(BOUND_MS)
      expect(isServiceTokenError(libraryErrorOf(result.error))).toBe(true)
      expect((libraryErrorOf(result.error) as { code?: unknown }).code).toBe(code)
      // A final error is not retried; a transient one uses every attempt.
      const tokenRequests = w.emu.stats().requests.serviceToken
      expect(tokenRequests).toBe(final === true ? 1 : RETRY.attempts)
      // Nothing reached the API without a token.
      expect(w.emu.stats().requests.checkAddresses).toBe(0)

      // While the fault lasts, callers keep getting the typed error. In the cooldown of a final error they
      // get it at once without a request; the backoff of a transient one (≤ 10 ms here) may already be over
      // on the real clock, so then at most one more refresh is made.
      const again = await settle(call())
      expect(again.ok).toBe(false)
      expect(again.ms).toBeLessThan(BOUND_MS)
      if (!again.ok) expect((libraryErrorOf(again.error) as { code?: unknown }).code).toBe(code)
      if (final === true) expect(w.emu.stats().requests.serviceToken).toBe(tokenRequests)
      else expect([tokenRequests, tokenRequests + RETRY.attempts]).toContain(w.emu.stats().requests.serviceToken)

      // The fault stops; past the backoff/cooldown the next call succeeds.
      w.emu.clearFaults()
      skew += 120_000
      const recovered = await settle(call())
      expect(recovered.ok && succeeded(recovered.value)).toBe(true)
      expect(w.emu.stats().tokensIssued).toBe(1)

      expectNoSecret(w, result.error)
      expectNoSecret(w, again.ok ? undefined : again.error)
    })
  })
})

// ---------------------------------------------------------------------------------------------------------
// API faults: the host's own path, the token untouched

describe('checkAddresses faults reach the caller through the host and leave the token alone', () => {
  describe.each(drivers)('$name', (driver) => {
    async function warm() {
      const w = await world()
      const call = (extra?: Partial<Call>) => driver.client(w.manager)(checkCall(w, extra))
      expect(succeeded(await call())).toBe(true)
      const token = w.manager.peek()?.token
      expect(token).toBeDefined()
      const eventsBefore = w.events.length
      const untouched = () => {
        expect(w.manager.peek()?.token).toBe(token)
        expect(w.emu.stats().requests.serviceToken).toBe(1)
        expect(w.events.slice(eventsBefore)).toEqual([])
      }
      return { w, call, untouched }
    }

    it('5xx: the 503 response is returned as is', async () => {
      const { w, call, untouched } = await warm()
      w.emu.inject('checkAddresses', { type: 'status', status: 503 }, { times: 1 })
      const outcome = await call()
      expect(outcome.status).toBe(503)
      untouched()
      expect(succeeded(await call())).toBe(true)
      untouched()
      expectNoSecret(w)
    })

    it("hang: the caller's AbortSignal ends it", async () => {
      const { w, call, untouched } = await warm()
      w.emu.inject('checkAddresses', { type: 'hang' }, { times: 1 })
      const result = await settle(call({ signal: AbortSignal.timeout(200) }))
      expect(result.ok).toBe(false)
      expect(result.ms).toBeLessThan(BOUND_MS)
      if (!result.ok) expect(isServiceTokenError(libraryErrorOf(result.error))).toBe(false)
      untouched()
      expect(succeeded(await call())).toBe(true)
      untouched()
      expectNoSecret(w, result.ok ? undefined : result.error)
    })

    it("reset: the host's network error", async () => {
      const { w, call, untouched } = await warm()
      w.emu.inject('checkAddresses', { type: 'reset' }, { times: 1 })
      const result = await settle(call())
      expect(result.ok).toBe(false)
      if (!result.ok) expect(isServiceTokenError(libraryErrorOf(result.error))).toBe(false)
      untouched()
      expect(succeeded(await call())).toBe(true)
      untouched()
      expectNoSecret(w, result.ok ? undefined : result.error)
    })
  })
})

// ---------------------------------------------------------------------------------------------------------
// 10,000 requests under a random mix of faults

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function prng(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
  }
}

const TOKEN_MIX: Fault[] = [
  { type: 'hang' },
  { type: 'status', status: 503 },
  { type: 'rate-limit', retryAfter: 1 },
  { type: 'reset' },
  { type: 'malformed-json' },
  { type: 'html', status: 502 },
  { type: 'html', status: 200 },
  { type: 'api-error', code: 'A108P004' },
  { type: 'api-error', code: 'A108B001' },
  { type: 'bad-grant', kind: 'zero-expires-in' },
  { type: 'bad-grant', kind: 'empty-token' },
  { type: 'latency', ms: 30 },
]
const API_MIX: Fault[] = [
  { type: 'hang' },
  { type: 'status', status: 503 },
  { type: 'status', status: 500, body: 'text' },
  { type: 'rate-limit', retryAfter: 1 },
  { type: 'reset' },
  { type: 'malformed-json' },
  { type: 'html', status: 502 },
  { type: 'html', status: 200 },
  { type: 'api-error', code: 'A108P001' },
  { type: 'api-error', code: 'A108B001' },
  { type: 'latency', ms: 30 },
]
const KNOWN_CODES = new Set(['ERR_TOKEN_TIMEOUT', 'ERR_TOKEN_HTTP', 'ERR_TOKEN_NETWORK', 'ERR_TOKEN_RESPONSE', 'ERR_ANYWEB_CREDENTIALS', 'ERR_ANYWEB_API'])
const KNOWN_STATUSES = new Set([200, 429, 500, 502, 503])

describe('10,000 requests through the fetch adapter under random faults', () => {
  it('every request is accounted for, none left pending', async () => {
    const random = prng(0x7a11)
    const log: RequestLogEntry[] = []
    const events: TokenManagerEvent[] = []
    const emu = createEmulator({ apps: { [APPID]: SECRET }, onRequest: (entry) => log.push(entry) })
    const manager = createTokenManager({
      appid: APPID,
      secret: SECRET,
      baseUrl: 'http://127.0.0.1',
      fetch: emu.fetch,
      timeout: 100,
      retry: RETRY,
      cooldown: 20,
      // Scaled like the cooldown: the waves revoke every token far more often than any real API would.
      refusalBackoff: { baseDelay: 20, maxDelay: 40 },
      random,
      onEvent: (event) => events.push(event),
    })
    cleanups.push(() => manager.close())
    const api = withServiceToken(emu.fetch, manager)

    const TOTAL = 10_000
    const WAVE = 500
    const tally = new Map<string, number>()
    const count = (key: string): void => {
      tally.set(key, (tally.get(key) ?? 0) + 1)
    }
    const leaked: string[] = []
    let settled = 0

    async function one(): Promise<void> {
      try {
        const response = await api('http://127.0.0.1' + CHECK, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ group }),
          signal: AbortSignal.timeout(300),
        })
        const text = await response.text()
        let code: unknown
        try {
          code = (JSON.parse(text) as { code?: unknown }).code
        } catch {
          code = undefined
        }
        if (response.status === 200 && code === 1000) count('ok')
        else if (KNOWN_STATUSES.has(response.status)) count(`status ${response.status}${typeof code === 'string' ? ` ${code}` : ''}`)
        else count(`UNKNOWN status ${response.status}`)
      } catch (error) {
        if (isServiceTokenError(error)) {
          count(KNOWN_CODES.has(error.code) ? error.code : `UNKNOWN code ${error.code}`)
          for (const text of [String(error), inspect(error, { depth: 10 })]) if (text.includes(SECRET)) leaked.push(text)
        } else if (error instanceof DOMException && error.name === 'TimeoutError') count('caller timeout (hang)')
        else if (error instanceof TypeError && error.message === 'fetch failed') count('network error (reset)')
        else count(`UNKNOWN ${String(error)}`)
      } finally {
        settled++
      }
    }

    for (let sent = 0; sent < TOTAL; sent += WAVE) {
      const faults = Math.floor(random() * 5)
      for (let i = 0; i < faults; i++) {
        const onToken = random() < 0.4
        const mix = onToken ? TOKEN_MIX : API_MIX
        const fault = mix[Math.floor(random() * mix.length)]!
        emu.inject(onToken ? 'serviceToken' : 'checkAddresses', fault, { times: 1 + Math.floor(random() * 3) })
      }
      // Sometimes the token is revoked mid-wave: the adapters must refresh once and replay.
      if (random() < 0.2) setTimeout(() => emu.revokeAll(), random() * 20)
      const wave = Array.from({ length: Math.min(WAVE, TOTAL - sent) }, one)
      const deadline = new Promise<'pending'>((resolve) => setTimeout(() => resolve('pending'), 5_000).unref())
      expect(await Promise.race([Promise.all(wave).then(() => 'done' as const), deadline])).toBe('done')
      emu.clearFaults()
      // Let a cooldown or backoff from this wave end before the next.
      await new Promise((resolve) => setTimeout(resolve, 60))
    }

    const total = [...tally.values()].reduce((sum, n) => sum + n, 0)
    console.log('10,000 requests under random faults:', Object.fromEntries([...tally].sort(([, a], [, b]) => b - a)))
    expect(settled).toBe(TOTAL)
    expect(total).toBe(TOTAL)
    expect([...tally.keys()].filter((key) => key.startsWith('UNKNOWN'))).toEqual([])
    expect(tally.get('ok') ?? 0).toBeGreaterThan(TOTAL / 2)
    expect(leaked).toEqual([])
    expect([...events.map((event) => inspect(event, { depth: 10 })), JSON.stringify(log)].filter((t) => t.includes(SECRET))).toEqual([])

    // And afterwards, with no fault left, it works.
    const response = await api('http://127.0.0.1' + CHECK, { method: 'POST', body: JSON.stringify({ group }) })
    expect(((await response.json()) as { code: unknown }).code).toBe(1000)
  })
})

describe('the whole file', () => {
  it('left no unhandled rejection', async () => {
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(unhandled.map((reason) => inspect(reason))).toEqual([])
  })
})
