import { Redis } from 'ioredis'
import { createClient } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConfigurationError, createTokenManager, ErrorCode, isServiceTokenError } from '../../src/index.js'
import type { TokenManager, TokenManagerEvent } from '../../src/index.js'
import { redisStore } from '../../src/redis-store.js'
import type { RedisClientLike } from '../../src/redis-store.js'
import { flush } from '../helpers/clock.js'
import { json, startServer } from '../helpers/http-server.js'
import { hasRedisServer, startRedis, waitFor } from '../helpers/redis.js'
import { countingSource } from '../helpers/source.js'

const enabled = hasRedisServer()
if (!enabled) console.warn('redis-server not installed: skipping the Redis store tests (CI installs it).')

describe.skipIf(!enabled)('redisStore against a real redis-server', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>
  const clients: Redis[] = []
  const managers: TokenManager[] = []
  const client = (options: { enableOfflineQueue?: boolean } = {}) => {
    const created = new Redis(redis.port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 1, ...options })
    // Outages are part of the test; without a listener ioredis prints every reconnect failure.
    created.on('error', () => {})
    clients.push(created)
    return created
  }
  const track = (manager: TokenManager) => {
    managers.push(manager)
    return manager
  }

  beforeAll(async () => {
    redis = await startRedis()
  })
  afterEach(async () => {
    for (const manager of managers.splice(0)) manager.close()
    await clients[0]?.flushall().catch(() => {})
    for (const created of clients.splice(0)) created.disconnect()
  })
  afterAll(async () => {
    await redis?.dispose()
  })

  it('stores with a TTL and deletes only the token it is told to (compare-and-delete)', async () => {
    const redisClient = client()
    const store = redisStore(redisClient, { prefix: 'test:' })
    const expiresAt = Date.now() + 60_000
    await store.set('k', { token: 'a', expiresAt, issuedAt: 1 })
    expect(await store.get('k')).toEqual({ token: 'a', expiresAt, issuedAt: 1 })
    const ttl = await redisClient.pttl('test:k')
    expect(ttl).toBeGreaterThan(55_000)
    expect(ttl).toBeLessThanOrEqual(60_000)
    expect(await store.delete('k', 'b')).toBe(false)
    expect(await store.get('k')).toBeDefined()
    expect(await store.delete('k', 'a')).toBe(true)
    expect(await store.get('k')).toBeUndefined()
    await redisClient.set('test:k', 'not json')
    expect(await store.get('k')).toBeUndefined()
  })

  it('keys by appid and never sends the secret to Redis (every command seen by MONITOR, every key and value)', async () => {
    const secret = 'redis-must-never-see-this'
    const server = await startServer((_request, response) =>
      json(response, { code: 1000, message: 'success', data: { serviceToken: 'jwt-1', expiresIn: 600 } }),
    )
    const monitor = await client().monitor()
    const seen: string[] = []
    monitor.on('monitor', (_time: string, args: string[]) => seen.push(args.join(' ')))
    try {
      const redisClient = client()
      const manager = track(createTokenManager({ appid: 'app-42', secret, baseUrl: server.url, store: redisStore(redisClient) }))
      expect(await manager.getToken()).toBe('jwt-1')
      // A refresh too: the lock, its renewal and release, the write and the wake-up message.
      await manager.refresh()
      await flush()
      const keys = await redisClient.keys('*')
      expect(keys).toEqual([`anyweb-service-token:anyweb:${server.url}:app-42`])
      const values = await Promise.all(keys.map((key) => redisClient.get(key)))
      expect(JSON.stringify({ keys, values })).not.toContain(secret)
      await waitFor(() => seen.some((command) => command.startsWith('PUBLISH')), 5_000, 'MONITOR to show the wake-up message')
      // MONITOR saw the token go by (in the SET and the PUBLISH), so it would have seen the secret too.
      expect(seen.filter((command) => command.includes('jwt-1')).length).toBeGreaterThanOrEqual(2)
      expect(seen.join('\n')).not.toContain(secret)
    } finally {
      monitor.disconnect()
      await server.close()
    }
  })

  it('lets ten managers with their own connections share one token request', async () => {
    const counter = countingSource({ auto: true })
    const group = Array.from({ length: 10 }, () => track(createTokenManager({ source: counter.source, store: redisStore(client()) })))
    const tokens = await Promise.all(group.flatMap((manager) => Array.from({ length: 50 }, () => manager.getToken())))
    expect(new Set(tokens)).toEqual(new Set(['token-1']))
    expect(counter.count).toBe(1)
    // Invalidation is shared too: one refresh for everyone.
    for (const manager of group) manager.invalidate('token-1')
    const after = await Promise.all(group.map((manager) => manager.getToken()))
    expect(new Set(after)).toEqual(new Set(['token-2']))
    expect(counter.count).toBe(2)
  })

  it('refreshes ahead once for the whole group: the others pick the new token up', async () => {
    let offset = 0
    const now = () => Date.now() + offset
    const counter = countingSource({ auto: true, expiresIn: 3600 })
    const options = { source: counter.source, now, random: () => 0 }
    const a = track(createTokenManager({ ...options, store: redisStore(client()) }))
    const b = track(createTokenManager({ ...options, store: redisStore(client()) }))
    await a.getToken()
    await b.getToken()
    expect(counter.count).toBe(1)
    offset = 3600_000 - 200_000 // inside the 5-minute soft window
    expect(await a.getToken()).toBe('token-1')
    await waitFor(() => a.peek()?.token === 'token-2', 5_000, 'a to refresh ahead')
    expect(await b.getToken()).toBe('token-1')
    await waitFor(() => b.peek()?.token === 'token-2', 5_000, 'b to take the token from Redis')
    expect(counter.count).toBe(2)
  })

  it('takes over when the lock holder died, within the lock TTL', async () => {
    const redisClient = client()
    const counter = countingSource({ auto: true })
    const lockTtl = 600
    // A process took the lock and died before writing a token.
    await redisClient.set('anyweb-service-token:default:lock', 'dead-process', 'PX', lockTtl)
    const manager = track(createTokenManager({ source: counter.source, store: redisStore(redisClient, { lockTtl }) }))
    const started = Date.now()
    expect(await manager.getToken()).toBe('token-1')
    const waited = Date.now() - started
    expect(waited).toBeGreaterThanOrEqual(lockTtl - 100)
    expect(waited).toBeLessThan(lockTtl + 2_000)
    expect(counter.count).toBe(1)
  })

  it('keeps working while Redis is down (one event), and shares again when it is back', async () => {
    const counter = countingSource({ auto: true })
    const events: TokenManagerEvent[] = []
    const store = redisStore(client({ enableOfflineQueue: false }), { commandTimeout: 300 })
    const manager = track(
      createTokenManager({
        source: counter.source,
        store,
        // Invalidations in a row of fresh tokens, on purpose: no refusal limit here.
        refusalBackoff: { baseDelay: 0 },
        onEvent: (event) => events.push(event),
      }),
    )
    expect(await manager.getToken()).toBe('token-1')
    await redis.stop()
    for (let round = 2; round <= 4; round++) {
      manager.invalidate(manager.peek()!.token)
      expect(await manager.getToken()).toBe(`token-${round}`)
    }
    expect(events.filter((event) => event.type === 'store-error')).toHaveLength(1)
    await redis.start()
    const probe = client()
    await waitFor(async () => (await probe.ping().catch(() => '')) === 'PONG', 10_000, 'Redis to answer')
    // Once the manager's own connection is back, its next refresh goes through Redis again.
    await waitFor(
      async () => {
        manager.invalidate(manager.peek()!.token)
        await manager.getToken()
        return events.some((event) => event.type === 'store-recovered')
      },
      15_000,
      'the store to recover',
    )
    await flush()
    expect(await store.get('default')).toMatchObject({ token: manager.peek()!.token })
  })

  // A lock SET that timed out while Redis was away is sent after all when the client reconnects to the
  // restarted Redis: ioredis re-sends commands left unanswered by a connection that died (even with
  // enableOfflineQueue: false), node-redis replays what it queued while disconnected. The lock lands
  // held by a process that has long moved on.
  const restartCases = {
    'ioredis (enableOfflineQueue: false), Redis hangs then restarts': {
      outage: 'hang',
      async make() {
        const created = new Redis(redis.port, '127.0.0.1', { enableOfflineQueue: false })
        created.on('error', () => {})
        await waitFor(() => created.status === 'ready', 5_000, 'the client to connect')
        return { client: created as RedisClientLike, close: () => created.disconnect() }
      },
    },
    'node-redis (default options), Redis down then back': {
      outage: 'down',
      async make() {
        const created = createClient({ url: redis.url })
        created.on('error', () => {})
        await created.connect()
        return { client: created as unknown as RedisClientLike, close: () => void created.destroy() }
      },
    },
  } as const
  for (const [name, { outage, make }] of Object.entries(restartCases)) {
    it(`${name}: the lock sent late holds no caller more than 3 s, one token request`, async () => {
      const counter = countingSource({ auto: true })
      const a = await make()
      const b = await make()
      try {
        const options = { source: counter.source, storeTimeout: 3_000 }
        const managerA = track(createTokenManager({ ...options, store: redisStore(a.client, { commandTimeout: 200 }) }))
        const managerB = track(createTokenManager({ ...options, store: redisStore(b.client, { commandTimeout: 200 }) }))
        if (outage === 'hang') redis.freeze()
        else await redis.stop()
        // A needs a token while Redis is away: its GET and lock SET time out and A fetches alone.
        expect(await managerA.getToken()).toBe('token-1')
        await redis.stop()
        await redis.start()
        const probe = client()
        // The restarted server counts the SETs it ran: A's late lock SET comes first.
        const sets = async () => Number(/cmdstat_set:calls=(\d+)/.exec(await probe.info('commandstats'))?.[1] ?? 0)
        await waitFor(async () => (await sets()) >= 1, 10_000, "A's lock SET to arrive")
        // Released by id once A's client is ready again (-2), else left for its lease (was 15 s).
        const leftAtRestart = await probe.pttl('anyweb-service-token:default:lock')
        // No token in Redis (A's write may have arrived too): B must go through the lock.
        await probe.del('anyweb-service-token:default')

        const started = Date.now()
        expect(await managerB.getToken()).toBe('token-2')
        const waited = Date.now() - started
        expect(waited).toBeLessThan(3_000)
        expect(counter.count).toBe(2)
        console.info(`${name}: the late lock had ${leftAtRestart} ms left; B waited ${waited} ms`)
      } finally {
        a.close()
        b.close()
      }
    }, 30_000)
  }

  it('a node-redis client nobody connected: reported after connectTimeout as ERR_STORE_CONFIG saying to connect it', async () => {
    const never = createClient({ url: redis.url })
    const error: unknown = await Promise.resolve(redisStore(never as unknown as RedisClientLike, { connectTimeout: 50 }).get('k')).catch((caught: unknown) => caught)
    expect(isServiceTokenError(error, ErrorCode.StoreConfig)).toBe(true)
    expect((error as Error).message).toMatch(/await client\.connect\(\)/)
  })

  it('rejects a value that is not a Redis client, and bad options', () => {
    expect(() => redisStore({} as never)).toThrow(ConfigurationError)
    expect(() => redisStore(client(), { lockTtl: 0 })).toThrow(/lockTtl/)
    // A typo is refused with the nearest option, as createTokenManager does.
    expect(() => redisStore(client(), { lockTTL: 1_000 } as never)).toThrow(/did you mean `lockTtl`/)
  })
})
