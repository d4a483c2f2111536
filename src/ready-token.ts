import type { RefreshReason, StoreOperation, TokenManager, TokenManagerEvent, TokenProtocol } from './types.js'

/**
 * Internal: a manager made by `createTokenManager` holds, under this symbol, its own `getToken`, a
 * `ready()` that answers with the token a caller could have right now without waiting, or `undefined`
 * (the adapters use it to skip a promise per request), its `emit`, through which the adapters report
 * on its `onEvent`, and `observe`, through which instrumentation (`anyweb-service-token/otel`) hears
 * what happens.
 */
const READY_TOKEN: unique symbol = Symbol('anyweb-service-token.readyToken')

/** What a refresh replaces: the {@link RefreshReason} with what the manager held when it started. */
type RefreshCause = 'cold' | 'ahead' | 'expired' | 'invalidated' | 'forced'

/**
 * What an observer hears: every public event, and a few internal facts that are not events. None
 * carries a token or a secret.
 */
type Signal =
  | TokenManagerEvent
  /** A caller got a token: from the cache at once, or after waiting for a refresh. */
  | { type: 'cache-answer'; waited: boolean }
  /** A refresh (one flight, shared by every caller) starts. */
  | { type: 'refresh'; cause: RefreshCause }
  /**
   * `invalidate()` found the token no longer current, or kept it (`fresh-token-refused`, reported once
   * per step). One it threw away is the event `token-invalidated`.
   */
  | { type: 'invalidation'; outcome: 'stale' | 'kept' }
  /** An adapter is sending a refused request once more, with a renewed token, in the caller's context. */
  | { type: 'replay' }
  /** One store call failed (`store-error` is reported once per outage; this, every time). */
  | { type: 'store-failure'; operation: StoreOperation; error: unknown }
  /** The store found another manager refreshing and waits for its token. */
  | { type: 'lock-wait' }
  /** A token request ended without its own event: the manager closed under it. */
  | { type: 'token-request-closed' }

type Observer = (signal: Signal) => void

interface ReadyToken {
  /** The `getToken` that `ready` stands for. */
  readonly getToken: TokenManager['getToken']
  readonly ready: () => string | undefined
  readonly emit: (event: TokenManagerEvent) => void
  /** Adds an observer; the function returned removes it. */
  readonly observe: (observer: Observer) => () => void
  /** Tells the observers (adapters' internal signals); nothing when there are none. */
  readonly signal: (signal: Signal) => unknown
  /** The manager's platform protocol: the adapters' default placement and auth-error rule. */
  readonly protocol: TokenProtocol
  /** Whether `close()` was called. */
  readonly closed: () => boolean
}

/** Signals without data, made once: telling them allocates nothing. */
const HIT: Signal = Object.freeze({ type: 'cache-answer', waited: false })
const WAITED: Signal = Object.freeze({ type: 'cache-answer', waited: true })
const REPLAY: Signal = Object.freeze({ type: 'replay' })
const LOCK_WAIT: Signal = Object.freeze({ type: 'lock-wait' })
const REQUEST_CLOSED: Signal = Object.freeze({ type: 'token-request-closed' })

/**
 * A manager's observers. Callers check `size` before building a signal, so that a manager nobody
 * observes does no more than that check on its hot path.
 */
function createObservers(): { observers: ReadonlySet<Observer>; observe: ReadyToken['observe']; notify: (signal: Signal) => void } {
  const observers = new Set<Observer>()
  return {
    observers,
    observe(observer) {
      observers.add(observer)
      return () => void observers.delete(observer)
    },
    notify(signal) {
      for (const observer of observers) {
        try {
          observer(signal)
        } catch {
          // Like a faulty `onEvent`: an observer must not break token delivery.
        }
      }
    },
  }
}

/** The {@link RefreshCause} of a refresh started for `reason`, from what the manager held. */
function causeOf(reason: RefreshReason, held: boolean, invalidated: boolean): RefreshCause {
  if (reason === 'missing') return held ? 'expired' : invalidated ? 'invalidated' : 'cold'
  return reason === 'expiring' ? 'expired' : reason
}

function holderOf(manager: TokenManager): ReadyToken | undefined {
  return (manager as { [READY_TOKEN]?: ReadyToken })[READY_TOKEN]
}

/**
 * The token `manager` would hand out at once, when it is a manager made by `createTokenManager` whose
 * `getToken` is its own; `undefined` otherwise (a manager written or wrapped by hand, even one copied
 * with its symbols or inheriting them, is always asked through its own `getToken`).
 */
function readyTokenOf(manager: TokenManager): string | undefined {
  const holder = holderOf(manager)
  return holder !== undefined && holder.getToken === manager.getToken ? holder.ready() : undefined
}

/** Reports `event` on the `onEvent` of `manager`, when it is a manager made by `createTokenManager`. */
function emitThrough(manager: TokenManager, event: TokenManagerEvent): void {
  holderOf(manager)?.emit(event)
}

/** Tells the observers of `manager` about `signal`, when it is a manager made by `createTokenManager`. */
function signalThrough(manager: TokenManager, signal: Signal): void {
  holderOf(manager)?.signal(signal)
}

/** Observes `manager`, when it is a manager made by `createTokenManager`; the function returned stops. */
function observeThrough(manager: TokenManager, observer: Observer): (() => void) | undefined {
  return holderOf(manager)?.observe(observer)
}

/** Whether `manager` was closed; `undefined` for a manager not made by `createTokenManager`. */
function closedOf(manager: TokenManager): boolean | undefined {
  return holderOf(manager)?.closed()
}

/** The protocol of `manager`'s platform; `undefined` for a manager not made by `createTokenManager`. */
function protocolOf(manager: TokenManager): TokenProtocol | undefined {
  return holderOf(manager)?.protocol
}

export {
  causeOf,
  closedOf,
  createObservers,
  emitThrough,
  HIT,
  LOCK_WAIT,
  observeThrough,
  protocolOf,
  READY_TOKEN,
  readyTokenOf,
  REPLAY,
  REQUEST_CLOSED,
  signalThrough,
  WAITED,
}
export type { Observer, ReadyToken, RefreshCause, Signal }
