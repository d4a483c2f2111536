import { ConfigurationError } from './errors.js'
import type { RefreshCoordination, StoredToken, TokenStore } from './types.js'
import { MAX_TIMER_MS, pause } from './util.js'

/**
 * The part of a Redis client the store uses: ioredis (`call`) or node-redis 4+ (`sendCommand`).
 * Anything else with one of these methods works too.
 */
type RedisClientLike =
  | { call(command: string, ...args: string[]): Promise<unknown> }
  | { sendCommand(args: string[]): Promise<unknown> }

/** Options of {@link redisStore}. */
interface RedisStoreOptions {
  /**
   * Prefix of every key the store writes. The manager's store key (which names the appid, never the
   * secret) follows it.
   * @default 'anyweb-service-token:'
   */
  prefix?: string
  /**
   * How long the refresh lock lives, in milliseconds. If the process holding it dies, another one takes
   * over after this long. Make it longer than one token request with its retries.
   * @default 15_000
   */
  lockTtl?: number
  /**
   * How often a process waiting for another's refresh looks for the new token, in milliseconds.
   * @default 25
   */
  pollInterval?: number
  /**
   * The longest one Redis command may take before the store gives up on Redis for that operation and
   * the manager goes on alone, in milliseconds.
   * @default 1_000
   */
  commandTimeout?: number
}

// Compare-and-delete of the lock: only the holder that set this id may release it.
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`
// Compare-and-delete of the token: a late failure of an old token never removes a newer one.
const DELETE_TOKEN = `local v = redis.call('get', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`

function positive(option: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback
  // Beyond 2³¹−1 ms setTimeout fires at once.
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_TIMER_MS) {
    throw new ConfigurationError(
      option,
      `Invalid option \`${option}\`: expected a positive number of milliseconds up to ${MAX_TIMER_MS} (what timers can wait).`,
    )
  }
  return value
}

function toCommand(client: RedisClientLike): (args: string[]) => Promise<unknown> {
  if (typeof client === 'object' && client !== null) {
    if ('call' in client && typeof client.call === 'function') {
      return (args) => client.call(args[0]!, ...args.slice(1))
    }
    if ('sendCommand' in client && typeof client.sendCommand === 'function') {
      return (args) => client.sendCommand(args)
    }
  }
  throw new ConfigurationError(
    'client',
    'redisStore() needs a connected Redis client: an ioredis `Redis` (has `call`) or a node-redis client (has `sendCommand`).',
  )
}

function parse(raw: unknown): StoredToken | undefined {
  if (typeof raw !== 'string') return undefined
  try {
    const value = JSON.parse(raw) as Partial<StoredToken>
    if (typeof value.token === 'string' && typeof value.expiresAt === 'number' && typeof value.issuedAt === 'number') {
      return { token: value.token, expiresAt: value.expiresAt, issuedAt: value.issuedAt }
    }
  } catch {
    // A foreign or corrupt value is treated as no token; the next refresh overwrites it.
  }
  return undefined
}

/**
 * A token store in Redis, so that many processes share one token and one refresh.
 *
 * The first process that needs a token takes a lock (`SET … NX PX`), fetches, writes the token with its
 * expiry (`PX`) and releases the lock by compare-and-delete; the others poll for the new token and take
 * it. If the lock holder dies, the lock expires after `lockTtl` and another process takes over.
 * `invalidate()` is compare-and-delete too. The secret is never written to Redis. When Redis is down or
 * slow, each manager reports one `store-error` event and goes on with its own single flight, coming
 * back to Redis when it answers again. Use a client with `enableOfflineQueue: false` (ioredis) so
 * commands fail fast while Redis is away; `commandTimeout` bounds them either way.
 *
 * @throws {ConfigurationError} when `client` is not a Redis client or an option is invalid.
 * @example
 * ```ts
 * import { Redis } from 'ioredis'
 * import { createTokenManager } from 'anyweb-service-token'
 * import { redisStore } from 'anyweb-service-token/redis'
 *
 * const manager = createTokenManager({
 *   appid: process.env.ANYWEB_APPID!,
 *   secret: process.env.ANYWEB_SECRET!,
 *   store: redisStore(new Redis(process.env.REDIS_URL!, { enableOfflineQueue: false })),
 * })
 * ```
 */
function redisStore(client: RedisClientLike, options: RedisStoreOptions = {}): TokenStore {
  const send = toCommand(client)
  const prefix = options.prefix ?? 'anyweb-service-token:'
  if (typeof prefix !== 'string') throw new ConfigurationError('prefix', 'Invalid option `prefix`: expected a string.')
  const lockTtl = positive('lockTtl', options.lockTtl, 15_000)
  const pollInterval = positive('pollInterval', options.pollInterval, 25)
  const commandTimeout = positive('commandTimeout', options.commandTimeout, 1_000)

  function command(args: string[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      // The rejection waits one more turn of the event loop: when this process itself was busy past the
      // deadline, timers run before pending I/O, and an answer already waiting in the socket must win.
      const timer = setTimeout(
        () => setTimeout(() => reject(new Error(`Redis did not answer ${args[0]} within ${commandTimeout} ms (option \`commandTimeout\`).`)), 0),
        commandTimeout,
      )
      send(args).then(
        (value) => {
          clearTimeout(timer)
          resolve(value)
        },
        (error: unknown) => {
          clearTimeout(timer)
          reject(error)
        },
      )
    })
  }

  const read = async (key: string): Promise<StoredToken | undefined> => parse(await command(['GET', prefix + key]))

  async function write(key: string, value: StoredToken): Promise<void> {
    const ttl = Math.ceil(value.expiresAt - Date.now())
    if (ttl <= 0) return
    await command(['SET', prefix + key, JSON.stringify(value), 'PX', String(ttl)])
  }

  async function refresh(key: string, { fetch, isFresh, signal }: RefreshCoordination): Promise<StoredToken> {
    const lockKey = `${prefix}${key}:lock`
    // Bounded: a holder that dies leaves at most lockTtl behind; two lock lifetimes is the most we wait.
    const deadline = Date.now() + 2 * lockTtl + commandTimeout
    while (!signal.aborted && Date.now() < deadline) {
      const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
      if ((await command(['SET', lockKey, id, 'NX', 'PX', String(lockTtl)])) === 'OK') {
        try {
          // Another process may have finished a refresh between our last look and taking the lock.
          const current = await read(key)
          if (current !== undefined && isFresh(current)) return current
          const token = await fetch()
          await write(key, token)
          return token
        } finally {
          await command(['EVAL', RELEASE_LOCK, '1', lockKey, id]).catch(() => {
            // The lock expires by itself after lockTtl.
          })
        }
      }
      // Another process is refreshing: wait for its token, or for its lock to go (then try to take it).
      while (!signal.aborted && Date.now() < deadline) {
        await pause(pollInterval, signal)
        const current = await read(key)
        if (current !== undefined && isFresh(current)) return current
        if ((await command(['EXISTS', lockKey])) === 0) break
      }
    }
    throw new Error(
      signal.aborted ? 'The token manager closed while waiting for the refresh lock.' : `No token appeared in Redis within ${2 * lockTtl} ms.`,
    )
  }

  return {
    get: read,
    set: write,
    async delete(key, token) {
      return (await command(['EVAL', DELETE_TOKEN, '1', prefix + key, token])) === 1
    },
    refresh,
  }
}

export { redisStore }
export type { RedisClientLike, RedisStoreOptions }
