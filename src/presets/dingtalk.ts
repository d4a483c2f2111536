import { authErrorRule } from '../http/auth-error.js'
import { presetOptions } from './options.js'
import type { PresetCommonOptions, PresetOptions } from './options.js'
import type { Platform } from './platform.js'

/**
 * Options of the {@link dingtalk} preset.
 *
 * @example
 * ```ts
 * const options: DingtalkPresetOptions = { appKey: 'dingabc123', appSecret: process.env.DINGTALK_SECRET! }
 * ```
 */
interface DingtalkPresetOptions extends PresetCommonOptions {
  /** The internal app's AppKey (Client ID). */
  appKey: string
  /** The internal app's AppSecret (Client Secret). */
  appSecret: string
}

const PLATFORM: Platform = {
  name: 'dingtalk',
  preset: 'dingtalk',
  title: 'DingTalk',
  defaultBaseUrl: 'https://api.dingtalk.com',
  console: 'the DingTalk developer console (the app’s Credentials page)',
  idOption: 'appKey',
  secretOption: 'appSecret',
  protocol: Object.freeze({
    placement: Object.freeze({ in: 'header', name: 'x-acs-dingtalk-access-token' }),
    isAuthError: authErrorRule({ field: 'code', codes: ['InvalidAuthentication'], statuses: [400, 401] }),
    tokenPath: '/v1.0/oauth2/accessToken',
  }),
  answer: {
    codeField: 'code',
    messageField: 'message',
    // The new API sends no code on success; 0 is its older API's success, never an error.
    okCode: 0,
    tokenField: 'accessToken',
    expiresField: 'expireIn',
    codes: {
      invalidClientIdOrSecret: ['credentials', 'the appKey or appSecret is invalid'],
      MissingappKey: ['credentials', 'the appKey is missing'],
      MissingappSecret: ['credentials', 'the appSecret is missing'],
      'Forbidden.AccessDenied.IpNotInWhiteList': ['credentials', 'the caller’s IP is not on the app’s allow-list'],
      'Throttling.Api': ['busy', 'the API rate limit is reached'],
    },
  },
  request: ({ id, secret }, tokenUrl) => ({
    url: tokenUrl,
    init: { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ appKey: id, appSecret: secret }) },
  }),
}

/**
 * DingTalk internal-app access tokens from `POST /v1.0/oauth2/accessToken`: the same token while it is
 * valid, its expiry extended by each request. Tokens go in the `x-acs-dingtalk-access-token` header;
 * code `"InvalidAuthentication"` (HTTP 400 or 401) is a refusal.
 *
 * @throws {ConfigurationError} for a missing or invalid option.
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { dingtalk } from 'anyweb-service-token/presets'
 *
 * const manager = createTokenManager(dingtalk({ appKey: 'dingabc123', appSecret: process.env.DINGTALK_SECRET! }))
 * ```
 */
function dingtalk(options: DingtalkPresetOptions): PresetOptions {
  return presetOptions(PLATFORM, options)
}

export { dingtalk }
export type { DingtalkPresetOptions }
