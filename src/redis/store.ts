import { ErrorCode } from '../errors.js'
import type { RefreshCoordination, StoredToken, TokenStore } from '../types.js'
import { connect } from './client.js'
import type { RedisClientLike } from './client.js'
import { redisError, RedisStoreError } from './errors.js'
import { resolveRedisOptions } from './options.js'
import type { RedisStoreOptions } from './options.js'
import { wakeUps } from './wake-ups.js'

// Every script touches one key, so each one runs on a cluster (no CROSSSLOT).
// Compare-and-delete of the lock: only the holder that set this id may release it.
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`
// Compare-and-renew of the lease: a holder never extends a lock another process has taken since.
const RENEW_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`
// Compare-and-delete of the token: a late failure of an old token never removes a newer one.
const DELETE_TOKEN = `local v = redis.call('get', KEYS[1])
if v and cjson.decode(v).token == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0`

/** Lock ids whose fate is unknown are remembered up to this many (oldest forgotten first); their lease ends them anyway. */
const MAX_UNSURE = 16

/**
 * A {@link TokenStore} in Redis, with its cross-process single flight.
 *
 * @example
 * ```ts
 * const store = redisStore(redis)
 * process.once('SIGTERM', () => (manager.close(), store.close(), void redis.quit()))
 * ```
 */
interface RedisTokenStore extends TokenStore {
  refresh(key: string, coordination: RefreshCoordination): Promise<StoredToken>
  /**
   * Closes the store's wake-up subscription (its own connection for ioredis and node-redis
   * `createClient`). Also done when your client ends. Idempotent.
   */
  close(): void
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

const ignore = (): void => {}

/**
 * A token store in Redis, so that many processes share one token and one refresh.
 *
 * The first process that needs a token takes a lock (`SET … NX PX lockTtl`) and renews it while its
 * token request runs; it writes the token with its expiry, publishes its key, and releases the lock by
 * compare-and-delete. The others wait for that message (or, as a fallback, poll) and take the token.
 * A lock left by a process that died or lost Redis is gone within `lockTtl`. `invalidate()` is
 * compare-and-delete too. The secret is never written to Redis; the token is, in clear text.
 * When Redis is down or slow, each manager reports one `store-error` event ({@link RedisStoreError})
 * and goes on with its own single flight, coming back to Redis when it answers again.
 * Clients, topologies and their options: docs/redis.md.
 *
 * @throws {ConfigurationError} when `client` is not a Redis client or an option is invalid or unknown.
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
function redisStore(client: RedisClientLike, options?: RedisStoreOptions): RedisTokenStore {
  const connection = connect(client)
  const { prefix, lockTtl, pollInterval, commandTimeout, connectTimeout } = resolveRedisOptions(options)
  const wake = wakeUps(connection, `${prefix}wake`, commandTimeout, parse)
  connection.onEnd(() => wake.close())
  /** Lock ids (→ lock key) that may have been set without us knowing: a timed-out SET a client re-sends on reconnect. */
  const unsure = new Map<string, string>()
  // Released once Redis is back, after what the client re-sends on reconnecting (sent within the same
  // turn as its 'ready' event), so that the release comes after the late SET.
  connection.onReady(() => setTimeout(() => unsure.size > 0 && releaseUnsure(), 0))
  /** Until when a command waits for the client to connect; set at the first command. */
  let connectBy: number | undefined

  async function connected(): Promise<void> {
    if (connection.ready() !== false) return
    connectBy ??= Date.now() + connectTimeout
    while (connection.ready() === false && Date.now() < connectBy) await new Promise((resolve) => setTimeout(resolve, 5))
  }

  async function command(args: string[], key: string | undefined, readonly = false): Promise<unknown> {
    await connected()
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      // The rejection waits one more turn of the event loop: when this process itself was busy past the
      // deadline, timers run before pending I/O, and an answer already waiting in the socket must win.
      timer = setTimeout(
        () =>
          setTimeout(
            () =>
              reject(
                new RedisStoreError(
                  ErrorCode.StoreUnavailable,
                  args[0]!,
                  `Redis did not answer ${args[0]} within ${commandTimeout} ms (option \`commandTimeout\`); the manager goes on without it.`,
                ),
              ),
            0,
          ),
        commandTimeout,
      )
    })
    try {
      const value = await Promise.race([connection.send(args, key, readonly), timeout])
      if (unsure.size > 0) releaseUnsure()
      return value
    } catch (error) {
      throw redisError(connection, args[0]!, error)
    } finally {
      clearTimeout(timer)
    }
  }

  function remember(id: string, lockKey: string): void {
    unsure.set(id, lockKey)
    if (unsure.size > MAX_UNSURE) unsure.delete(unsure.keys().next().value!)
  }

  /** Redis answers again: release by id every lock that may have landed while it was away. */
  function releaseUnsure(): void {
    for (const [id, lockKey] of [...unsure]) {
      unsure.delete(id)
      void release(lockKey, id)
    }
  }

  async function release(lockKey: string, id: string): Promise<void> {
    await command(['EVAL', RELEASE_LOCK, '1', lockKey, id], lockKey).catch(() => remember(id, lockKey))
  }

  async function take(lockKey: string, id: string): Promise<boolean> {
    try {
      return (await command(['SET', lockKey, id, 'NX', 'PX', String(lockTtl)], lockKey)) === 'OK'
    } catch (error) {
      // The SET may still reach Redis (clients re-send unanswered commands after a reconnect).
      remember(id, lockKey)
      throw error
    }
  }

  const read = async (key: string): Promise<StoredToken | undefined> => parse(await command(['GET', prefix + key], prefix + key, true))

  async function write(key: string, value: StoredToken): Promise<void> {
    const ttl = Math.ceil(value.expiresAt - Date.now())
    if (ttl <= 0) return
    const raw = JSON.stringify(value)
    await command(['SET', prefix + key, raw, 'PX', String(ttl)], prefix + key)
    // The token travels with the wake-up: whoever can subscribe can read the key anyway.
    void command(['PUBLISH', `${prefix}wake`, JSON.stringify([key, raw])], undefined).catch(ignore)
  }

  async function refresh(key: string, { fetch, isFresh, signal, onLockWait }: RefreshCoordination): Promise<StoredToken> {
    const lockKey = `${prefix}${key}:lock`
    await wake.subscribe()
    while (!signal.aborted) {
      const id = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
      if (await take(lockKey, id)) {
        // The lease is short so that an orphan lock ends soon; a live holder keeps it while it fetches.
        const renewal = setInterval(() => {
          void command(['EVAL', RENEW_LOCK, '1', lockKey, id, String(lockTtl)], lockKey).catch(ignore)
        }, lockTtl / 3)
        try {
          // Another process may have finished a refresh between our last look and taking the lock.
          const current = await read(key)
          if (current !== undefined && isFresh(current)) return current
          const token = await fetch()
          await write(key, token)
          return token
        } finally {
          clearInterval(renewal)
          void release(lockKey, id)
        }
      }
      // Another process is refreshing: wait for its token, or for its lock to go (then try to take it).
      onLockWait?.()
      for (;;) {
        const armed = wake.arm(key)
        try {
          const current = await read(key)
          if (current !== undefined && isFresh(current)) return current
          const left = Number(await command(['PTTL', lockKey], lockKey, true))
          if (left === -2) break
          // Wake at the message, at the poll, or just after the lock's lease ends.
          const sent = await armed.wait(left > 0 ? Math.min(pollInterval, left + 1) : pollInterval, signal)
          if (sent !== undefined && isFresh(sent)) return sent
        } finally {
          armed.cancel()
        }
        if (signal.aborted) break
      }
    }
    throw new RedisStoreError(ErrorCode.StoreUnavailable, 'SET', 'The token manager closed while waiting for the refresh lock.')
  }

  return {
    get: read,
    set: write,
    async delete(key, token) {
      return (await command(['EVAL', DELETE_TOKEN, '1', prefix + key, token], prefix + key)) === 1
    },
    refresh,
    close: () => wake.close(),
  }
}

export { redisStore }
export type { RedisTokenStore }
