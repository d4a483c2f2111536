import { context, metrics as globalMetrics, SpanKind, trace } from '@opentelemetry/api'
import type { Span } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import axios from 'axios'
import { attachServiceToken } from '../../adapters/axios.js'
import { withServiceToken } from '../../adapters/fetch.js'
import { createEmulator } from '../../src/emulator/index.js'
import type { EmulatorOptions } from '../../src/emulator/index.js'
import { createTokenManager, isServiceTokenError } from '../../src/index.js'
import type { CommonManagerOptions, StoredToken, TokenManager, TokenManagerEvent, TokenStore } from '../../src/index.js'
import { instrument } from '../../src/otel/index.js'
import { attributeSets, createSdk, total } from './sdk.js'
import type { Sdk } from './sdk.js'

const APPID = 'otel-app'
const SECRET = 'otel-secret-0f3a9c'
const BASE = 'http://127.0.0.1'
const CHECK = `${BASE}/service/checkAddresses`

/** A manager and a fetch adapter against an in-process emulator, with one clock for both, and the SDK. */
function setUp(options: { emulator?: EmulatorOptions; manager?: Partial<CommonManagerOptions>; secret?: string } = {}) {
  let clock = Date.UTC(2026, 0, 1)
  const now = (): number => clock
  const emu = createEmulator({ apps: { [APPID]: SECRET }, users: { u1: ['cfx:aa'] }, tokenTtl: 600, now, ...options.emulator })
  const manager = createTokenManager({ appid: APPID, secret: options.secret ?? SECRET, baseUrl: BASE, fetch: emu.fetch, now, random: () => 0, ...options.manager })
  const api = withServiceToken(emu.fetch, manager)
  const sdk = createSdk()
  const stop = instrument(manager, { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider })
  /** Every token the manager held, to search the exported data for. */
  const tokens = new Set<string>()
  const check = async (): Promise<number> => {
    const response = await api(CHECK, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group: { u1: ['cfx:aa'] } }) })
    const token = manager.peek()?.token
    if (token !== undefined) tokens.add(token)
    return ((await response.json()) as { code: number }).code
  }
  cleanups.push(async () => {
    stop()
    manager.close()
    await sdk.shutdown()
  })
  return { emu, manager, api, sdk, stop, tokens, check, advance: (ms: number) => void (clock += ms) }
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
})

/** The secret and every token searched for in everything exported. */
async function expectNoSecrets(sdk: Sdk, tokens: Iterable<string>): Promise<void> {
  const text = await sdk.everything()
  expect(text.length).toBeGreaterThan(200)
  for (const token of tokens) {
    expect(token.length).toBeGreaterThan(20)
    expect(text.includes(token), 'a token in the exported data').toBe(false)
  }
  expect(text.includes(SECRET), 'the secret in the exported data').toBe(false)
}

/** Waits (bounded) until the manager's background refresh has settled. */
async function settled(manager: TokenManager, before: string | undefined): Promise<void> {
  for (let i = 0; i < 200 && manager.peek()?.token === before; i++) await new Promise((resolve) => setTimeout(resolve, 5))
}

describe('instrument(manager): metrics and spans with the OTel SDK, against the emulator', () => {
  it('cold start: one refresh (cold), one token request and its span; callers that waited, then cache hits', async () => {
    const { sdk, check, tokens } = setUp()
    expect(await Promise.all([check(), check(), check()])).toEqual([1000, 1000, 1000])
    expect(await check()).toBe(1000)

    const metrics = await sdk.metrics()
    expect(total(metrics, 'anyweb.token.refreshes')).toBe(1)
    expect(total(metrics, 'anyweb.token.refreshes', { 'anyweb.token.refresh.reason': 'cold' })).toBe(1)
    expect(attributeSets(metrics, 'anyweb.token.requests')).toEqual([{ 'anyweb.token.outcome': 'success' }])
    expect(total(metrics, 'anyweb.token.requests')).toBe(1)
    expect(total(metrics, 'anyweb.token.request.duration')).toBe(1)
    const duration = metrics.find((metric) => metric.descriptor.name === 'anyweb.token.request.duration')!
    expect(duration.descriptor.unit).toBe('s')
    expect(total(metrics, 'anyweb.token.cache.answers', { 'anyweb.token.cache.result': 'waited' })).toBe(3)
    expect(total(metrics, 'anyweb.token.cache.answers', { 'anyweb.token.cache.result': 'hit' })).toBe(1)
    for (const quiet of ['anyweb.token.replays', 'anyweb.token.auth_errors', 'anyweb.token.store.errors', 'anyweb.token.invalidations']) {
      expect(total(metrics, quiet), quiet).toBe(0)
    }

    const spans = sdk.spans()
    expect(spans.map((span) => span.name)).toEqual(['anyweb.token.request'])
    expect(spans[0]!.attributes).toEqual({ 'anyweb.token.refresh.reason': 'cold', 'anyweb.token.attempt': 1 })
    expect(spans[0]!.status.code).toBe(0) // UNSET: success
    await expectNoSecrets(sdk, tokens)
  })

  it('refresh ahead (injected clock): the caller gets the cached token (a hit), the refresh runs behind it with reason ahead', async () => {
    const { sdk, check, manager, advance, tokens } = setUp()
    expect(await check()).toBe(1000)
    const first = manager.peek()?.token
    advance(350_000) // past the soft window's start (tokenTtl 600 s: it opens at 300 s), before the hard one
    expect(await check()).toBe(1000)
    await settled(manager, first)
    expect(manager.peek()?.token).not.toBe(first)
    tokens.add(manager.peek()!.token)

    const metrics = await sdk.metrics()
    expect(total(metrics, 'anyweb.token.refreshes', { 'anyweb.token.refresh.reason': 'cold' })).toBe(1)
    expect(total(metrics, 'anyweb.token.refreshes', { 'anyweb.token.refresh.reason': 'ahead' })).toBe(1)
    expect(total(metrics, 'anyweb.token.requests', { 'anyweb.token.outcome': 'success' })).toBe(2)
    expect(total(metrics, 'anyweb.token.cache.answers', { 'anyweb.token.cache.result': 'waited' })).toBe(1)
    expect(total(metrics, 'anyweb.token.cache.answers', { 'anyweb.token.cache.result': 'hit' })).toBe(1)
    expect(sdk.spans().map((span) => span.attributes['anyweb.token.refresh.reason'])).toEqual(['cold', 'ahead'])
    await expectNoSecrets(sdk, tokens)
  })

  describe('revocation, in the caller context', () => {
    const contextManager = new AsyncLocalStorageContextManager()
    beforeAll(() => void context.setGlobalContextManager(contextManager.enable()))
    afterAll(() => {
      context.disable()
    })

    /**
     * Sends one request inside a span of its own, as an instrumented caller would (a CLIENT span around
     * the HTTP call, unless `kind` says otherwise), and returns that span's data.
     */
    async function inCallerSpan(sdk: Sdk, check: () => Promise<number>, kind: SpanKind = SpanKind.CLIENT): Promise<{ code: number; id: string }> {
      const tracer = sdk.tracerProvider.getTracer('caller')
      return tracer.startActiveSpan('caller', { kind }, async (span: Span) => {
        try {
          return { code: await check(), id: span.spanContext().spanId }
        } finally {
          span.end()
        }
      })
    }

    it.each([
      ['body-code', {}],
      ['http-401', { errorStatus: 401 }],
    ] as const)('one auth error (%s), one matched invalidation, one refresh (invalidated), one replay: resend_count 1 on the caller span', async (kind, emulator) => {
      const { sdk, check, emu, tokens } = setUp({ emulator })
      expect(await check()).toBe(1000)
      emu.revokeAll()
      const { code, id } = await inCallerSpan(sdk, check)
      expect(code).toBe(1000)

      const metrics = await sdk.metrics()
      expect(total(metrics, 'anyweb.token.auth_errors')).toBe(1)
      expect(total(metrics, 'anyweb.token.auth_errors', { 'anyweb.token.auth_error.kind': kind })).toBe(1)
      expect(total(metrics, 'anyweb.token.invalidations', { 'anyweb.token.invalidation.outcome': 'matched' })).toBe(1)
      expect(total(metrics, 'anyweb.token.refreshes', { 'anyweb.token.refresh.reason': 'invalidated' })).toBe(1)
      expect(total(metrics, 'anyweb.token.replays')).toBe(1)

      const spans = sdk.spans()
      const caller = spans.find((span) => span.name === 'caller')!
      expect(caller.attributes['http.request.resend_count']).toBe(1)
      // The token request the revocation caused ran in the caller's context: a child of its span.
      const renewal = spans.filter((span) => span.name === 'anyweb.token.request')[1]!
      expect(renewal.attributes['anyweb.token.refresh.reason']).toBe('invalidated')
      expect(renewal.parentSpanContext?.spanId).toBe(id)
      // A request that was not replayed carries no resend count.
      const plain = await inCallerSpan(sdk, check)
      expect(sdk.spans().find((span) => span.spanContext().spanId === plain.id)!.attributes).toEqual({})
      await expectNoSecrets(sdk, tokens)
    })

    it.each([
      ['SERVER', SpanKind.SERVER],
      ['INTERNAL', SpanKind.INTERNAL],
    ] as const)('a replay under a %s span (an incoming request, a job): resend_count is not set on it, the replay is counted', async (_, kind) => {
      const { sdk, check, emu } = setUp()
      expect(await check()).toBe(1000)
      emu.revokeAll()
      const { code, id } = await inCallerSpan(sdk, check, kind)
      expect(code).toBe(1000)
      expect(total(await sdk.metrics(), 'anyweb.token.replays')).toBe(1)
      const caller = sdk.spans().find((span) => span.spanContext().spanId === id)!
      expect(caller.kind).toBe(kind)
      expect(caller.attributes).toEqual({})
    })

    it('through axios (on a loopback port): the replay sets resend_count on the caller span too', async () => {
      const emu = createEmulator({ apps: { [APPID]: SECRET }, users: { u1: ['cfx:aa'] } })
      const server = await emu.listen()
      const manager = createTokenManager({ appid: APPID, secret: SECRET, baseUrl: server.url })
      const sdk = createSdk()
      const stop = instrument(manager, { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider })
      const client = axios.create({ baseURL: server.url })
      attachServiceToken(client, manager)
      cleanups.push(async () => {
        stop()
        manager.close()
        await sdk.shutdown()
        await server.close()
      })
      const check = async (): Promise<number> => ((await client.post('/service/checkAddresses', { group: { u1: ['cfx:aa'] } })).data as { code: number }).code
      expect(await check()).toBe(1000)
      const first = manager.peek()!.token
      emu.revokeAll()
      const { code } = await inCallerSpan(sdk, check)
      expect(code).toBe(1000)
      expect(sdk.spans().find((span) => span.name === 'caller')!.attributes['http.request.resend_count']).toBe(1)
      const metrics = await sdk.metrics()
      expect(total(metrics, 'anyweb.token.auth_errors', { 'anyweb.token.auth_error.kind': 'body-code' })).toBe(1)
      expect(total(metrics, 'anyweb.token.replays')).toBe(1)
      await expectNoSecrets(sdk, [first, manager.peek()!.token])
    })
  })

  it('a wrong secret: the token request span has error.type = the AnyWeb code, status ERROR; the failure is counted by code', async () => {
    const { sdk, manager } = setUp({ secret: 'not-the-secret' })
    const error = await manager.getToken().catch((caught: unknown) => caught)
    expect(isServiceTokenError(error, 'ERR_ANYWEB_CREDENTIALS')).toBe(true)
    const code = (error as { serverCode: string }).serverCode
    expect(code).toBe('A108P004')

    const [span, ...others] = sdk.spans()
    expect(others).toEqual([])
    expect(span!.attributes['error.type']).toBe(code)
    expect(span!.status.code).toBe(2) // ERROR
    const metrics = await sdk.metrics()
    expect(attributeSets(metrics, 'anyweb.token.requests')).toEqual([{ 'anyweb.token.outcome': 'failure', 'error.type': code }])
    expect(total(metrics, 'anyweb.token.request.duration', { 'error.type': code })).toBe(1)
    const text = await sdk.everything()
    expect(text.includes('not-the-secret')).toBe(false)
    expect(text.includes(SECRET)).toBe(false)
  })

  it('a store outage: every failed store call counted by operation and error.type; a lock wait counted', async () => {
    const down = (): never => {
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })
    }
    let calls = 0
    const store: TokenStore = {
      get: down,
      set: down,
      delete: down,
      // Finds another manager refreshing once, waits, then is down.
      async refresh(_key, coordination): Promise<StoredToken> {
        if (calls++ === 0) coordination.onLockWait?.()
        return down()
      },
    }
    const { sdk, check, tokens } = setUp({ manager: { store } })
    expect(await check()).toBe(1000)
    await new Promise((resolve) => setTimeout(resolve, 10)) // the store's `set` runs behind the callers

    const metrics = await sdk.metrics()
    expect(total(metrics, 'anyweb.token.store.errors', { 'anyweb.token.store.operation': 'get', 'error.type': 'ECONNREFUSED' })).toBe(1)
    expect(total(metrics, 'anyweb.token.store.errors', { 'anyweb.token.store.operation': 'refresh' })).toBe(1)
    expect(total(metrics, 'anyweb.token.store.errors', { 'anyweb.token.store.operation': 'set' })).toBe(1)
    expect(total(metrics, 'anyweb.token.store.lock_waits')).toBe(1)
    expect(total(metrics, 'anyweb.token.requests', { 'anyweb.token.outcome': 'success' })).toBe(1)
    await expectNoSecrets(sdk, tokens)
  })

  it('refresh reasons: expired (the hard window, or past expiry) and forced (refresh())', async () => {
    const { sdk, manager, advance } = setUp()
    await manager.getToken()
    advance(595_000) // 5 s before expiry: inside the 10 s expiry margin
    await manager.getToken()
    await manager.refresh()
    advance(700_000) // past the expiry of the forced one: the manager still holds it, expired
    await manager.getToken()
    const metrics = await sdk.metrics()
    expect(attributeSets(metrics, 'anyweb.token.refreshes').map((set) => set['anyweb.token.refresh.reason'])).toEqual(['cold', 'expired', 'forced'])
    expect(total(metrics, 'anyweb.token.refreshes', { 'anyweb.token.refresh.reason': 'expired' })).toBe(2)
    expect(total(metrics, 'anyweb.token.cache.answers', { 'anyweb.token.cache.result': 'waited' })).toBe(3)
  })

  it('the auth-error event reaches onEvent too (kind and status, nothing else)', async () => {
    const events: TokenManagerEvent[] = []
    const { check, emu } = setUp({ manager: { onEvent: (event) => events.push(event) } })
    expect(await check()).toBe(1000)
    emu.revokeAll()
    expect(await check()).toBe(1000)
    expect(events.filter((event) => event.type === 'auth-error')).toEqual([{ type: 'auth-error', kind: 'body-code', status: 200 }])
  })

  it('invalidations by outcome: matched, stale (a token no longer current), kept (a fresh token within refusalBackoff)', async () => {
    const { sdk, manager } = setUp()
    const first = await manager.getToken()
    expect(manager.invalidate(first)).toBe(true)
    expect(manager.invalidate(first)).toBe(false)
    const second = await manager.getToken()
    expect(manager.invalidate(second)).toBe(false) // refused moments after the first: kept (refusalBackoff)
    const metrics = await sdk.metrics()
    expect(total(metrics, 'anyweb.token.invalidations', { 'anyweb.token.invalidation.outcome': 'matched' })).toBe(1)
    expect(total(metrics, 'anyweb.token.invalidations', { 'anyweb.token.invalidation.outcome': 'stale' })).toBe(1)
    expect(total(metrics, 'anyweb.token.invalidations', { 'anyweb.token.invalidation.outcome': 'kept' })).toBe(1)
    await expectNoSecrets(sdk, [first, second])
  })

  it('stop(): no data after it, the manager and adapters go on', async () => {
    const { sdk, check, stop, emu } = setUp()
    expect(await check()).toBe(1000)
    const before = await sdk.metrics()
    const spansBefore = sdk.spans().length
    stop()
    stop() // idempotent
    emu.revokeAll()
    expect(await check()).toBe(1000)
    expect(await check()).toBe(1000)
    const after = await sdk.metrics()
    for (const name of ['anyweb.token.requests', 'anyweb.token.refreshes', 'anyweb.token.cache.answers', 'anyweb.token.replays', 'anyweb.token.auth_errors']) {
      expect(total(after, name), name).toBe(total(before, name))
    }
    expect(sdk.spans().length).toBe(spansBefore)
  })

  it('a token request under way when the manager closes ends its span (ERR_CLOSED)', async () => {
    const { sdk, manager, emu } = setUp()
    emu.inject('serviceToken', { type: 'hang' }, { times: 1 })
    const waiting = manager.getToken().catch((error: unknown) => error)
    await new Promise((resolve) => setTimeout(resolve, 10))
    manager.close()
    expect(isServiceTokenError(await waiting, 'ERR_CLOSED')).toBe(true)
    await new Promise((resolve) => setTimeout(resolve, 10))
    const [span] = sdk.spans()
    expect(span?.attributes['error.type']).toBe('ERR_CLOSED')
    expect(total(await sdk.metrics(), 'anyweb.token.requests', { 'error.type': 'ERR_CLOSED' })).toBe(1)
  })

  it('defaults to the global providers; refuses a manager not made by createTokenManager', async () => {
    const sdk = createSdk()
    globalMetrics.setGlobalMeterProvider(sdk.meterProvider)
    trace.setGlobalTracerProvider(sdk.tracerProvider)
    const emu = createEmulator({ apps: { [APPID]: SECRET } })
    const manager = createTokenManager({ appid: APPID, secret: SECRET, baseUrl: BASE, fetch: emu.fetch })
    try {
      const stop = instrument(manager)
      await manager.getToken()
      stop()
      expect(total(await sdk.metrics(), 'anyweb.token.requests')).toBe(1)
      expect(sdk.spans()).toHaveLength(1)
    } finally {
      globalMetrics.disable()
      trace.disable()
      manager.close()
      await sdk.shutdown()
    }
    const byHand: TokenManager = {
      getToken: async () => 'x',
      refresh: async () => 'x',
      invalidate: () => false,
      peek: () => undefined,
      close: () => undefined,
      [Symbol.dispose]: () => undefined,
      baseUrl: BASE,
      tokenUrl: undefined,
    }
    expect(() => instrument(byHand)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
  })
})
