import { authErrorRule } from '../http/auth-error.js'
import { presetOptions } from './options.js'
import type { PresetCommonOptions, PresetOptions } from './options.js'
import type { Platform } from './platform.js'
import { TENCENT_FIELDS } from './wechat.js'

/**
 * Options of the {@link wecom} preset.
 *
 * @example
 * ```ts
 * const options: WecomPresetOptions = { corpid: 'ww0123456789abcdef', corpsecret: process.env.WECOM_SECRET! }
 * ```
 */
interface WecomPresetOptions extends PresetCommonOptions {
  /** The company's CorpID. */
  corpid: string
  /** The app's Secret. It travels in the token request's query string; the library redacts it everywhere. */
  corpsecret: string
}

const PLATFORM: Platform = {
  name: 'wecom',
  preset: 'wecom',
  title: 'WeCom',
  defaultBaseUrl: 'https://qyapi.weixin.qq.com',
  console: 'the WeCom admin console (My company → CorpID; the app’s page → Secret, trusted IPs)',
  idOption: 'corpid',
  secretOption: 'corpsecret',
  protocol: Object.freeze({
    placement: Object.freeze({ in: 'query', name: TENCENT_FIELDS.tokenField }),
    isAuthError: authErrorRule({ field: TENCENT_FIELDS.codeField, codes: [40014, 42001], statuses: [200] }),
    tokenPath: '/cgi-bin/gettoken',
  }),
  answer: {
    ...TENCENT_FIELDS,
    codes: {
      '-1': ['busy', 'the system is busy'],
      '40001': ['credentials', 'the corpsecret is invalid'],
      '40013': ['credentials', 'the corpid is invalid'],
      '40091': ['credentials', 'the corpsecret is invalid'],
      '41002': ['credentials', 'the corpid is missing'],
      '41004': ['credentials', 'the corpsecret is missing'],
      '60020': ['credentials', 'the caller’s IP is not a trusted IP of this app'],
      '45009': ['busy', 'the API’s call limit is reached'],
      '45033': ['busy', 'too many concurrent calls'],
    },
  },
  request: ({ id, secret }, tokenUrl) => ({
    url: `${tokenUrl}?${new URLSearchParams({ corpid: id, corpsecret: secret })}`,
    init: { method: 'GET' },
  }),
}

/**
 * WeCom (WeChat Work) access tokens from `GET /cgi-bin/gettoken`: one token per app, the same one
 * however often it is asked for until it expires. Tokens go in the `access_token` query parameter;
 * errcode 40014 or 42001 (HTTP 200) is a refusal.
 *
 * @throws {ConfigurationError} for a missing or invalid option.
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { wecom } from 'anyweb-service-token/presets'
 *
 * const manager = createTokenManager(wecom({ corpid: 'ww0123456789abcdef', corpsecret: process.env.WECOM_SECRET! }))
 * ```
 */
function wecom(options: WecomPresetOptions): PresetOptions {
  return presetOptions(PLATFORM, options)
}

export { wecom }
export type { WecomPresetOptions }
