/**
 * The Redis clients docs/redis.md tells users to create, for each library and topology, as the
 * multi-process tests' workers create them. Reconnect back-offs are capped at 250 ms so that a test
 * does not wait seconds for a Redis that is already back (ioredis backs off up to 2 s by default,
 * node-redis up to 500 ms); the store itself does not depend on that choice.
 */
import { Cluster, Redis } from 'ioredis'
import { createClient, createCluster, createSentinel } from 'redis'
import type { RedisClientLike } from '../../src/redis-store.js'

type ClientLibrary = 'ioredis' | 'node-redis'
type Topology = 'single' | 'cluster' | 'sentinel'

interface MadeClient {
  client: RedisClientLike
  /** Resolves when the client is connected and ready (the first time). */
  ready: Promise<void>
  /** A `GET` of `key` through this client (a cluster client sends it to the shard that has it): resolves once Redis answers. */
  ping(key: string): Promise<unknown>
  close(): void
}

const quiet = (): void => {}
const backOff = (times: number): number => Math.min(times * 50, 250)

/**
 * A client of `library` for `topology`; `port` is the server's, one cluster node's or the Sentinel's
 * (master name `mymaster`). node-redis clients are connected but not awaited, except the Sentinel one
 * (docs/redis.md says to await it: it discovers the master first).
 */
function makeClient(library: ClientLibrary, topology: Topology, port: number): MadeClient {
  const host = '127.0.0.1'
  if (library === 'ioredis') {
    const redis =
      topology === 'cluster'
        ? new Cluster([{ host, port }], { enableOfflineQueue: false, clusterRetryStrategy: backOff })
        : topology === 'sentinel'
          ? new Redis({ sentinels: [{ host, port }], name: 'mymaster', enableOfflineQueue: false, retryStrategy: backOff, sentinelRetryStrategy: backOff })
          : new Redis(port, host, { enableOfflineQueue: false, retryStrategy: backOff })
    // Outages are part of the tests; without a listener ioredis prints every reconnect failure.
    redis.on('error', quiet)
    return {
      client: redis,
      ready: new Promise((resolve) => redis.once('ready', () => resolve())),
      ping: (key) => redis.get(key),
      close: () => redis.disconnect(),
    }
  }
  const socket = { reconnectStrategy: backOff }
  const redis =
    topology === 'cluster'
      ? createCluster({ rootNodes: [{ url: `redis://${host}:${port}` }], defaults: { disableOfflineQueue: true, socket } })
      : topology === 'sentinel'
        ? createSentinel({ name: 'mymaster', sentinelRootNodes: [{ host, port }], nodeClientOptions: { socket } })
        : createClient({ url: `redis://${host}:${port}`, disableOfflineQueue: true, socket })
  // Without an 'error' listener node-redis throws its connection errors at the process.
  redis.on('error', quiet)
  const ready = redis.connect().then(() => undefined)
  return {
    client: redis as unknown as RedisClientLike,
    ready,
    ping: (key) => redis.get(key),
    close: () => void redis.destroy(),
  }
}

export { makeClient }
export type { ClientLibrary, MadeClient, Topology }
