import { anywebSource, validateGrant } from './anyweb-source.js'
import { ErrorCode, InvalidResponseError, isServiceTokenError, ServiceTokenError, TokenRequestError } from './errors.js'
import { resolveOptions } from './options.js'
import { isRecord, MAX_TIMER_MS, pause, tokenFault } from './util.js'
import type { Resolved } from './options.js'
import { causeOf, createObservers, HIT, LOCK_WAIT, READY_TOKEN, REQUEST_CLOSED, WAITED } from './ready-token.js'
import type { ReadyToken } from './ready-token.js'
import type {
  GetTokenOptions,
  StoreOperation,
  RefreshReason,
  StoredToken,
  TokenManager,
  TokenManagerEvent,
  TokenManagerOptions,
  TokenSnapshot,
} from './types.js'

/** A token with the two moments that govern it, computed once when it arrives. */
interface Entry extends StoredToken {
  /** From here on, a call starts a background refresh and still gets this token. */
  refreshAt: number
  /** From here on, callers wait for a new token. Never after `expiresAt`. */
  blockAt: number
  /** When this manager took it: the start of its age for `refusalBackoff`. */
  adoptedAt: number
}

/** The one refresh under way, shared by every caller. */
interface Flight {
  promise: Promise<Entry>
}

/** The longest a final error's own `retryAfterMs` holds token requests back: a day (a daily quota's reset). */
const MAX_FINAL_WAIT_MS = 24 * 3600 * 1000

/**
 * What the manager reads of a signal: a caller's `AbortSignal`, or its own lifecycle.
 */
type Abortable = Pick<AbortSignal, 'aborted' | 'reason' | 'addEventListener' | 'removeEventListener'>

/**
 * The manager's life, closed by `close()`. Not an AbortController: workerd (Cloudflare Workers) binds an
 * AbortSignal to the request that made it and throws when another request touches it, yet one manager
 * serves every request of an isolate (and none can be made at module scope, outside a request). Plain
 * listeners have no such tie.
 */
function createLifecycle(): { signal: Abortable; abort(reason: unknown): void } {
  const listeners = new Set<() => void>()
  const signal = {
    aborted: false,
    reason: undefined as unknown,
    addEventListener: (_type: string, listener: () => void) => void listeners.add(listener),
    removeEventListener: (_type: string, listener: () => void) => void listeners.delete(listener),
  }
  return {
    signal: signal as unknown as Abortable,
    abort(reason) {
      if (signal.aborted) return
      signal.aborted = true
      signal.reason = reason
      for (const listener of [...listeners]) listener()
      listeners.clear()
    },
  }
}

/** Settles like `promise`, or rejects with `signal.reason` as soon as the caller's signal aborts. */
function untilAborted<T>(promise: Promise<T>, signal: Abortable | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

/** A stored value the manager can use, or an `ERR_TOKEN_RESPONSE` (reported as the store's failure). */
function checkStored(stored: unknown): StoredToken | undefined {
  if (stored === undefined || stored === null) return undefined
  const fault = isRecord(stored)
    ? (tokenFault(stored.token) ??
      (Number.isFinite(stored.expiresAt) && Number.isFinite(stored.issuedAt) ? undefined : 'its expiresAt or issuedAt is not a number'))
    : 'it is not an object'
  if (fault !== undefined) throw new InvalidResponseError(`The store holds no usable token: ${fault}.`)
  const { token, expiresAt, issuedAt } = stored as unknown as StoredToken
  return { token, expiresAt, issuedAt }
}

function closedError(): ServiceTokenError {
  return new ServiceTokenError(ErrorCode.Closed, 'The token manager is closed; create a new one to get tokens.', {
    retryable: false,
  })
}

/**
 * Creates the manager that fetches, caches and refreshes one token for all callers.
 *
 * With `{ appid, secret }` it gets AnyWeb ServiceTokens from `baseUrl` (default
 * `https://api.anyweb.cc`); with `{ source }` it gets tokens from any provider.
 *
 * @throws {ConfigurationError} synchronously, when an option is missing or invalid (`ERR_INVALID_OPTION`).
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 *
 * const manager = createTokenManager({ appid: process.env.ANYWEB_APPID!, secret: process.env.ANYWEB_SECRET! })
 * const serviceToken = await manager.getToken()
 * ```
 * @example
 * ```ts
 * // Any other provider: return the token and its lifetime in seconds.
 * const manager = createTokenManager({
 *   source: async ({ signal }) => {
 *     const res = await fetch('https://auth.example.com/token', { method: 'POST', signal })
 *     const body = await res.json()
 *     return { token: body.access_token, expiresIn: body.expires_in }
 *   },
 *   baseUrl: 'https://api.example.com',
 * })
 * ```
 */
function createTokenManager(options: TokenManagerOptions): TokenManager {
  const config: Resolved = resolveOptions(options)
  const { now, random, store, storeKey, retry, refusalBackoff } = config
  // Instrumentation observes through READY_TOKEN; unobserved, each point below costs one size check.
  const { observers, observe, notify } = createObservers()
  const emit = (event: TokenManagerEvent): void => {
    config.emit(event)
    if (observers.size !== 0) notify(event)
  }
  const source = config.source ?? anywebSource(config.anyweb!, now)

  let entry: Entry | undefined
  let flight: Flight | undefined
  /** Consecutive transient failures; drives the backoff. */
  let failures = 0
  /** No new attempt before this moment (backoff or Retry-After) unless forced. */
  let retryAt = 0
  let lastError: ServiceTokenError | undefined
  /** After a final error, callers get `finalError` until this moment. */
  let cooldownUntil = 0
  let finalError: ServiceTokenError | undefined
  /** The last token thrown away, so a store that still holds it cannot hand it back. */
  let invalidated: string | undefined
  /** Tokens invalidated in a row, each within `refusalBackoff` reach of the one before. */
  let refusals = 0
  let lastInvalidationAt = -Infinity
  /** The run length last reported in a `fresh-token-refused` event, to report each step once. */
  let reportedRefusals = 0
  const lifecycle = createLifecycle()

  /** From here on callers wait for a new token: expiry less min(expiryMargin, lifetime/4). */
  function blockAtOf(token: StoredToken): number {
    return token.expiresAt - Math.min(config.expiryMargin, (token.expiresAt - token.issuedAt) / 4)
  }

  function schedule(token: StoredToken, previous: Entry | undefined, at: number): Entry {
    const adoptedAt = at
    const soft = Math.min(config.refreshWindow, (token.expiresAt - token.issuedAt) / 2)
    const blockAt = blockAtOf(token)
    // Jitter moves the refresh towards expiry, so that many processes holding the same token do not all
    // refresh at the same instant: by up to half the time from the soft window's start to the hard
    // window's, so that at least the other half is left for the refresh before any caller would wait
    // (with short lifetimes the two windows' starts come close: a quarter and a half of the lifetime).
    const start = token.expiresAt - soft
    let refreshAt = Math.min(start + Math.max(0, blockAt - start) * 0.5 * random(), blockAt)
    if (previous !== undefined && token.expiresAt <= previous.expiresAt) {
      // The provider handed back a token that expires no later than the last one: asking again at once
      // would get the same answer, so back off by half the time left (at least minRefreshInterval).
      refreshAt = at + Math.max(config.minRefreshInterval, (token.expiresAt - at) / 2)
      return { ...token, refreshAt, blockAt: Math.min(token.expiresAt, Math.max(blockAt, refreshAt)), adoptedAt }
    }
    return { ...token, refreshAt, blockAt, adoptedAt }
  }

  function toError(error: unknown, attemptSignal: AbortSignal, attempt: number, firstAt: number): ServiceTokenError {
    if (lifecycle.signal.aborted) return closedError()
    if (attemptSignal.aborted) {
      // A hanging endpoint keeps callers waiting for every attempt: say how long they have waited so far.
      return new TokenRequestError(
        ErrorCode.Timeout,
        `The token request took longer than ${config.timeout} ms and was aborted (option \`timeout\`); ` +
          `attempt ${attempt} of ${retry.attempts} (option \`retry.attempts\`), ${now() - firstAt} ms since the first. ` +
          'Pass a `signal` to getToken() to bound how long a caller waits.',
        { cause: attemptSignal.reason },
      )
    }
    if (isServiceTokenError(error)) return error
    return new TokenRequestError(
      ErrorCode.Source,
      `The token source failed: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    )
  }

  /** One call to the source, bounded by `timeout` even if the source ignores its signal. */
  async function attemptOnce(attemptNumber: number, firstAt: number): Promise<StoredToken> {
    const attempt = new AbortController()
    const onClose = (): void => attempt.abort(lifecycle.signal.reason)
    lifecycle.signal.addEventListener('abort', onClose, { once: true })
    const timer = setTimeout(() => attempt.abort(), config.timeout)
    const issuedAt = now()
    try {
      const grant = await untilAborted(source({ signal: attempt.signal, now }), attempt.signal)
      const { token, expiresIn } = validateGrant(grant)
      const expiresAt = issuedAt + expiresIn * 1000
      if (expiresAt <= now()) {
        throw new InvalidResponseError(`The token arrived already expired (expiresIn ${expiresIn} s was shorter than the request).`)
      }
      return { token, expiresAt, issuedAt }
    } catch (error) {
      throw toError(error, attempt.signal, attemptNumber, firstAt)
    } finally {
      clearTimeout(timer)
      lifecycle.signal.removeEventListener('abort', onClose)
    }
  }

  let storeFailing = false

  /** The longest `store.refresh` may take: it may wait for a token request with all its retries. */
  const refreshLimit = Math.min(
    MAX_TIMER_MS,
    config.storeTimeout + retry.attempts * config.timeout + (retry.attempts - 1) * retry.maxDelay,
  )

  /** Settles like `run()`, or rejects after `limit` ms, or when the manager closes: a store never wedges us. */
  function bounded<T>(operation: StoreOperation, run: () => T | Promise<T>, limit: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const stop = (error: unknown): void => {
        clearTimeout(timer)
        lifecycle.signal.removeEventListener('abort', onClose)
        reject(error)
      }
      const onClose = (): void => stop(closedError())
      const timer = setTimeout(
        () =>
          stop(
            new ServiceTokenError(
              ErrorCode.StoreTimeout,
              `The store did not answer ${operation} within ${limit} ms (option \`storeTimeout\`); the manager goes on without it.`,
            ),
          ),
        limit,
      )
      lifecycle.signal.addEventListener('abort', onClose, { once: true })
      new Promise<T>((settle) => settle(run())).then((value) => {
        clearTimeout(timer)
        lifecycle.signal.removeEventListener('abort', onClose)
        resolve(value)
      }, stop)
    })
  }

  /**
   * Runs a store operation, bounded in time; a failure is reported once per outage and never reaches
   * callers. An error `passThrough` recognises (the provider's, raised inside `store.refresh`) is not
   * the store's: it is rethrown and leaves the store's health alone.
   */
  async function useStore<T>(
    operation: StoreOperation,
    run: () => T | Promise<T>,
    passThrough: (error: unknown) => boolean = () => false,
    limit = config.storeTimeout,
  ): Promise<T | undefined> {
    try {
      const result = await bounded(operation, run, limit)
      if (storeFailing) {
        storeFailing = false
        emit({ type: 'store-recovered', operation })
      }
      return result
    } catch (error) {
      if (passThrough(error)) throw error
      if (lifecycle.signal.aborted) return undefined
      if (observers.size !== 0) notify({ type: 'store-failure', operation, error })
      if (!storeFailing) {
        storeFailing = true
        emit({ type: 'store-error', operation, error })
      }
      return undefined
    }
  }

  /** Whether a stored token may be taken instead of fetching: newer than ours, not thrown away, usable. */
  function fresherThan(floor: number): (stored: StoredToken) => boolean {
    return (stored) =>
      stored.token !== invalidated && stored.expiresAt > floor && now() < blockAtOf(stored)
  }

  function adopt(token: StoredToken): Entry {
    failures = 0
    retryAt = 0
    lastError = undefined
    return (entry = schedule(token, entry, now()))
  }

  /** Asks the source, retrying transient failures with backoff; the one place token requests are made. */
  async function fetchToken(reason: RefreshReason): Promise<StoredToken> {
    const firstAt = now()
    for (let attempt = 1; ; attempt++) {
      if (lifecycle.signal.aborted) throw closedError()
      emit({ type: 'token-request', reason, attempt })
      const startedAt = now()
      try {
        const token = await attemptOnce(attempt, firstAt)
        emit({
          type: 'token-refreshed',
          reason,
          attempt,
          expiresAt: token.expiresAt,
          durationMs: now() - startedAt,
          advanced: entry === undefined || token.expiresAt > entry.expiresAt,
        })
        return token
      } catch (caught) {
        const error = caught as ServiceTokenError
        if (error.code === ErrorCode.Closed) {
          if (observers.size !== 0) notify(REQUEST_CLOSED)
          throw error
        }
        const retryAfter = 'retryAfterMs' in error && typeof error.retryAfterMs === 'number' ? error.retryAfterMs : 0
        if (!error.retryable) {
          // A final error may know how long it lasts (a daily quota: until the platform's next day).
          const wait = Math.max(config.cooldown, Math.min(retryAfter, MAX_FINAL_WAIT_MS))
          cooldownUntil = now() + wait
          finalError = error
          emit({ type: 'token-request-failed', reason, attempt, error, final: true, retryInMs: wait })
          throw error
        }
        failures++
        // Full jitter (AWS architecture blog): a random delay up to an exponentially growing ceiling.
        const ceiling = Math.min(retry.maxDelay, retry.baseDelay * 2 ** (failures - 1))
        // Whole milliseconds: timers have no finer grain, and events stay readable.
        const delay = Math.round(Math.min(retry.maxDelay, Math.max(ceiling * random(), retryAfter)))
        retryAt = now() + delay
        lastError = error
        const final = attempt >= retry.attempts
        emit({ type: 'token-request-failed', reason, attempt, error, final, retryInMs: delay })
        if (final) throw error
        await pause(delay, lifecycle.signal)
      }
    }
  }

  async function runFlight(reason: RefreshReason): Promise<Entry> {
    const isFresh = fresherThan(entry?.expiresAt ?? 0)
    // Another manager sharing the store may already have a newer token.
    const stored = await useStore('get', async () => checkStored(await store.get(storeKey)))
    if (stored !== undefined && isFresh(stored)) {
      emit({ type: 'token-from-store', reason, expiresAt: stored.expiresAt })
      return adopt(stored)
    }
    if (store.refresh !== undefined) {
      const coordinate = store.refresh.bind(store)
      // The store's API takes an AbortSignal: one per flight, made in the flight's own context, ended by close().
      const closing = new AbortController()
      const onClose = (): void => closing.abort(lifecycle.signal.reason)
      lifecycle.signal.addEventListener('abort', onClose)
      if (lifecycle.signal.aborted) onClose()
      // Cluster-wide single flight: the store lets one manager fetch while the others wait for its token.
      // However often the store calls `fetch`, one token request is made.
      let fetching: Promise<StoredToken> | undefined
      const failed: unknown[] = []
      const fetch = (): Promise<StoredToken> => {
        if (fetching === undefined) {
          fetching = fetchToken(reason).catch((error: unknown) => {
            failed.push(error)
            throw error
          })
          // A store that drops the promise must not leave an unhandled rejection; the error reaches callers.
          fetching.catch(() => {})
        }
        return fetching
      }
      let shared: StoredToken | undefined
      try {
        shared = await useStore(
          'refresh',
          async () => checkStored(await coordinate(storeKey, { fetch, isFresh, signal: closing.signal, onLockWait })),
          (error) => failed.includes(error),
          refreshLimit,
        )
      } finally {
        lifecycle.signal.removeEventListener('abort', onClose)
      }
      if (shared !== undefined) {
        if (fetching === undefined) emit({ type: 'token-from-store', reason, expiresAt: shared.expiresAt })
        return adopt(shared)
      }
      if (lifecycle.signal.aborted) throw closedError()
      // The store failed (or gave up waiting): keep what this manager fetched or is fetching, or fall back
      // to fetching alone (each process with its own single flight) while the store is away.
      if (fetching !== undefined) return adopt(await fetching)
    }
    const token = await fetchToken(reason)
    // Callers never wait for the store: it only shares what this manager already has.
    keepAlive(useStore('set', () => store.set(storeKey, token)))
    return adopt(token)
  }

  const onLockWait = (): void => {
    if (observers.size !== 0) notify(LOCK_WAIT)
  }

  function startFlight(reason: RefreshReason): Flight {
    if (observers.size !== 0) notify({ type: 'refresh', cause: causeOf(reason, entry !== undefined, invalidated !== undefined) })
    // `close()` ends the flight (and releases its waiters) whatever the source or the store still do.
    const promise = untilAborted(runFlight(reason), lifecycle.signal)
    const current: Flight = { promise }
    flight = current
    const clear = (): void => {
      if (flight === current) flight = undefined
    }
    // Background refreshes may have no waiter: the rejection is recorded in state, never unhandled.
    keepAlive(promise.then(clear, clear))
    return current
  }

  /** Hands work that outlives its caller (a refresh, a store write) to `waitUntil`, when one is given. */
  function keepAlive(work: Promise<unknown>): void {
    try {
      config.waitUntil?.(work)
    } catch {
      // The work runs either way; a runtime refusing to keep it alive must not fail the caller.
    }
  }

  /** The token to hand out after a refresh fails: the old one, as long as it has not expired. */
  function tokenOrThrow(error: unknown): string {
    if (entry !== undefined && now() < entry.expiresAt && !lifecycle.signal.aborted) return entry.token
    throw error
  }

  function join(reason: RefreshReason, signal: AbortSignal | undefined): Promise<string> {
    const current = flight ?? startFlight(reason)
    if (observers.size !== 0) notify(WAITED)
    return untilAborted(
      current.promise.then((fresh) => fresh.token, tokenOrThrow),
      signal,
    )
  }

  /** No new attempt may start now (cooldown or backoff), and none is under way. */
  function blockedAt(at: number): boolean {
    return flight === undefined && (at < cooldownUntil || at < retryAt)
  }

  /**
   * The cached token when a caller can have it now (starting a refresh ahead when one is due), or
   * `undefined` when it has to wait: `getToken` without the promise, for adapters on the hot path.
   */
  function readyToken(at: number): string | undefined {
    const current = entry
    if (current === undefined || at >= current.expiresAt) return undefined
    if (at < current.blockAt) {
      if (at >= current.refreshAt && flight === undefined && !blockedAt(at)) startFlight('ahead')
      return current.token
    }
    // Hard window: wait for a new token, unless a refresh may not be tried yet; the old one is still valid.
    return blockedAt(at) ? current.token : undefined
  }

  function getToken(options: GetTokenOptions = {}): Promise<string> {
    const { signal } = options
    if (lifecycle.signal.aborted) return Promise.reject(closedError())
    if (signal?.aborted) return Promise.reject(signal.reason)
    const at = now()
    const ready = readyToken(at)
    if (ready !== undefined) {
      if (observers.size !== 0) notify(HIT)
      return Promise.resolve(ready)
    }
    if (entry !== undefined && at < entry.expiresAt) return join('expiring', signal)
    if (blockedAt(at)) return Promise.reject(at < cooldownUntil ? finalError : lastError)
    return join('missing', signal)
  }

  function refresh(options: GetTokenOptions = {}): Promise<string> {
    if (lifecycle.signal.aborted) return Promise.reject(closedError())
    if (flight === undefined && now() < cooldownUntil) return Promise.reject(finalError)
    const current = flight ?? startFlight('forced')
    return untilAborted(
      current.promise.then((fresh) => fresh.token),
      options.signal,
    )
  }

  /**
   * How long the current token must have been held before `invalidate()` may throw it away: nothing for
   * the first refusal, then `baseDelay` doubling per refusal in a row, up to `maxDelay`. An API that
   * refuses every token, fresh ones included, then gets token requests at a growing interval instead of
   * one per call.
   */
  function minimumAge(at: number): number {
    const { baseDelay, maxDelay } = refusalBackoff
    if (at - lastInvalidationAt >= 2 * maxDelay) refusals = reportedRefusals = 0
    return refusals === 0 ? 0 : Math.min(maxDelay, baseDelay * 2 ** (refusals - 1))
  }

  function invalidate(token: string): boolean {
    if (entry === undefined || entry.token !== token) {
      if (observers.size !== 0) notify({ type: 'invalidation', outcome: 'stale' })
      return false
    }
    const at = now()
    // Only a token asked for after the last invalidation says the API refuses fresh tokens; an older one
    // (say, from a refresh ahead under way when every token was revoked) may go at once.
    if (entry.issuedAt >= lastInvalidationAt) {
      const age = at - entry.adoptedAt
      const hold = minimumAge(at)
      if (age < hold) {
        if (reportedRefusals !== refusals) {
          reportedRefusals = refusals
          emit({ type: 'fresh-token-refused', refusals: refusals + 1, retryInMs: hold - age })
        }
        if (observers.size !== 0) notify({ type: 'invalidation', outcome: 'kept' })
        return false
      }
      refusals++
      lastInvalidationAt = at
    }
    const { expiresAt } = entry
    entry = undefined
    invalidated = token
    keepAlive(useStore('delete', () => store.delete(storeKey, token)))
    emit({ type: 'token-invalidated', expiresAt })
    return true
  }

  /** `readyToken` for adapters: what `getToken` would resolve with at once, without its promise. */
  function ready(): string | undefined {
    const token = lifecycle.signal.aborted ? undefined : readyToken(now())
    if (token !== undefined && observers.size !== 0) notify(HIT)
    return token
  }

  function peek(): TokenSnapshot | undefined {
    if (entry === undefined || now() >= entry.expiresAt) return undefined
    return { token: entry.token, expiresAt: entry.expiresAt }
  }

  function close(): void {
    if (lifecycle.signal.aborted) return
    lifecycle.abort(closedError())
    entry = undefined
  }

  const manager: TokenManager & { [READY_TOKEN]: ReadyToken } = {
    getToken,
    invalidate,
    refresh,
    peek,
    close,
    [Symbol.dispose]: close,
    [READY_TOKEN]: { getToken, ready, emit, observe, signal: (signal) => observers.size !== 0 && notify(signal), protocol: config.protocol, closed: () => lifecycle.signal.aborted },
    baseUrl: config.baseUrl,
    tokenUrl: config.tokenUrl,
  }
  return Object.freeze(manager)
}

export { createTokenManager }
