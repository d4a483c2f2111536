import { describe, expect, it } from 'vitest'
import {
  AnyWebApiError,
  ConfigurationError,
  createTokenManager,
  ErrorCode,
  memoryStore,
  ServiceTokenError,
  TokenRequestError,
} from '../../src/index.js'
import type { SourceManagerOptions, StoredToken, TokenManagerEvent, TokenStore } from '../../src/index.js'
import { flush, useFakeClock } from '../helpers/clock.js'
import { countingSource } from '../helpers/source.js'

const HOUR = 3600

/** Observes a promise without awaiting it, to tell "resolved now" from "still waiting". */
function observe<T>(promise: Promise<T>) {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false }
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  )
  return state
}

function transient(retryAfterMs?: number): TokenRequestError {
  return new TokenRequestError(ErrorCode.Http, 'HTTP 503', retryAfterMs === undefined ? { status: 503 } : { status: 503, retryAfterMs })
}

function credentialsError(): AnyWebApiError {
  return new AnyWebApiError(ErrorCode.Credentials, 'bad secret', {
    serverCode: 'A108P004',
    serverMessage: 'secret invalid',
    retryable: false,
  })
}

function setup(options: Partial<SourceManagerOptions> & { auto?: boolean; expiresIn?: number } = {}) {
  const clock = useFakeClock()
  const { auto, expiresIn, ...rest } = options
  const counter = countingSource({ ...(auto === undefined ? {} : { auto }), ...(expiresIn === undefined ? {} : { expiresIn }) })
  const events: TokenManagerEvent[] = []
  const manager = createTokenManager({
    source: counter.source,
    now: clock.now,
    random: () => 0,
    onEvent: (event) => events.push(event),
    ...rest,
  })
  return { clock, counter, manager, events }
}

describe('single flight', () => {
  it('answers 1,000 concurrent callers with one token request', async () => {
    const { counter, manager } = setup()
    const waiting = Array.from({ length: 1000 }, () => manager.getToken())
    await flush()
    expect(counter.count).toBe(1)
    counter.last.resolve()
    const tokens = await Promise.all(waiting)
    expect(new Set(tokens)).toEqual(new Set(['token-1']))
    expect(counter.count).toBe(1)
  })

  it('serves the cached token without asking again', async () => {
    const { counter, manager } = setup({ auto: true })
    expect(await manager.getToken()).toBe('token-1')
    expect(await manager.getToken()).toBe('token-1')
    expect(counter.count).toBe(1)
  })

  it('joins a refresh already under way when refresh() is forced', async () => {
    const { counter, manager } = setup()
    const a = manager.refresh()
    const b = manager.refresh()
    const c = manager.getToken()
    await flush()
    expect(counter.count).toBe(1)
    counter.last.resolve()
    expect(await Promise.all([a, b, c])).toEqual(['token-1', 'token-1', 'token-1'])
  })
})

describe('expiry', () => {
  it('is anchored at the moment the request was sent, not when the answer arrived', async () => {
    const { clock, counter, manager } = setup()
    const start = clock.now()
    const token = manager.getToken()
    await flush()
    await clock.advance(3_000)
    counter.last.resolve({ expiresIn: 100 })
    await token
    expect(manager.peek()).toEqual({ token: 'token-1', expiresAt: start + 100_000 })
  })

  it('never hands out a token past its expiry: an expired token makes callers wait', async () => {
    const { clock, counter, manager } = setup({ auto: true, expiresIn: 60, refreshWindow: 0, expiryMargin: 0 })
    await manager.getToken()
    await clock.advance(60_000)
    expect(manager.peek()).toBeUndefined()
    expect(await manager.getToken()).toBe('token-2')
    expect(counter.count).toBe(2)
  })

  it('rejects a grant that arrives already expired', async () => {
    const { clock, counter, manager } = setup({ retry: { attempts: 1 } })
    const token = manager.getToken()
    await flush()
    await clock.advance(2_000)
    counter.last.resolve({ expiresIn: 1 })
    await expect(token).rejects.toMatchObject({ code: ErrorCode.InvalidResponse })
  })
})

describe('soft window (refresh ahead)', () => {
  it('refreshes in the background while every caller gets the cached token at once', async () => {
    const { clock, counter, manager, events } = setup({ expiresIn: HOUR })
    const first = manager.getToken()
    await flush()
    counter.last.resolve()
    await first
    // random() = 0 puts the refresh at the very start of the 5-minute window.
    await clock.advance(HOUR * 1000 - 300_000 - 1)
    expect(await manager.getToken()).toBe('token-1')
    expect(counter.count).toBe(1)
    await clock.advance(1)
    const during = Array.from({ length: 100 }, () => observe(manager.getToken()))
    await flush()
    expect(during.every((state) => state.settled && state.value === 'token-1')).toBe(true)
    expect(counter.count).toBe(2)
    expect(events.at(-1)).toEqual({ type: 'token-request', reason: 'ahead', attempt: 1 })
    counter.last.resolve()
    await flush()
    expect(await manager.getToken()).toBe('token-2')
    expect(counter.count).toBe(2)
  })

  // Capped at half the lifetime; its start jittered towards expiry by up to half the time between the
  // soft and the hard window's starts, never up to the hard window.
  it.each([
    // soft = min(300 s, 60 s / 2) = 30 s, hard = min(10 s, 60 s / 4) = 10 s: random 0.5 moves the start by a
    // quarter of the 20 s between them, to 25 s before expiry.
    { lifetime: 60, random: 0.5, startsAt: 35_000 },
    // soft = 1 s, hard = 0.5 s: at most a quarter of the 0.5 s between them, about 1.25 s after issue, leaving
    // 0.25 s before anyone would wait (jittered by half the soft window, it started at 1.4995 s).
    { lifetime: 2, random: 0.999, startsAt: 1_250 },
  ])('a $lifetime s token with random() = $random is refreshed from $startsAt ms on', async ({ lifetime, random, startsAt }) => {
    const clock = useFakeClock()
    const counter = countingSource({ auto: true, expiresIn: lifetime })
    const manager = createTokenManager({ source: counter.source, now: clock.now, random: () => random })
    await manager.getToken()
    await clock.advance(startsAt - 1)
    await manager.getToken()
    expect(counter.count).toBe(1)
    await clock.advance(1)
    await manager.getToken()
    await flush()
    expect(counter.count).toBe(2)
  })
})

describe('waitUntil', () => {
  it('gets every token request, cold and ahead, as a promise that settles when it ends, even on failure', async () => {
    const handed: Promise<unknown>[] = []
    const { clock, counter, manager } = setup({ expiresIn: HOUR, waitUntil: (work) => void handed.push(work) })
    const first = manager.getToken()
    await flush()
    expect(handed).toHaveLength(1)
    const cold = observe(handed[0]!)
    await flush()
    expect(cold.settled).toBe(false)
    counter.last.resolve()
    await first
    await flush()
    expect(cold).toEqual({ settled: true, value: undefined })
    // The second is the store write that followed.
    expect(handed).toHaveLength(2)
    await clock.advance(HOUR * 1000 - 300_000)
    expect(await manager.getToken()).toBe('token-1')
    expect(handed).toHaveLength(3)
    const ahead = observe(handed[2]!)
    counter.last.reject(transient())
    await clock.advance(60_000)
    expect(ahead).toEqual({ settled: true, value: undefined })
  })

  it('gets the store writes too (set after a token request, delete after an invalidation), settling when they end', async () => {
    const handed: Promise<unknown>[] = []
    let finishSet!: () => void
    const inner = memoryStore()
    const store: TokenStore = {
      get: (key) => inner.get(key),
      set: (key, value) => new Promise<void>((resolve) => (finishSet = () => resolve(inner.set(key, value)))),
      delete: (key, token) => inner.delete(key, token),
    }
    const { counter, manager } = setup({ store, waitUntil: (work) => void handed.push(work) })
    const first = manager.getToken()
    await flush()
    counter.last.resolve()
    expect(await first).toBe('token-1')
    await flush()
    expect(handed).toHaveLength(2)
    const write = observe(handed[1]!)
    await flush()
    expect(write.settled).toBe(false)
    finishSet()
    await flush()
    expect(write.settled).toBe(true)
    expect(manager.invalidate('token-1')).toBe(true)
    expect(handed).toHaveLength(3)
  })

  it('a waitUntil that throws does not fail the caller', async () => {
    const { counter, manager } = setup({
      waitUntil: () => {
        throw new Error('no request context')
      },
    })
    const token = manager.getToken()
    await flush()
    counter.last.resolve()
    expect(await token).toBe('token-1')
  })
})

describe('hard window', () => {
  it('makes callers wait for the new token in the last seconds', async () => {
    const { clock, counter, manager } = setup({ expiresIn: HOUR })
    const first = manager.getToken()
    await flush()
    counter.last.resolve()
    await first
    await clock.advance(HOUR * 1000 - 10_000)
    const waiting = observe(manager.getToken())
    await flush()
    expect(waiting.settled).toBe(false)
    expect(counter.count).toBe(2)
    counter.last.resolve()
    await flush()
    expect(waiting.value).toBe('token-2')
  })

  it('keeps serving the still-valid token when the refresh fails', async () => {
    const { clock, counter, manager } = setup({ expiresIn: HOUR, retry: { attempts: 1 }, random: () => 0.5 })
    const first = manager.getToken()
    await flush()
    counter.last.resolve()
    await first
    await clock.advance(HOUR * 1000 - 5_000)
    const waiting = manager.getToken()
    await flush()
    counter.last.reject(transient())
    expect(await waiting).toBe('token-1')
    // During the backoff nobody asks again, and the valid token is still served.
    expect(await manager.getToken()).toBe('token-1')
    expect(counter.count).toBe(2)
  })
})

describe('no refresh storm', () => {
  it('backs off by half the remaining time when a refreshed token does not expire later', async () => {
    const clock = useFakeClock()
    const expiry = clock.now() + HOUR * 1000
    let calls = 0
    // A provider that hands back the same token until it expires (as Feishu does).
    const manager = createTokenManager({
      source: async () => {
        calls++
        return { token: 'same', expiresIn: (expiry - Date.now()) / 1000 }
      },
      now: clock.now,
      random: () => 0,
    })
    await manager.getToken()
    // One call per second across the whole soft window and most of the hard one.
    for (let second = 0; second < HOUR - 2; second++) {
      await clock.advance(1000)
      await manager.getToken()
    }
    // 300 s window halved down to 1 s is about 9 refreshes, plus a few in the hard window.
    expect(calls).toBeGreaterThan(2)
    expect(calls).toBeLessThan(16)
  })
})

describe('compare-and-invalidate', () => {
  it('invalidates the current token and fetches a new one', async () => {
    const { counter, manager, events } = setup({ auto: true })
    const old = await manager.getToken()
    expect(manager.invalidate(old)).toBe(true)
    expect(manager.peek()).toBeUndefined()
    expect(await manager.getToken()).toBe('token-2')
    expect(counter.count).toBe(2)
    expect(events.some((event) => event.type === 'token-invalidated')).toBe(true)
  })

  it('ignores a late failure of an old token: no second refresh', async () => {
    const { counter, manager } = setup({ auto: true })
    const old = await manager.getToken()
    manager.invalidate(old)
    await manager.getToken()
    // Requests that used the old token keep failing after the refresh.
    for (let i = 0; i < 50; i++) expect(manager.invalidate(old)).toBe(false)
    expect(await manager.getToken()).toBe('token-2')
    expect(counter.count).toBe(2)
  })

  it('does not take back a token that a shared store still holds after invalidation', async () => {
    const store = memoryStore()
    const counter = countingSource({ auto: true })
    const manager = createTokenManager({ source: counter.source, store })
    const old = await manager.getToken()
    manager.invalidate(old)
    // Another process writes the old token back (it had not seen the failure yet).
    store.set('default', { token: old, expiresAt: Date.now() + 10_000_000, issuedAt: Date.now() })
    expect(await manager.getToken()).toBe('token-2')
  })
})

describe('transient failures', () => {
  it('retries with capped exponential backoff and full jitter, then reports the error', async () => {
    const { clock, counter, manager, events } = setup({ random: () => 0.5, retry: { attempts: 3, baseDelay: 100, maxDelay: 1000 } })
    const waiting = observe(manager.getToken())
    await flush()
    counter.last.reject(transient())
    await flush()
    // Delay 1: ceiling 100 ms × 0.5.
    await clock.advance(49)
    expect(counter.count).toBe(1)
    await clock.advance(1)
    expect(counter.count).toBe(2)
    counter.last.reject(transient())
    // Delay 2: ceiling 200 ms × 0.5.
    await clock.advance(99)
    expect(counter.count).toBe(2)
    await clock.advance(1)
    expect(counter.count).toBe(3)
    counter.last.reject(transient())
    await flush()
    expect(waiting.error).toBeInstanceOf(TokenRequestError)
    expect(waiting.error).toMatchObject({ code: ErrorCode.Http, status: 503 })
    const failures = events.filter((event) => event.type === 'token-request-failed')
    expect(failures.map((event) => event.type === 'token-request-failed' && event.retryInMs)).toEqual([50, 100, 200])
    // During the backoff callers get the last error at once instead of hammering the endpoint.
    await expect(manager.getToken()).rejects.toBe(waiting.error)
    expect(counter.count).toBe(3)
    await clock.advance(200)
    const recovered = manager.getToken()
    await flush()
    expect(counter.count).toBe(4)
    counter.last.resolve()
    expect(await recovered).toBe('token-1')
  })

  it('caps the backoff at maxDelay', async () => {
    const { clock, counter, manager, events } = setup({ random: () => 0.999, retry: { attempts: 1, baseDelay: 1000, maxDelay: 1500 } })
    for (let i = 0; i < 4; i++) {
      const waiting = manager.getToken()
      await flush()
      counter.last.reject(transient())
      await expect(waiting).rejects.toThrow()
      await clock.advance(1500)
    }
    const delays = events.flatMap((event) => (event.type === 'token-request-failed' ? [event.retryInMs] : []))
    // The ceiling stops growing at maxDelay; the jitter still applies below it, in whole milliseconds.
    expect(delays).toEqual([999, 1499, 1499, 1499])
  })

  it('honours Retry-After', async () => {
    const { clock, counter, manager } = setup({ retry: { attempts: 2, baseDelay: 10 } })
    const waiting = manager.getToken()
    await flush()
    counter.last.reject(transient(5_000))
    await clock.advance(4_999)
    expect(counter.count).toBe(1)
    await clock.advance(1)
    expect(counter.count).toBe(2)
    counter.last.resolve()
    expect(await waiting).toBe('token-1')
  })

  it('keeps serving a still-valid token while background refreshes fail', async () => {
    const { clock, counter, manager } = setup({ expiresIn: HOUR, retry: { attempts: 1, baseDelay: 10_000, maxDelay: 10_000 }, random: () => 0.5 })
    const first = manager.getToken()
    await flush()
    counter.last.resolve()
    await first
    await clock.advance(HOUR * 1000 - 200_000)
    for (let i = 0; i < 20; i++) {
      expect(await manager.getToken()).toBe('token-1')
      await flush()
      if (counter.count > 1 + i) counter.last.reject(transient())
      await clock.advance(1_000)
    }
    // One background attempt per backoff period, not one per call.
    expect(counter.count).toBeLessThanOrEqual(1 + 20 / 5 + 1)
    expect(counter.count).toBeGreaterThan(1)
  })

  it('wraps anything a custom source throws in ERR_TOKEN_SOURCE, keeping the cause', async () => {
    const { counter, manager } = setup({ retry: { attempts: 1 } })
    const waiting = manager.getToken()
    await flush()
    const cause = new Error('socket hang up')
    counter.last.reject(cause)
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.Source, cause, retryable: true })
  })

  it.each([
    ['an empty token', { token: '' }],
    ['a missing expiresIn', { expiresIn: undefined as unknown as number }],
    ['expiresIn 0', { expiresIn: 0 }],
    ['a negative expiresIn', { expiresIn: -5 }],
    ['a string expiresIn', { expiresIn: '7200' as unknown as number }],
    ['a huge expiresIn', { expiresIn: 1e12 }],
    ['NaN', { expiresIn: Number.NaN }],
  ])('rejects a grant with %s as ERR_TOKEN_RESPONSE', async (_name, grant) => {
    const { counter, manager } = setup({ retry: { attempts: 1 } })
    const waiting = manager.getToken()
    await flush()
    counter.last.resolve(grant)
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.InvalidResponse })
  })
})

describe('final errors', () => {
  it('does not retry a credential error and cools down before asking again', async () => {
    const { clock, counter, manager, events } = setup({ retry: { attempts: 5 }, cooldown: 30_000 })
    const waiting = manager.getToken()
    await flush()
    const error = credentialsError()
    counter.last.reject(error)
    await expect(waiting).rejects.toBe(error)
    expect(counter.count).toBe(1)
    const during = await Promise.allSettled(Array.from({ length: 100 }, () => manager.getToken()))
    expect(during.every((result) => result.status === 'rejected' && result.reason === error)).toBe(true)
    await expect(manager.refresh()).rejects.toBe(error)
    expect(counter.count).toBe(1)
    expect(events.filter((event) => event.type === 'token-request-failed')).toMatchObject([{ final: true, retryInMs: 30_000 }])
    await clock.advance(30_000)
    const again = manager.getToken()
    await flush()
    expect(counter.count).toBe(2)
    counter.last.resolve()
    expect(await again).toBe('token-1')
  })
})

describe('abort and timeout', () => {
  it('detaches only the caller whose signal aborts; the shared refresh goes on', async () => {
    const { counter, manager } = setup()
    const controller = new AbortController()
    const aborted = manager.getToken({ signal: controller.signal })
    const other = manager.getToken()
    await flush()
    controller.abort(new Error('caller gave up'))
    await expect(aborted).rejects.toThrow('caller gave up')
    expect(counter.last.context.signal.aborted).toBe(false)
    counter.last.resolve()
    expect(await other).toBe('token-1')
    expect(counter.count).toBe(1)
  })

  it('rejects at once with an already-aborted signal', async () => {
    const { counter, manager } = setup()
    await expect(manager.getToken({ signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' })
    expect(counter.count).toBe(0)
  })

  it('times out a source that never answers, even one that ignores its signal', async () => {
    const { clock, manager } = setup({ timeout: 2_000, retry: { attempts: 1 } })
    const waiting = observe(manager.getToken())
    await clock.advance(1_999)
    expect(waiting.settled).toBe(false)
    await clock.advance(1)
    expect(waiting.error).toMatchObject({ code: ErrorCode.Timeout })
  })
})

describe('close', () => {
  it('rejects waiters and later calls with ERR_CLOSED and aborts the token request', async () => {
    const { counter, manager } = setup()
    const waiting = manager.getToken()
    await flush()
    manager.close()
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.Closed })
    expect(counter.last.context.signal.aborted).toBe(true)
    await expect(manager.getToken()).rejects.toMatchObject({ code: ErrorCode.Closed })
    await expect(manager.refresh()).rejects.toMatchObject({ code: ErrorCode.Closed })
    expect(manager.peek()).toBeUndefined()
    manager.close()
  })

  it('stops a retry loop that is waiting for its backoff', async () => {
    const { counter, manager } = setup({ retry: { attempts: 3, baseDelay: 60_000 }, random: () => 0.5 })
    const waiting = manager.getToken()
    await flush()
    counter.last.reject(transient())
    await flush()
    manager[Symbol.dispose]()
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.Closed })
    expect(counter.count).toBe(1)
  })
})

describe('stores', () => {
  it('lets managers sharing a store share one token', async () => {
    const store = memoryStore()
    const counter = countingSource({ auto: true })
    const events: TokenManagerEvent[] = []
    const a = createTokenManager({ source: counter.source, store })
    const b = createTokenManager({ source: counter.source, store, onEvent: (event) => events.push(event) })
    expect(await a.getToken()).toBe('token-1')
    expect(await b.getToken()).toBe('token-1')
    expect(counter.count).toBe(1)
    expect(events.map((event) => event.type)).toEqual(['token-from-store'])
  })

  it('goes on with its own copy when the store fails, reporting the outage once and the recovery', async () => {
    const events: TokenManagerEvent[] = []
    let down = true
    const inner = memoryStore()
    const flaky: TokenStore = {
      get: (key) => (down ? Promise.reject(new Error('redis down')) : inner.get(key)),
      set: (key, value) => {
        if (down) throw new Error('redis down')
        return inner.set(key, value)
      },
      delete: (key, token) => (down ? Promise.reject(new Error('redis down')) : inner.delete(key, token)),
    }
    const counter = countingSource({ auto: true })
    const manager = createTokenManager({
      source: counter.source,
      store: flaky,
      // Two invalidations in a row of fresh tokens, on purpose: no refusal limit here.
      refusalBackoff: { baseDelay: 0 },
      onEvent: (event) => events.push(event),
    })
    const token = await manager.getToken()
    manager.invalidate(token)
    expect(await manager.getToken()).toBe('token-2')
    await flush()
    const storeEvents = () => events.filter((event) => event.type.startsWith('store-'))
    expect(storeEvents()).toEqual([{ type: 'store-error', operation: 'get', error: new Error('redis down') }])
    down = false
    manager.invalidate('token-2')
    expect(await manager.getToken()).toBe('token-3')
    await flush()
    expect(storeEvents().map((event) => event.type)).toEqual(['store-error', 'store-recovered'])
    expect(inner.get('default')).toMatchObject({ token: 'token-3' })
  })

  it('memoryStore deletes only the token it was told to (compare-and-delete) and drops expired entries', () => {
    let now = 0
    const store = memoryStore({ now: () => now })
    store.set('k', { token: 'a', expiresAt: 100, issuedAt: 0 })
    expect(store.delete('k', 'b')).toBe(false)
    expect(store.get('k')).toEqual({ token: 'a', expiresAt: 100, issuedAt: 0 })
    now = 100
    expect(store.get('k')).toBeUndefined()
    store.set('k', { token: 'a', expiresAt: 200, issuedAt: 0 })
    expect(store.delete('k', 'a')).toBe(true)
    expect(store.get('k')).toBeUndefined()
  })
})

describe('events', () => {
  it('reports each request and refresh, never the token, and ignores a throwing listener', async () => {
    const { manager, events } = setup({ auto: true })
    await manager.getToken()
    expect(events).toEqual([
      { type: 'token-request', reason: 'missing', attempt: 1 },
      expect.objectContaining({ type: 'token-refreshed', reason: 'missing', attempt: 1, advanced: true }),
    ])
    expect(JSON.stringify(events)).not.toContain('token-1')
    const counter = countingSource({ auto: true })
    const noisy = createTokenManager({
      source: counter.source,
      onEvent: () => {
        throw new Error('listener bug')
      },
    })
    expect(await noisy.getToken()).toBe('token-1')
  })
})

describe('configuration errors', () => {
  const source = async () => ({ token: 't', expiresIn: 1 })
  it.each([
    ['options', undefined],
    ['appid', { secret: 'x' }],
    ['appid', { appid: 42, secret: 'x' }],
    ['secret', { appid: 'a' }],
    ['secret', { appid: 'a', secret: '   ' }],
    ['baseUrl', { appid: 'a', secret: 'x', baseUrl: 'not a url' }],
    ['baseUrl', { appid: 'a', secret: 'x', baseUrl: 'http://api.anyweb.cc' }],
    ['baseUrl', { appid: 'a', secret: 'x', baseUrl: 'https://api.anyweb.cc/?q=1' }],
    ['source', { source, appid: 'a', secret: 'x' }],
    ['source', { source: 'not a function' }],
    ['fetch', { appid: 'a', secret: 'x', fetch: 'nope' }],
    ['refreshWindow', { source, refreshWindow: -1 }],
    ['expiryMargin', { source, expiryMargin: Number.NaN }],
    ['timeout', { source, timeout: 0 }],
    ['retry.attempts', { source, retry: { attempts: 1.5 } }],
    ['retry.maxDelay', { source, retry: { maxDelay: Number.POSITIVE_INFINITY } }],
    ['store', { source, store: {} }],
    ['storeKey', { source, storeKey: '' }],
    ['now', { source, now: 5 }],
    ['onEvent', { source, onEvent: 'log' }],
  ])('rejects a bad %s synchronously with ERR_INVALID_OPTION', (option, options) => {
    let caught: unknown
    try {
      createTokenManager(options as never)
    } catch (error) {
      caught = error
    }
    expect(caught).toBeInstanceOf(ConfigurationError)
    expect(caught).toBeInstanceOf(ServiceTokenError)
    expect(caught).toMatchObject({ code: ErrorCode.InvalidOption, option, name: 'ConfigurationError' })
  })

  it('accepts http only on loopback addresses', () => {
    for (const baseUrl of ['http://127.0.0.1:8787', 'http://localhost:1', 'http://[::1]:2', 'https://api.anyweb.cc/']) {
      const manager = createTokenManager({ appid: 'a', secret: 'x', baseUrl })
      expect(manager.tokenUrl).toBe(`${baseUrl.replace(/\/$/, '')}/service/serviceToken`)
    }
  })

  it('never puts the secret in a configuration error', () => {
    const secret = 'TOP-SECRET-VALUE'
    for (const options of [{ appid: '', secret }, { appid: 'a', secret, baseUrl: 'ftp://x' }, { appid: 'a', secret, timeout: -1 }]) {
      expect(() => createTokenManager(options)).toThrow(ConfigurationError)
      try {
        createTokenManager(options)
      } catch (error) {
        expect(JSON.stringify(error) + String(error) + (error as Error).stack).not.toContain(secret)
      }
    }
  })
})

describe('browser guard', () => {
  function asBrowser<T>(run: () => T): T {
    const scope = globalThis as Record<string, unknown>
    const saved = scope.process
    scope.window = {}
    scope.document = {}
    scope.process = undefined
    try {
      return run()
    } finally {
      scope.process = saved
      delete scope.window
      delete scope.document
    }
  }

  it('refuses a secret in a browser-like runtime, explaining why', () => {
    const error = asBrowser(() => {
      try {
        createTokenManager({ appid: 'a', secret: 'browser-secret' })
      } catch (caught) {
        return caught
      }
      return undefined
    })
    expect(error).toBeInstanceOf(ConfigurationError)
    expect(error).toMatchObject({ option: 'dangerouslyAllowBrowser' })
    expect((error as Error).message).toContain('public')
    expect((error as Error).message).not.toContain('browser-secret')
  })

  it('allows it with dangerouslyAllowBrowser, and always allows a custom source', () => {
    asBrowser(() => {
      expect(createTokenManager({ appid: 'a', secret: 's', dangerouslyAllowBrowser: true }).tokenUrl).toBeDefined()
      expect(createTokenManager({ source: async () => ({ token: 't', expiresIn: 1 }) }).baseUrl).toBeUndefined()
    })
  })
})

describe('store.refresh (cross-manager single flight)', () => {
  /** An in-process stand-in for a lock-based store: one fetch at a time, waiters take its result. */
  function coordinatingStore(failure?: 'before-fetch' | 'after-fetch') {
    const inner = memoryStore()
    let lock: Promise<StoredToken> | undefined
    const store: TokenStore = {
      get: (key) => inner.get(key),
      set: (key, value) => inner.set(key, value),
      delete: (key, token) => inner.delete(key, token),
      async refresh(key, { fetch, isFresh }) {
        if (failure === 'before-fetch') throw new Error('lock service down')
        if (lock) return lock
        const current = inner.get(key) as StoredToken | undefined
        if (current !== undefined && isFresh(current)) return current
        lock = fetch().then((token) => {
          if (failure === 'after-fetch') throw new Error('write failed')
          inner.set(key, token)
          return token
        })
        try {
          return await lock
        } finally {
          lock = undefined
        }
      },
    }
    return store
  }

  it('lets only one of several managers fetch', async () => {
    const store = coordinatingStore()
    const counter = countingSource({ auto: true })
    const managers = Array.from({ length: 5 }, () => createTokenManager({ source: counter.source, store }))
    const tokens = await Promise.all(managers.flatMap((manager) => Array.from({ length: 20 }, () => manager.getToken())))
    expect(new Set(tokens)).toEqual(new Set(['token-1']))
    expect(counter.count).toBe(1)
  })

  it('keeps the token it fetched when the store fails afterwards (no second request)', async () => {
    const events: TokenManagerEvent[] = []
    const counter = countingSource({ auto: true })
    const manager = createTokenManager({ source: counter.source, store: coordinatingStore('after-fetch'), onEvent: (event) => events.push(event) })
    expect(await manager.getToken()).toBe('token-1')
    expect(counter.count).toBe(1)
    expect(events.filter((event) => event.type === 'store-error')).toMatchObject([{ operation: 'refresh' }])
  })

  it('falls back to its own single flight when the store cannot coordinate', async () => {
    const counter = countingSource({ auto: true })
    const manager = createTokenManager({ source: counter.source, store: coordinatingStore('before-fetch') })
    const tokens = await Promise.all(Array.from({ length: 50 }, () => manager.getToken()))
    expect(new Set(tokens)).toEqual(new Set(['token-1']))
    expect(counter.count).toBe(1)
  })

  it('reports the provider error from inside the store, without a second request or a store-error', async () => {
    const counter = countingSource()
    const events: TokenManagerEvent[] = []
    const manager = createTokenManager({
      source: counter.source,
      store: coordinatingStore(),
      retry: { attempts: 1 },
      onEvent: (event) => events.push(event),
    })
    const waiting = manager.getToken()
    await flush()
    counter.last.reject(credentialsError())
    await expect(waiting).rejects.toMatchObject({ code: ErrorCode.Credentials })
    expect(counter.count).toBe(1)
    expect(events.filter((event) => event.type.startsWith('store-'))).toEqual([])
  })
})

describe('unknown options', () => {
  it('are rejected, with the likely intended name (baseURL → baseUrl)', () => {
    expect(() => createTokenManager({ appid: 'a', secret: 's', baseURL: 'http://127.0.0.1:1' } as never)).toThrow(
      'Invalid option `baseURL`: is not an option; did you mean `baseUrl`?',
    )
    expect(() => createTokenManager({ source: async () => ({ token: 't', expiresIn: 1 }), timeOut: 5 } as never)).toThrow(
      /`timeOut`.*did you mean `timeout`/,
    )
    expect(() => createTokenManager({ source: async () => ({ token: 't', expiresIn: 1 }), retry: { tries: 2 } } as never)).toThrow(
      'Invalid option `retry.tries`: is not an option',
    )
    expect(() => createTokenManager({ source: async () => ({ token: 't', expiresIn: 1 }), colour: 'blue' } as never)).toThrow(ConfigurationError)
  })
})
