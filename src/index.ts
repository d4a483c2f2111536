/**
 * anyweb-service-token: AnyWeb ServiceTokens fetched once, kept fresh, and shared by every request.
 *
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * const manager = createTokenManager({ appid: process.env.ANYWEB_APPID!, secret: process.env.ANYWEB_SECRET! })
 * const serviceToken = await manager.getToken()
 * ```
 * @packageDocumentation
 */
export { createTokenManager } from './manager.js'
export { memoryStore } from './memory-store.js'
export {
  AnyWebApiError,
  ConfigurationError,
  ErrorCode,
  InvalidResponseError,
  isServiceTokenError,
  PlatformApiError,
  ServiceTokenError,
  TokenRequestError,
} from './errors.js'
export type { ServiceTokenErrorOptions, TokenRequestErrorOptions } from './errors.js'
export type {
  AnyWebManagerOptions,
  AuthErrorKind,
  Awaitable,
  CommonManagerOptions,
  FetchLike,
  GetTokenOptions,
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
  TokenSnapshot,
  TokenSource,
  TokenSourceContext,
  TokenProtocol,
  TokenStore,
} from './types.js'
