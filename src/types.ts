import type { ServiceTokenError } from './errors.js'

/** A value or a promise of it. */
type Awaitable<T> = T | Promise<T>

/** The fetch signature the library calls: the web-standard one. */
type FetchLike = (input: Request | URL | string, init?: RequestInit) => Promise<Response>

/** What a token source returns: the token and its lifetime in seconds, counted from when it was asked for. */
interface TokenGrant {
  /** The opaque token. */
  token: string
  /** Lifetime in seconds from the moment the request was sent. */
  expiresIn: number
}

/** What a token source receives. */
interface TokenSourceContext {
  /** Aborted when the manager's `timeout` elapses or the manager is closed. Pass it to fetch. */
  signal: AbortSignal
  /** The manager's clock (its `now` option), for times read from an answer (`Retry-After`, a quota's reset). */
  now?: () => number
}

/**
 * Fetches one new token. Throw a {@link ServiceTokenError} with `retryable: false` to make a failure
 * final (no retry, cooldown); anything else thrown is treated as transient.
 */
type TokenSource = (context: TokenSourceContext) => Promise<TokenGrant>

/** A token as the manager keeps it and as stores hold it. Times are epoch milliseconds. */
interface StoredToken {
  /** The opaque token. */
  token: string
  /** When it stops being valid: the send time of its request plus `expiresIn`. */
  expiresAt: number
  /** When its request was sent. */
  issuedAt: number
}

/** What the manager hands to {@link TokenStore.refresh}. */
interface RefreshCoordination {
  /**
   * Fetches a new token from the provider, with the manager's retries and events. Call it at most once,
   * while holding the store's lock; it rejects with the provider's error.
   */
  fetch(): Promise<StoredToken>
  /** Whether a stored token is newer than the manager's and usable, so it can be taken instead of fetching. */
  isFresh(stored: StoredToken): boolean
  /** Aborted when the manager closes: stop waiting. */
  signal: AbortSignal
  /** Call it when another manager holds the lock and this one starts waiting for its token (for metrics). */
  onLockWait?(): void
}

/** The store operations, as named in `store-error` and `store-recovered` events. */
type StoreOperation = 'get' | 'set' | 'delete' | 'refresh'

/**
 * Where the manager keeps its token, so several managers (or processes) can share one.
 * Every method may be synchronous or return a promise. A method that throws or rejects is reported as
 * one `store-error` event per outage, and the manager goes on with its own single flight.
 */
interface TokenStore {
  /** The token stored under `key`, if any. */
  get(key: string): Awaitable<StoredToken | undefined>
  /** Stores `value` under `key` (a store may drop it at `value.expiresAt`). */
  set(key: string, value: StoredToken): Awaitable<void>
  /** Compare-and-delete: removes the entry only if it still holds `token`; says whether it did. */
  delete(key: string, token: string): Awaitable<boolean>
  /**
   * Optional single flight across every manager sharing the store (e.g. many processes): take a lock,
   * return a fresh stored token or call `fetch()` and store its result, release the lock; without the lock,
   * wait for the holder's token. Without this method each manager fetches on its own and shares the result
   * through `set`.
   */
  refresh?(key: string, coordination: RefreshCoordination): Promise<StoredToken>
}

/** The result of {@link TokenManager.peek}. */
interface TokenSnapshot {
  /** The current token. */
  token: string
  /** When it expires, in epoch milliseconds. */
  expiresAt: number
}

/** Why the manager asks for a new token. */
type RefreshReason =
  /** No token yet (or it was invalidated, or has expired): callers are waiting. */
  | 'missing'
  /** The token entered its soft window: refreshed in the background, nobody waits. */
  | 'ahead'
  /** The token entered its hard window: callers wait. */
  | 'expiring'
  /** `refresh()` was called. */
  | 'forced'

/**
 * Why an adapter took an answer for a refusal of the token: HTTP 401; the platform's code in a JSON body
 * (AnyWeb's `code: "A108P001"`, a preset's, any rule made by `authErrorRule`; with another status); or a
 * custom `isAuthError` said so (with another status).
 */
type AuthErrorKind = 'http-401' | 'body-code' | 'custom'

/** Events the manager reports through `onEvent`. They never carry a token or a secret. */
type TokenManagerEvent =
  | { type: 'token-request'; reason: RefreshReason; attempt: number }
  | {
      type: 'token-refreshed'
      reason: RefreshReason
      attempt: number
      /** Epoch milliseconds. */
      expiresAt: number
      /** How long the request took, in milliseconds. */
      durationMs: number
      /** False when the new token does not expire later than the previous one. */
      advanced: boolean
    }
  | {
      type: 'token-request-failed'
      reason: RefreshReason
      attempt: number
      error: ServiceTokenError
      /** True when no retry is scheduled within this refresh (final error, or attempts used up). */
      final: boolean
      /** When the next attempt may be made, in milliseconds from now. */
      retryInMs: number
    }
  | {
      /** A newer token written by another manager sharing the store was taken instead of fetching one. */
      type: 'token-from-store'
      reason: RefreshReason
      expiresAt: number
    }
  | { type: 'token-invalidated'; expiresAt: number }
  | {
      /**
       * `invalidate()` kept the current token: the API refused it although it replaced, moments ago, a
       * token the API had refused too. The API refuses fresh tokens (a revoked app, a missing permission,
       * an IP allow-list); new ones would not help, so they are asked for at a growing interval
       * (`refusalBackoff`). Reported once per refusal in a row.
       */
      type: 'fresh-token-refused'
      /** Tokens refused in a row so far. */
      refusals: number
      /** When the current token may be invalidated again, in milliseconds from now. */
      retryInMs: number
    }
  /** The store failed (reported once per outage); the manager goes on without it. */
  | { type: 'store-error'; operation: StoreOperation; error: unknown }
  /** The store answered again after a `store-error`. */
  | { type: 'store-recovered'; operation: StoreOperation }
  | {
      /**
       * An adapter's request was answered with an auth error: the token it carried is invalidated
       * (compare-and-invalidate) and the request is sent once more with the current token. Not reported
       * for a request that cannot be sent again (a stream body), nor for the answer to the resend.
       */
      type: 'auth-error'
      kind: AuthErrorKind
      /** The HTTP status of the answer. */
      status: number
    }
  | {
      /**
       * An adapter sent a request without a token because its origin is not one the token may go to, and
       * the answer refused it as an auth error would (HTTP 401, or `A108P001`): most often the client
       * and the manager name the API differently (`localhost` and `127.0.0.1`, `http` and `https`, a
       * port). Reported once per origin. Use the manager's origin in the client, or list this one in the
       * adapter option `origins`.
       */
      type: 'origin-not-allowed'
      /** The origin the request went to (`scheme://host:port`). */
      origin: string
      /** The origins the token may go to. */
      allowed: string[]
      /** The HTTP status of the answer. */
      status: number
    }

/** Retry policy for transient token-endpoint failures. */
interface RetryOptions {
  /**
   * Attempts per refresh (the first included) before waiting callers get the error.
   * @default 3
   */
  attempts?: number
  /**
   * First backoff ceiling in milliseconds; it doubles per consecutive failure (full jitter).
   * @default 250
   */
  baseDelay?: number
  /**
   * Largest delay between attempts in milliseconds, `Retry-After` included.
   * @default 60_000
   */
  maxDelay?: number
}

/**
 * How token refreshes caused by `invalidate()` are spaced when the API refuses fresh tokens.
 *
 * @example
 * ```ts
 * // An API that refuses tokens for a while after a deploy: invalidate at most every 5 s, then 5 min.
 * createTokenManager({ appid, secret, refusalBackoff: { baseDelay: 5_000, maxDelay: 300_000 } })
 * ```
 */
interface RefusalBackoffOptions {
  /**
   * After a token has been invalidated, its replacement cannot be invalidated for this many
   * milliseconds; the wait doubles with each refusal in a row. `0` turns the limit off.
   * @default 1_000
   */
  baseDelay?: number
  /**
   * The longest wait between two invalidations in a row, in milliseconds. A run of refusals ends when
   * twice this long passes without one.
   * @default 60_000
   */
  maxDelay?: number
}

/** Options shared by every way of creating a manager. */
interface CommonManagerOptions {
  /**
   * Start refreshing in the background this many milliseconds before expiry (capped at half the
   * token's lifetime, with jitter towards expiry), while callers keep getting the cached token.
   * @default 300_000 (5 minutes)
   */
  refreshWindow?: number
  /**
   * In the last this-many milliseconds before expiry (capped at a quarter of the lifetime) callers wait
   * for a new token: covers clock skew and request latency.
   * @default 10_000
   */
  expiryMargin?: number
  /**
   * Shortest time between two refreshes when a refreshed token does not expire later than the last.
   * @default 1_000
   */
  minRefreshInterval?: number
  /**
   * Milliseconds one token request may take before it is aborted (`ERR_TOKEN_TIMEOUT`). A caller may
   * wait for every attempt: up to `retry.attempts` × `timeout` plus the backoff between them (about
   * 30 s by default against a hanging endpoint); pass a `signal` to `getToken` to bound one caller's wait.
   * Every duration option is at most 2³¹−1 ms, what timers can wait.
   * @default 10_000
   */
  timeout?: number
  /** Retry policy for transient failures. */
  retry?: RetryOptions
  /**
   * Rate limit of refreshes caused by `invalidate()`, so that an API that refuses every token (even a
   * fresh one) cannot make the manager ask for one per call. Within the limit `invalidate()` keeps the
   * token and returns `false` (adapters then replay once with it) and a `fresh-token-refused` event is
   * reported.
   * @default { baseDelay: 1_000, maxDelay: 60_000 }
   */
  refusalBackoff?: RefusalBackoffOptions
  /**
   * After a final error (wrong appid/secret), callers get that error at once for this many
   * milliseconds instead of a new token request; for longer when the error's `retryAfterMs` says so
   * (a platform's daily quota: until its next day), at most a day.
   * @default 30_000
   */
  cooldown?: number
  /**
   * Where the token is kept. Share one store between managers or processes to share the token.
   * @default memoryStore()
   */
  store?: TokenStore
  /**
   * The key under which the token is stored.
   * @default `anyweb:<baseUrl>:<appid>` for AnyWeb, `"default"` for a custom `source`
   */
  storeKey?: string
  /**
   * Milliseconds one store call (`get`, `set`, `delete`) may take; a store that does not answer in time
   * is treated as failing (one `store-error` event, code `ERR_STORE_TIMEOUT`) and the manager goes on
   * with its own single flight. `refresh` may wait for another manager's token request, so it gets this
   * plus the longest a token request with its retries can take.
   * @default 2_000
   */
  storeTimeout?: number
  /**
   * The clock, in epoch milliseconds. Inject a fake one in tests.
   * @default () => Date.now()
   */
  now?: () => number
  /**
   * Random numbers in [0, 1) for jitter. Inject a fixed one in tests.
   * @default Math.random
   */
  random?: () => number
  /** Receives every {@link TokenManagerEvent}. Must not throw (what it throws is ignored). */
  onEvent?: (event: TokenManagerEvent) => void
  /**
   * Hands each token request and store write to the runtime as work that must finish after the response
   * is sent. Needed
   * on Cloudflare Workers, which stop a request's pending I/O once it has answered: a refresh ahead
   * started by a request that then answers with the cached token would otherwise be cut off, and the
   * callers waiting on it later would wait for ever. Elsewhere nothing stops such work; leave it unset.
   * @example
   * ```ts
   * // In a Worker: `waitUntil` from 'cloudflare:workers' works for whichever request is running.
   * import { waitUntil } from 'cloudflare:workers'
   * createTokenManager({ appid: env.ANYWEB_APPID, secret: env.ANYWEB_SECRET, waitUntil })
   * ```
   */
  waitUntil?: (work: Promise<unknown>) => void
}

/** Options for a manager of AnyWeb ServiceTokens. */
interface AnyWebManagerOptions extends CommonManagerOptions {
  /** The application id from the AnyWeb developer console. */
  appid: string
  /** The application secret. Kept in a closure; never logged, printed or serialised. */
  secret: string
  /**
   * The AnyWeb API base URL. Must be HTTPS, except for loopback addresses (the emulator).
   * @default 'https://api.anyweb.cc'
   */
  baseUrl?: string
  /**
   * The fetch used for token requests, captured once at creation so that wrapping the global fetch
   * later never makes token requests go through the wrapper.
   * @default globalThis.fetch at creation time
   */
  fetch?: FetchLike
  /**
   * Allows a secret in a browser-like runtime (`window` and `document`, no `process`). A secret shipped
   * to a browser is public; only set this for trusted environments that merely look like one.
   * @default false
   */
  dangerouslyAllowBrowser?: boolean
  source?: never
  protocol?: never
}

/** What marks a preset's `source` and `baseUrl` as a pair, for the type checker only. */
declare const presetMade: unique symbol

/**
 * A preset's token source: its token requests go to the preset's {@link PresetBaseUrl}. Only presets
 * make one; the type keeps a preset's source and origin together.
 *
 * @example
 * ```ts
 * const { source }: { source: PresetSource } = wechat({ appid, secret })
 * ```
 */
type PresetSource = TokenSource & { readonly [presetMade]: true }

/**
 * A preset's `baseUrl`: only the one the preset was given goes with its source (pass another to the
 * preset, not beside it).
 *
 * @example
 * ```ts
 * createTokenManager({ ...wechat({ appid, secret, baseUrl: 'http://127.0.0.1:8787' }), onEvent: console.log })
 * ```
 */
type PresetBaseUrl = string & { readonly [presetMade]: true }

/** Options for a manager of tokens from any provider. */
interface SourceManagerOptions extends CommonManagerOptions {
  /** Fetches one new token. */
  source: TokenSource & { readonly [presetMade]?: never }
  /**
   * The base URL of the API the tokens are for. Adapters send tokens only to its origin by default;
   * without it, adapters need an explicit `origins` option.
   */
  baseUrl?: string
  /**
   * The platform's token protocol, which the adapters take as their defaults (presets set it).
   * @default AnyWeb's: body field `serviceToken`, refused with `code: "A108P001"`
   */
  protocol?: TokenProtocol
  appid?: never
  secret?: never
  fetch?: never
  dangerouslyAllowBrowser?: never
}

/**
 * A preset's options with other manager options spread beside them: the preset's own `baseUrl` only,
 * since its token requests go there whatever `baseUrl` says.
 *
 * @example
 * ```ts
 * const options: PresetManagerOptions = { ...feishu({ appId, appSecret }), refreshWindow: 600_000 }
 * ```
 */
interface PresetManagerOptions extends CommonManagerOptions {
  source: PresetSource
  baseUrl: PresetBaseUrl
  protocol?: TokenProtocol
  appid?: never
  secret?: never
  fetch?: never
  dangerouslyAllowBrowser?: never
}

/** Options of {@link createTokenManager}. */
type TokenManagerOptions = AnyWebManagerOptions | SourceManagerOptions | PresetManagerOptions

/** Options of {@link TokenManager.getToken}. */
interface GetTokenOptions {
  /** Stops this caller's wait (rejecting with `signal.reason`); never cancels the shared refresh. */
  signal?: AbortSignal
}

/**
 * Fetches, caches and refreshes one token, shared by every caller. Create it with
 * `createTokenManager()`.
 */
interface TokenManager {
  /**
   * A valid token: the cached one, or a new one fetched once for all concurrent callers.
   * @throws {ServiceTokenError} when no valid token can be had; `signal.reason` when aborted.
   */
  getToken(options?: GetTokenOptions): Promise<string>
  /**
   * Compare-and-invalidate: forgets `token` only if it is still the current token, so a late failure
   * of an old token never throws away a newer one. Returns whether it did. Rate limited
   * (`refusalBackoff`): a token fetched after the last invalidation is kept while it is younger than the
   * current backoff, with a `fresh-token-refused` event.
   */
  invalidate(token: string): boolean
  /** Fetches a new token now, joining a refresh already under way. */
  refresh(options?: GetTokenOptions): Promise<string>
  /** The cached token and its expiry, synchronously, without fetching; `undefined` if none is usable. */
  peek(): TokenSnapshot | undefined
  /** Stops timers and pending requests; later calls reject with `ERR_CLOSED`. Idempotent. */
  close(): void
  /** Same as {@link TokenManager.close}, for `using manager = createTokenManager(…)`. */
  [Symbol.dispose](): void
  /** The API base URL (for adapters' default `origins`), when known. */
  readonly baseUrl: string | undefined
  /** The token endpoint's URL, which adapters never wrap, when known. */
  readonly tokenUrl: string | undefined
}


/** What {@link ServiceTokenAdapterOptions.isAuthError} receives: the response, host-independent. */
interface AuthErrorState {
  /** The HTTP status. */
  status: number
  /** The response headers. */
  headers: Headers
  /** The URL the request went to. */
  url: string
  /**
   * The body parsed as JSON, from what was read for the check (the caller's response stays readable);
   * `undefined` when the content type is neither JSON nor `text/plain`, the body is longer than 64 KiB (decoded), did not end
   * within `answerTimeout`, or does not parse.
   */
  json(): Promise<unknown>
}

/** Tells whether a response means "this token is not accepted": the request is then replayed once. */
type IsAuthError = (state: AuthErrorState) => boolean | Promise<boolean>

/**
 * Where the token goes in a request.
 *
 * - `{ in: 'body', field }`: a field of a JSON object body, an urlencoded body or a multipart form. An
 *   empty body becomes `{"<field>": "<token>"}` with `content-type: application/json`. A field the
 *   caller already set gets the token as its value. GET and HEAD requests cannot carry a body and are
 *   sent untouched.
 * - `{ in: 'header', name, scheme? }`: a header, e.g. `authorization: Bearer <token>`.
 * - `{ in: 'query', name }`: a query parameter.
 *
 * @example
 * ```ts
 * const placement: TokenPlacement = { in: 'header', name: 'authorization', scheme: 'Bearer' }
 * ```
 */
type TokenPlacement =
  | { in: 'body'; field: string }
  | { in: 'header'; name: string; scheme?: string }
  | { in: 'query'; name: string }

/**
 * A platform's token protocol, as the adapters use it by default (their own `placement` and
 * `isAuthError` options still win). Presets set it; give one with a custom `source` for a platform
 * that has no preset.
 *
 * @example
 * ```ts
 * const protocol: TokenProtocol = {
 *   placement: { in: 'header', name: 'authorization', scheme: 'Bearer' },
 *   isAuthError: authErrorRule({ field: 'code', codes: [99991663] }),
 *   tokenPath: '/open-apis/auth/v3/tenant_access_token/internal',
 * }
 * ```
 */
interface TokenProtocol {
  /** Where the token goes in a request. */
  readonly placement: TokenPlacement
  /** Whether an answer refuses the token (the request is then replayed once with a new one). */
  readonly isAuthError: IsAuthError
  /** The token endpoint's path under `baseUrl` (e.g. `"/cgi-bin/token"`): adapters never send a token there. */
  readonly tokenPath: string
}

export type {
  AnyWebManagerOptions,
  AuthErrorKind,
  AuthErrorState,
  Awaitable,
  CommonManagerOptions,
  FetchLike,
  GetTokenOptions,
  IsAuthError,
  PresetBaseUrl,
  PresetManagerOptions,
  PresetSource,
  RefreshCoordination,
  RefreshReason,
  RefusalBackoffOptions,
  RetryOptions,
  SourceManagerOptions,
  StoredToken,
  StoreOperation,
  TokenGrant,
  TokenManager,
  TokenManagerEvent,
  TokenManagerOptions,
  TokenPlacement,
  TokenProtocol,
  TokenSnapshot,
  TokenSource,
  TokenSourceContext,
  TokenStore,
}
