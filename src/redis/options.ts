import { ConfigurationError } from '../errors.js'
import { duration, rejectUnknown } from '../options.js'
import { isPlainObject } from '../util.js'

/**
 * Options of `redisStore`. Each one is checked once when the store is created; an unknown name is
 * refused with the nearest known one.
 *
 * @example
 * ```ts
 * // Processes whose event loop may stall for seconds: a longer lease, so a live holder keeps it.
 * redisStore(redis, { prefix: 'billing:', lockTtl: 10_000 })
 * ```
 */
interface RedisStoreOptions {
  /**
   * Prefix of every key the store writes, and of its wake-up channel. The manager's store key (which
   * names the appid, never the secret) follows it.
   * @default 'anyweb-service-token:'
   */
  prefix?: string
  /**
   * The lease of the refresh lock, in milliseconds. The process holding the lock renews it every third
   * of this while its token request runs, so a slow request keeps it; a process that dies or loses Redis
   * leaves a lock that is gone within this long. Waiting processes take over after it.
   * @default 2_000
   */
  lockTtl?: number
  /**
   * How often a waiting process looks for the new token when no wake-up message came, in
   * milliseconds. Waiters are woken by Redis pub/sub as soon as the token is written; this is the
   * fallback when a message is lost (subscriber reconnecting, a failover).
   * @default 250
   */
  pollInterval?: number
  /**
   * The longest one Redis command may take before the store gives up on Redis for that operation and
   * the manager goes on alone, in milliseconds.
   * @default 1_000
   */
  commandTimeout?: number
  /**
   * At start-up, how long the store waits for its client to connect before a command, in milliseconds,
   * so that processes started together share the first token instead of each fetching one while their
   * clients connect. Only the first use waits; once this has passed, commands fail fast.
   * @default 1_500
   */
  connectTimeout?: number
}

/** {@link RedisStoreOptions} with every default applied. */
type ResolvedRedisStoreOptions = Required<RedisStoreOptions>

const KNOWN = new Set(['prefix', 'lockTtl', 'pollInterval', 'commandTimeout', 'connectTimeout'])

/** Validates and normalises the options once; throws {@link ConfigurationError}. */
function resolveRedisOptions(options: unknown): ResolvedRedisStoreOptions {
  const given = options ?? {}
  if (!isPlainObject(given)) throw new ConfigurationError('options', 'Invalid option `options`: redisStore() takes an options object.')
  rejectUnknown(given, KNOWN, '')
  const prefix = given.prefix ?? 'anyweb-service-token:'
  if (typeof prefix !== 'string') throw new ConfigurationError('prefix', 'Invalid option `prefix`: expected a string.')
  return {
    prefix,
    lockTtl: duration('lockTtl', given.lockTtl, 2_000, 1),
    pollInterval: duration('pollInterval', given.pollInterval, 250, 1),
    commandTimeout: duration('commandTimeout', given.commandTimeout, 1_000, 1),
    connectTimeout: duration('connectTimeout', given.connectTimeout, 1_500, 0),
  }
}

export { resolveRedisOptions }
export type { RedisStoreOptions, ResolvedRedisStoreOptions }
