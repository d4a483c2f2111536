import { ConfigurationError } from '../errors.js'

type Listener = (...args: never[]) => void

/**
 * The part of a Redis client the store uses. Accepted: ioredis `Redis` and `Cluster` (they have
 * `call`), node-redis 4+ `createClient()` (`sendCommand(args)`), `createCluster()`
 * (`sendCommand(firstKey, isReadonly, args)`) and `createSentinel()` (`sendCommand(isReadonly, args)`).
 *
 * @example
 * ```ts
 * import { createCluster } from 'redis'
 * const cluster = createCluster({ rootNodes: [{ url: 'redis://10.0.0.1:6379' }], defaults: { disableOfflineQueue: true } })
 * cluster.on('error', (error) => log.warn('redis', error))
 * await cluster.connect()
 * const store = redisStore(cluster)
 * ```
 */
type RedisClientLike =
  | { call(command: string, ...args: string[]): Promise<unknown> }
  | { sendCommand(args: string[]): Promise<unknown> }
  | { sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown> }
  | { sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown> }

/** What the store needs from any client, whatever its library and topology. */
interface Connection {
  /** Which library and topology, for messages. */
  readonly kind: 'ioredis' | 'node-redis client' | 'node-redis cluster' | 'node-redis sentinel'
  /** Sends one command; `key` is the key it touches (routes it on a cluster). */
  send(args: string[], key: string | undefined, readonly: boolean): Promise<unknown>
  /** Whether the client is connected and ready; `undefined` when it cannot tell. */
  ready(): boolean | undefined
  /** Subscribes to `channel` on a connection of its own; resolves to a function that unsubscribes. */
  subscribe(channel: string, onMessage: (message: string) => void): Promise<() => void>
  /** Calls `listener` when the user's client is closed for good. */
  onEnd(listener: () => void): void
  /** Calls `listener` each time the client is (re)connected and ready. */
  onReady(listener: () => void): void
}

// Structural views of the clients, to call what each one has without importing either library.
interface IoRedisLike {
  call(command: string, ...args: string[]): Promise<unknown>
  status?: string
  duplicate?(): IoRedisLike
  subscribe?(channel: string): Promise<unknown>
  disconnect?(): void
  on?(event: string, listener: Listener): unknown
  once?(event: string, listener: Listener): unknown
}
interface NodeRedisLike {
  sendCommand(...args: unknown[]): Promise<unknown>
  isReady?: boolean
  duplicate?(): NodeRedisLike
  connect?(): Promise<unknown>
  subscribe?(channel: string, listener: (message: string) => void): Promise<unknown>
  unsubscribe?(channel: string, listener: (message: string) => void): Promise<unknown>
  destroy?(): void
  on?(event: string, listener: Listener): unknown
  once?(event: string, listener: Listener): unknown
  getMasters?: unknown
  getSlotRandomNode?: unknown
  getMasterNode?: unknown
  getSentinelNode?: unknown
}

const method = (value: object, name: string): boolean => typeof (value as Record<string, unknown>)[name] === 'function'
const ignore = (): void => {}

/** Runs `subscribe` on a connection opened for it; resolves to what closes it, closed already if it failed. */
async function opened(subscribe: () => Promise<void>, close: () => void): Promise<() => void> {
  try {
    await subscribe()
  } catch (error) {
    close()
    throw error
  }
  return close
}

function ioredis(client: IoRedisLike): Connection {
  return {
    kind: 'ioredis',
    send: (args) => client.call(args[0]!, ...args.slice(1)),
    ready: () => (typeof client.status === 'string' ? client.status === 'ready' : undefined),
    async subscribe(channel, onMessage) {
      if (client.duplicate === undefined) throw new Error('this client has no duplicate() for a subscriber connection')
      // A subscribed connection runs no other command: wake-ups get one of their own. ioredis
      // re-subscribes it after a reconnect by itself.
      const subscriber = client.duplicate()
      subscriber.on?.('error', ignore)
      subscriber.on?.('message', ((from: string, message: string) => {
        if (from === channel) onMessage(message)
      }) as Listener)
      return opened(async () => {
        // With `enableOfflineQueue: false` a command before the connection is ready fails at once.
        if (subscriber.status !== 'ready') await new Promise((resolve) => subscriber.once?.('ready', resolve))
        await subscriber.subscribe?.(channel)
      }, () => subscriber.disconnect?.())
    },
    onEnd: (listener) => void client.once?.('end', listener),
    onReady: (listener) => void client.on?.('ready', listener),
  }
}

function nodeRedis(client: NodeRedisLike): Connection {
  const cluster = method(client, 'getMasters') && method(client, 'getSlotRandomNode')
  const sentinel = !cluster && method(client, 'getMasterNode') && method(client, 'getSentinelNode')
  return {
    kind: cluster ? 'node-redis cluster' : sentinel ? 'node-redis sentinel' : 'node-redis client',
    // The three clients of node-redis differ only in what comes before the arguments.
    send: cluster
      ? (args, key, readonly) => client.sendCommand(key, readonly, args)
      : sentinel
        ? (args, _key, readonly) => client.sendCommand(readonly, args)
        : (args) => client.sendCommand(args),
    ready: () => (typeof client.isReady === 'boolean' ? client.isReady : undefined),
    async subscribe(channel, onMessage) {
      const listener = (message: string): void => onMessage(message)
      if (cluster || sentinel) {
        // Clusters and Sentinel clients keep a connection of their own for pub/sub.
        await client.subscribe?.(channel, listener)
        return () => void client.unsubscribe?.(channel, listener)?.catch(ignore)
      }
      if (client.duplicate === undefined) throw new Error('this client has no duplicate() for a subscriber connection')
      const subscriber = client.duplicate()
      // Without an 'error' listener node-redis throws its connection errors at the process.
      subscriber.on?.('error', ignore)
      return opened(async () => {
        await subscriber.connect?.()
        await subscriber.subscribe?.(channel, listener)
      }, () => subscriber.destroy?.())
    },
    onEnd: (listener) => void client.once?.('end', listener),
    onReady: (listener) => void client.on?.('ready', listener),
  }
}

/** Adapts a client of either library; throws {@link ConfigurationError} for anything else. */
function connect(client: RedisClientLike): Connection {
  if (typeof client === 'object' && client !== null) {
    if (method(client, 'call')) return ioredis(client as unknown as IoRedisLike)
    if (method(client, 'sendCommand')) return nodeRedis(client as unknown as NodeRedisLike)
  }
  throw new ConfigurationError(
    'client',
    'redisStore() needs a Redis client: an ioredis `Redis` or `Cluster` (has `call`), or a node-redis `createClient()`, `createCluster()` or `createSentinel()` client (has `sendCommand`).',
  )
}

export { connect }
export type { Connection, RedisClientLike }
