import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createTokenManager } from '../../src/index.js'
import type { TokenManager } from '../../src/index.js'
import { instrument } from '../../src/otel/index.js'
import { redisStore } from '../../src/redis-store.js'
import { hasRedisServer, startRedis, waitFor } from '../helpers/redis.js'
import { countingSource } from '../helpers/source.js'
import { createSdk, total } from './sdk.js'
import type { Sdk } from './sdk.js'

const enabled = hasRedisServer()

describe.skipIf(!enabled)('instrument(manager) with the Redis store (a real redis-server)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>
  const clients: Redis[] = []
  const managers: TokenManager[] = []
  const sdks: Sdk[] = []
  const client = (options: { enableOfflineQueue?: boolean } = {}): Redis => {
    const created = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1, ...options })
    created.on('error', () => {})
    clients.push(created)
    return created
  }
  const instrumented = (manager: TokenManager): Sdk => {
    const sdk = createSdk()
    sdks.push(sdk)
    instrument(manager, { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider })
    return sdk
  }

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterEach(async () => {
    for (const manager of managers.splice(0)) manager.close()
    for (const sdk of sdks.splice(0)) await sdk.shutdown()
    await clients[0]?.flushall().catch(() => {})
    for (const created of clients.splice(0)) created.disconnect()
  })
  afterAll(async () => {
    await redis?.dispose()
  })

  it('a manager that finds another one refreshing counts a lock wait, and takes its token without a request', async () => {
    const counter = countingSource()
    const a = createTokenManager({ source: counter.source, store: redisStore(client()) })
    const b = createTokenManager({ source: counter.source, store: redisStore(client()) })
    managers.push(a, b)
    const sdk = instrumented(b)
    const first = a.getToken()
    await waitFor(() => counter.count === 1, 5_000, 'a to ask for a token')
    const second = b.getToken()
    await waitFor(async () => total(await sdk.metrics(), 'anyweb.token.store.lock_waits') === 1, 5_000, 'b to wait for the lock')
    counter.last.resolve()
    expect(await Promise.all([first, second])).toEqual(['token-1', 'token-1'])
    const metrics = await sdk.metrics()
    expect(total(metrics, 'anyweb.token.store.lock_waits')).toBe(1)
    expect(total(metrics, 'anyweb.token.refreshes', { 'anyweb.token.refresh.reason': 'cold' })).toBe(1)
    expect(total(metrics, 'anyweb.token.requests')).toBe(0)
    expect(counter.count).toBe(1)
  })

  it('a Redis outage: each failed store call is counted with error.type ERR_STORE_UNAVAILABLE; tokens still flow', async () => {
    const counter = countingSource({ auto: true })
    const manager = createTokenManager({ source: counter.source, store: redisStore(client({ enableOfflineQueue: false }), { commandTimeout: 300 }), refusalBackoff: { baseDelay: 0 } })
    managers.push(manager)
    const sdk = instrumented(manager)
    expect(await manager.getToken()).toBe('token-1')
    await redis.stop()
    try {
      for (let round = 2; round <= 3; round++) {
        manager.invalidate(manager.peek()!.token)
        expect(await manager.getToken()).toBe(`token-${round}`)
      }
      await waitFor(async () => total(await sdk.metrics(), 'anyweb.token.store.errors', { 'anyweb.token.store.operation': 'set' }) >= 2, 5_000, 'the sets to fail')
      const metrics = await sdk.metrics()
      const failed = total(metrics, 'anyweb.token.store.errors')
      expect(total(metrics, 'anyweb.token.store.errors', { 'error.type': 'ERR_STORE_UNAVAILABLE' })).toBe(failed)
      // Each refresh in the outage: get, refresh and set failed; and the compare-and-delete of each invalidation.
      for (const operation of ['get', 'refresh', 'set', 'delete']) {
        expect(total(metrics, 'anyweb.token.store.errors', { 'anyweb.token.store.operation': operation }), operation).toBe(2)
      }
      expect(total(metrics, 'anyweb.token.requests', { 'anyweb.token.outcome': 'success' })).toBe(3)
    } finally {
      await redis.start()
    }
  })
})
