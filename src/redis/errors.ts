import { ErrorCode, ServiceTokenError } from '../errors.js'
import type { Connection } from './client.js'

/**
 * Redis failed an operation of the store: it is misconfigured (`code` `ERR_STORE_CONFIG`: the message
 * says what to change) or unavailable (`ERR_STORE_UNAVAILABLE`: down, restarting, failing over, slow).
 * The manager reports it in a `store-error` event and goes on without Redis; callers never see it.
 * `cause` is the client's own error.
 *
 * @example
 * ```ts
 * createTokenManager({ appid, secret, store: redisStore(redis), onEvent(event) {
 *   if (event.type === 'store-error' && isServiceTokenError(event.error, 'ERR_STORE_CONFIG')) log.error(event.error.message)
 * } })
 * ```
 */
class RedisStoreError extends ServiceTokenError {
  /** The Redis command that failed, e.g. `"SET"`. */
  readonly command: string

  constructor(code: typeof ErrorCode.StoreConfig | typeof ErrorCode.StoreUnavailable, command: string, message: string, cause?: unknown) {
    super(code, message, { cause })
    this.name = 'RedisStoreError'
    this.command = command
  }
}

/** Redis replies that mean the set-up is wrong, with what to do about each. */
const HINTS: [RegExp, (kind: string) => string][] = [
  [
    /^(MOVED|ASK)\b/,
    () =>
      'the server is a Redis Cluster node and this key lives on another shard. Pass a cluster client: ioredis `new Cluster([...])` or node-redis `createCluster({ rootNodes })`.',
  ],
  [/^CROSSSLOT\b/, () => 'keys of one command are on different cluster shards; use one `prefix` for every process.'],
  [/^READONLY\b/, () => 'the client is connected to a replica. Point it at the master, or use Sentinel (ioredis `sentinels`, node-redis `createSentinel`).'],
  [/^(NOAUTH|WRONGPASS)\b/, () => 'Redis wants a password (or another one): set it in the client options.'],
  [/^NOPERM\b/, () => 'the Redis user lacks a permission: it needs GET, SET, EVAL, PTTL, PEXPIRE, PUBLISH and SUBSCRIBE on the prefix.'],
  [
    /The client is closed|ClientClosedError|Connection is closed/i,
    (kind) => (kind.startsWith('node-redis') ? 'the client is not connected: call `await client.connect()` before using it.' : 'the client was closed.'),
  ],
  [/is not a function|Cannot read properties/, () => 'this client does not look like ioredis or node-redis 4+; see docs/redis.md for the clients supported.'],
]

/** The error the store reports for a failed command: typed, with a hint when the set-up is at fault. */
function redisError(connection: Connection, command: string, error: unknown): RedisStoreError {
  if (error instanceof RedisStoreError) return error
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error)
  const reply = error instanceof Error ? error.message : text
  for (const [pattern, hint] of HINTS) {
    if (pattern.test(reply) || pattern.test(text)) {
      return new RedisStoreError(ErrorCode.StoreConfig, command, `Redis refused ${command} (${reply.split('\n')[0]}): ${hint(connection.kind)}`, error)
    }
  }
  return new RedisStoreError(ErrorCode.StoreUnavailable, command, `Redis failed ${command} (${reply.split('\n')[0]}); the manager goes on without it.`, error)
}

export { RedisStoreError, redisError }
