/**
 * The Redis store with every client and topology it supports, against real servers on loopback: a
 * single redis-server, a 3-master Redis Cluster, and a master + replica watched by one Sentinel; with
 * ioredis and node-redis. Each group is 8 managers, each with its own client (its own connections),
 * created together and asking at once: the start-up a fleet goes through.
 */
import { Cluster, Redis } from 'ioredis'
import { createClient, createCluster, createSentinel } from 'redis'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createTokenManager, ErrorCode, isServiceTokenError } from '../../src/index.js'
import type { TokenManager, TokenManagerEvent } from '../../src/index.js'
import { redisStore } from '../../src/redis-store.js'
import type { RedisClientLike, RedisStoreOptions } from '../../src/redis-store.js'
import { hasRedisServer, startCluster, startRedis, startSentinel, waitFor } from '../helpers/redis.js'
import { countingSource } from '../helpers/source.js'

const enabled = hasRedisServer()
if (!enabled) console.warn('redis-server not installed: skipping the Redis topology tests (apt-get install -y redis-server; CI installs it).')

/** A client as the documentation tells users to create it, and how to close it. */
interface Made {
  client: RedisClientLike
  close(): void
}

const quiet = (): void => {}

describe.skipIf(!enabled)('redisStore with every client and topology (real servers)', () => {
  let single: Awaited<ReturnType<typeof startRedis>>
  let cluster: Awaited<ReturnType<typeof startCluster>>
  let sentinel: Awaited<ReturnType<typeof startSentinel>>
  const opened: Made[] = []
  const managers: TokenManager[] = []

  beforeAll(async () => {
    // One after the other, so that afterAll stops whatever did start when one fails.
    single = await startRedis()
    cluster = await startCluster()
    sentinel = await startSentinel()
  }, 60_000)
  afterEach(() => {
    for (const manager of managers.splice(0)) manager.close()
    for (const made of opened.splice(0)) made.close()
  })
  afterAll(async () => {
    await Promise.all([single?.dispose(), cluster?.dispose(), sentinel?.dispose()])
  })

  function ioredis(client: Redis | Cluster): Made {
    client.on('error', quiet)
    return { client, close: () => client.disconnect() }
  }
  async function nodeRedis<T extends { on(event: 'error', listener: () => void): unknown; connect(): Promise<unknown>; destroy(): unknown }>(
    client: T,
    awaitConnect = false,
  ): Promise<Made> {
    client.on('error', quiet)
    // Not awaited by default: the store waits for the connection (connectTimeout), as a process starting would.
    const connecting = client.connect().catch(quiet)
    if (awaitConnect) await connecting
    return { client: client as unknown as RedisClientLike, close: () => void client.destroy() }
  }

  /** The options docs/redis.md gives for each client and topology. */
  const clients: Record<string, () => Made | Promise<Made>> = {
    'ioredis Redis': () => ioredis(new Redis(single.port, '127.0.0.1', { enableOfflineQueue: false })),
    'ioredis Cluster': () => ioredis(new Cluster([{ host: '127.0.0.1', port: cluster.ports[0]! }], { enableOfflineQueue: false })),
    'ioredis Sentinel': () =>
      ioredis(new Redis({ sentinels: [{ host: '127.0.0.1', port: sentinel.sentinel.port }], name: 'mymaster', enableOfflineQueue: false })),
    'node-redis createClient': () => nodeRedis(createClient({ url: `redis://127.0.0.1:${single.port}`, disableOfflineQueue: true })),
    'node-redis createCluster': () =>
      nodeRedis(createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${cluster.ports[0]}` }], defaults: { disableOfflineQueue: true } })),
    // A Sentinel client discovers the master and its replicas first (0.3–2 s on a loaded machine, more
    // than connectTimeout): docs/redis.md says to await connect() for it.
    'node-redis createSentinel': () =>
      nodeRedis(createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host: '127.0.0.1', port: sentinel.sentinel.port }] }), true),
  }

  let groups = 0
  async function group(make: () => Made | Promise<Made>, source: ReturnType<typeof countingSource>['source'], options: RedisStoreOptions = {}) {
    // Servers are shared by the tests: each group keeps to its own keys.
    const prefix = `group-${++groups}:`
    const events: TokenManagerEvent[] = []
    const made8 = await Promise.all(Array.from({ length: 8 }, () => make()))
    const members = made8.map((made) => {
      opened.push(made)
      const manager = createTokenManager({ source, store: redisStore(made.client, { prefix, ...options }), onEvent: (event) => events.push(event) })
      managers.push(manager)
      return manager
    })
    return { members, events }
  }

  for (const [name, make] of Object.entries(clients)) {
    it(`${name}: 8 managers started together make one token request; revoked, one more; waiters woken by pub/sub`, async () => {
      const counter = countingSource({ auto: true })
      // A poll far longer than the test: only a wake-up message can hand the token over quickly.
      const { members, events } = await group(make, counter.source, { pollInterval: 10_000 })
      const started = Date.now()
      const tokens = await Promise.all(members.flatMap((manager) => Array.from({ length: 20 }, () => manager.getToken())))
      const cold = Date.now() - started
      expect(events.filter((event) => event.type === 'store-error')).toEqual([])
      expect(new Set(tokens)).toEqual(new Set(['token-1']))
      expect(counter.count).toBe(1)

      for (const manager of members) manager.invalidate('token-1')
      const revokedAt = Date.now()
      const after = await Promise.all(members.map((manager) => manager.getToken()))
      const revoked = Date.now() - revokedAt
      expect(new Set(after)).toEqual(new Set(['token-2']))
      expect(counter.count).toBe(2)
      expect(events.filter((event) => event.type === 'store-error')).toEqual([])
      // Polling would have taken the lease (2 s) or the poll (10 s); the message takes milliseconds.
      expect(revoked).toBeLessThan(1_000)
      console.info(`${name}: cold start ${cold} ms (connect included), refresh handed over in ${revoked} ms`)
    }, 20_000)
  }

  it('a plain client pointed at a cluster node: MOVED reported once as ERR_STORE_CONFIG naming the cluster clients; tokens still served', async () => {
    const made = ioredis(new Redis(cluster.ports[0]!, '127.0.0.1', { enableOfflineQueue: false }))
    opened.push(made)
    const store = redisStore(made.client)
    // Keys spread over the three shards: find one that lives on another shard than this node.
    let foreign: string | undefined
    for (let index = 0; foreign === undefined && index < 50; index++) {
      const moved = await Promise.resolve(store.get(`key-${index}`)).then(() => undefined, (error: unknown) => error)
      if (moved === undefined) continue
      expect(isServiceTokenError(moved, ErrorCode.StoreConfig)).toBe(true)
      expect((moved as Error).message).toMatch(/MOVED.*Cluster.*createCluster/)
      expect((moved as Error).cause).toBeDefined()
      foreign = `key-${index}`
    }
    expect(foreign).toBeDefined()

    const counter = countingSource({ auto: true })
    const events: TokenManagerEvent[] = []
    const manager = createTokenManager({ source: counter.source, storeKey: foreign!, store, onEvent: (event) => events.push(event) })
    managers.push(manager)
    expect(await manager.getToken()).toBe('token-1')
    const errors = events.filter((event) => event.type === 'store-error')
    expect(errors).toHaveLength(1)
    expect(errors[0]!.type === 'store-error' && isServiceTokenError(errors[0]!.error, ErrorCode.StoreConfig)).toBe(true)
  })

  // The lock taken before the failover is replicated to the replica Sentinel promotes, and its holder
  // is gone (its connection died with the old master): the lease bounds the wait, not the old 15 s.
  for (const name of ['ioredis Sentinel', 'node-redis createSentinel']) {
    it(`${name}: a failover with the lock held by a lost holder holds the next caller less than 3 s`, async () => {
      const prefix = `failover-${++groups}:`
      const holder = await clients[name]!()
      const stuck = countingSource()
      const lost = createTokenManager({ source: stuck.source, store: redisStore(holder.client, { prefix }) })
      void lost.getToken().catch(quiet)
      const master = new Redis(sentinel.masterPort(), '127.0.0.1')
      master.on('error', quiet)
      try {
        await waitFor(async () => (await master.exists(`${prefix}default:lock`)) === 1 && stuck.count === 1, 5_000, 'the holder to take the lock')
        // On the replica too before the master goes.
        expect(await master.call('WAIT', '1', '1000')).toBe(1)
        holder.close()
        lost.close()
      } finally {
        master.disconnect()
      }
      const failoverStarted = Date.now()
      await sentinel.failover()
      const failoverMs = Date.now() - failoverStarted
      const promoted = new Redis(sentinel.masterPort(), '127.0.0.1')
      promoted.on('error', quiet)
      const left = await promoted.pttl(`${prefix}default:lock`)
      promoted.disconnect()

      const next = await clients[name]!()
      opened.push(next)
      const counter = countingSource({ auto: true })
      const events: TokenManagerEvent[] = []
      const manager = createTokenManager({ source: counter.source, store: redisStore(next.client, { prefix }), onEvent: (event) => events.push(event) })
      managers.push(manager)
      const started = Date.now()
      expect(await manager.getToken()).toBe('token-1')
      const waited = Date.now() - started
      expect(waited).toBeLessThan(3_000)
      expect(counter.count).toBe(1)
      expect(events.filter((event) => event.type === 'store-error')).toEqual([])
      console.info(`${name} failover: ${failoverMs} ms; the promoted master had the lock with ${left} ms left; next caller waited ${waited} ms`)
    }, 40_000)
  }
})
