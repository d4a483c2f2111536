/**
 * Every error code the library produces, as constants.
 *
 * @example
 * ```ts
 * import { ErrorCode } from 'anyweb-service-token'
 * if (error.code === ErrorCode.Credentials) alertOps('AnyWeb rejected our appid/secret')
 * ```
 */
const ErrorCode = {
  /** An option passed to the library is missing or invalid. Thrown synchronously. */
  InvalidOption: 'ERR_INVALID_OPTION',
  /** The token endpoint could not be reached (DNS, refused, reset, TLS). Retried. */
  Network: 'ERR_TOKEN_NETWORK',
  /** The token endpoint did not answer within the manager's `timeout`. Retried. */
  Timeout: 'ERR_TOKEN_TIMEOUT',
  /** The token endpoint answered a non-2xx status without an AnyWeb error envelope. Retried. */
  Http: 'ERR_TOKEN_HTTP',
  /**
   * The token endpoint answered a redirect (3xx). Final: token requests never follow redirects, because
   * following one would send the secret wherever `Location` points.
   */
  Redirect: 'ERR_TOKEN_REDIRECT',
  /** The token endpoint answered something that is not a valid token response. Retried. */
  InvalidResponse: 'ERR_TOKEN_RESPONSE',
  /** AnyWeb rejected the appid or secret (A108P002–A108P005). Final: not retried, cooldown applies. */
  Credentials: 'ERR_ANYWEB_CREDENTIALS',
  /** AnyWeb answered another error code. Retried unless the source said otherwise. */
  Api: 'ERR_ANYWEB_API',
  /**
   * A platform other than AnyWeb (a preset) refused to issue a token to this app: wrong, missing or
   * frozen id or secret, or a caller IP not on its allow-list. Final: not retried, cooldown applies.
   */
  PlatformCredentials: 'ERR_PLATFORM_CREDENTIALS',
  /** A platform's daily quota of token requests is used up (e.g. WeChat 45009). Final until it resets. */
  PlatformQuota: 'ERR_PLATFORM_QUOTA',
  /** A platform answered another error code (busy, rate limited, …). Retried with backoff. */
  PlatformApi: 'ERR_PLATFORM_API',
  /** A custom token source threw something that is not one of this library's errors. Retried. */
  Source: 'ERR_TOKEN_SOURCE',
  /** The manager was closed; it serves no more tokens. */
  Closed: 'ERR_CLOSED',
  /** A store call did not settle within `storeTimeout`. Only reported in `store-error` events. */
  StoreTimeout: 'ERR_STORE_TIMEOUT',
  /**
   * The store cannot work as configured (e.g. a plain Redis client pointed at a cluster answers
   * `MOVED`, a replica answers `READONLY`, a client that is not connected). The message says what to
   * change. Only reported in `store-error` events; the manager goes on without the store.
   */
  StoreConfig: 'ERR_STORE_CONFIG',
  /** The store's server did not answer or refused a command (down, restarting, failing over). Only in `store-error` events. */
  StoreUnavailable: 'ERR_STORE_UNAVAILABLE',
} as const

/** Union of every `code` an error of this library can carry. */
type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** What every error of the library may carry besides its message. */
interface ServiceTokenErrorOptions {
  /** The underlying error, if any. */
  cause?: unknown
  /**
   * Whether trying again later may succeed. Custom token sources set `retryable: false` on an error to
   * make it final (no retry loop, cooldown) like a credential error.
   * @default true
   */
  retryable?: boolean
}

/**
 * The base class of every error this library throws or rejects with.
 *
 * @example
 * ```ts
 * try {
 *   await manager.getToken()
 * } catch (error) {
 *   if (isServiceTokenError(error)) console.error(error.code, error.message)
 * }
 * ```
 */
class ServiceTokenError extends Error {
  /** A stable machine-readable code, one of {@link ErrorCode}. */
  readonly code: ErrorCode
  /** Whether trying again later may succeed. */
  readonly retryable: boolean

  constructor(code: ErrorCode, message: string, options: ServiceTokenErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'ServiceTokenError'
    this.code = code
    this.retryable = options.retryable ?? true
  }
}

/**
 * An option is missing or invalid: thrown synchronously by `createTokenManager` and the adapters, so a
 * misconfiguration fails at start-up, not at the first request. `getToken` rejects with it (final, with
 * the cooldown) when the token endpoint answers HTTP 404, which means `baseUrl` is wrong. Its message
 * never quotes a value that may be secret.
 *
 * @example
 * ```ts
 * createTokenManager({ appid: 'wx1', secret: '' }) // throws ConfigurationError, code ERR_INVALID_OPTION
 * ```
 */
class ConfigurationError extends ServiceTokenError {
  /** The name of the offending option, e.g. `"secret"` or `"retry.maxDelay"`. */
  readonly option: string

  constructor(option: string, message: string, options: { cause?: unknown } = {}) {
    super(ErrorCode.InvalidOption, message, { cause: options.cause, retryable: false })
    this.name = 'ConfigurationError'
    this.option = option
  }
}

/** Details of a failed call to the token endpoint. */
interface TokenRequestErrorOptions extends ServiceTokenErrorOptions {
  /** The HTTP status, when a response arrived. */
  status?: number
  /** How long the server asked us to wait (from `Retry-After`), in milliseconds. */
  retryAfterMs?: number
}

/**
 * The token endpoint could not be reached, timed out, answered an unexpected HTTP status, or a custom
 * source failed. Transient: the manager retries with backoff and keeps serving a still-valid token.
 * Except `ERR_TOKEN_REDIRECT` (a 3xx answer), which is final.
 *
 * @example
 * ```ts
 * if (error instanceof TokenRequestError && error.code === 'ERR_TOKEN_TIMEOUT') metrics.inc('token_timeout')
 * ```
 */
class TokenRequestError extends ServiceTokenError {
  /** The HTTP status, when a response arrived. */
  readonly status: number | undefined
  /** The delay the server asked for with `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | undefined

  constructor(
    code:
      | typeof ErrorCode.Network
      | typeof ErrorCode.Timeout
      | typeof ErrorCode.Http
      | typeof ErrorCode.Redirect
      | typeof ErrorCode.Source,
    message: string,
    options: TokenRequestErrorOptions = {},
  ) {
    super(code, message, options)
    this.name = 'TokenRequestError'
    this.status = options.status
    this.retryAfterMs = options.retryAfterMs
  }
}

/**
 * The token endpoint answered, but not with a valid token: not JSON, no numeric `code` 1000, a token
 * that is not 1 to 8192 visible ASCII characters, an `expiresIn` that is not a finite positive number of
 * seconds. Transient. Also raised for such a token from a custom source, and (in a `store-error` event)
 * from a store. The message never quotes the token.
 *
 * @example
 * ```ts
 * if (error instanceof InvalidResponseError) console.warn(error.message) // says which field was wrong
 * ```
 */
class InvalidResponseError extends ServiceTokenError {
  /** The HTTP status of the response. */
  readonly status: number | undefined

  constructor(message: string, options: ServiceTokenErrorOptions & { status?: number } = {}) {
    super(ErrorCode.InvalidResponse, message, options)
    this.name = 'InvalidResponseError'
    this.status = options.status
  }
}

/**
 * A platform answered the token request with one of its error codes. For the presets' platforms
 * `ERR_PLATFORM_CREDENTIALS` and `ERR_PLATFORM_QUOTA` are final (cooldown), `ERR_PLATFORM_API` retried;
 * AnyWeb's are {@link AnyWebApiError}s, a subclass, with their own codes.
 *
 * @example
 * ```ts
 * if (error instanceof PlatformApiError && error.platform === 'wechat') console.error(error.serverCode) // e.g. "40125"
 * ```
 */
class PlatformApiError extends ServiceTokenError {
  /** The platform, e.g. `"anyweb"`, `"wechat"` or `"feishu"` (the preset's name). */
  readonly platform: string
  /** The platform's own code as text, e.g. `"40125"` or `"invalidClientIdOrSecret"`. */
  readonly serverCode: string
  /** The platform's human-readable message (redacted). */
  readonly serverMessage: string
  /** The HTTP status of the response. */
  readonly status: number | undefined
  /** The delay the server asked for with `Retry-After`, in milliseconds. */
  readonly retryAfterMs: number | undefined

  constructor(
    code:
      | typeof ErrorCode.PlatformCredentials
      | typeof ErrorCode.PlatformQuota
      | typeof ErrorCode.PlatformApi
      | typeof ErrorCode.Credentials
      | typeof ErrorCode.Api,
    message: string,
    details: TokenRequestErrorOptions & { platform: string; serverCode: string; serverMessage: string },
  ) {
    super(code, message, details)
    this.name = 'PlatformApiError'
    this.platform = details.platform
    this.serverCode = details.serverCode
    this.serverMessage = details.serverMessage
    this.status = details.status
    this.retryAfterMs = details.retryAfterMs
  }
}

/**
 * AnyWeb answered with an error envelope (`code` a string such as `"A108P004"`). Credential codes
 * (A108P002–A108P005) carry `code: "ERR_ANYWEB_CREDENTIALS"` and are final; others `"ERR_ANYWEB_API"`.
 * A {@link PlatformApiError} whose `platform` is `"anyweb"`.
 *
 * @example
 * ```ts
 * if (error instanceof AnyWebApiError && error.serverCode === 'A108P004') console.error('wrong secret')
 * ```
 */
class AnyWebApiError extends PlatformApiError {
  constructor(
    code: typeof ErrorCode.Credentials | typeof ErrorCode.Api,
    message: string,
    details: TokenRequestErrorOptions & { serverCode: string; serverMessage: string },
  ) {
    super(code, message, { ...details, platform: 'anyweb' })
    this.name = 'AnyWebApiError'
  }
}

/**
 * Whether `value` is an error of this library (of any subclass), optionally with a given code.
 *
 * @example
 * ```ts
 * if (isServiceTokenError(error, 'ERR_ANYWEB_CREDENTIALS')) process.exit(1)
 * ```
 */
function isServiceTokenError(value: unknown, code?: ErrorCode): value is ServiceTokenError {
  return value instanceof ServiceTokenError && (code === undefined || value.code === code)
}

export {
  AnyWebApiError,
  ConfigurationError,
  ErrorCode,
  InvalidResponseError,
  isServiceTokenError,
  PlatformApiError,
  ServiceTokenError,
  TokenRequestError,
}
export type { ServiceTokenErrorOptions, TokenRequestErrorOptions }
