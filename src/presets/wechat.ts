import { authErrorRule } from '../http/auth-error.js'
import type { TokenProtocol } from '../types.js'
import { presetOptions } from './options.js'
import type { PresetCommonOptions, PresetOptions } from './options.js'
import type { AnswerShape, Platform } from './platform.js'

/**
 * Options of the {@link wechat} and {@link wechatStable} presets.
 *
 * @example
 * ```ts
 * const options: WechatPresetOptions = { appid: 'wx0123456789abcdef', secret: process.env.WECHAT_SECRET! }
 * ```
 */
interface WechatPresetOptions extends PresetCommonOptions {
  /** The AppID of the Official Account or Mini Program. */
  appid: string
  /** The AppSecret. It travels in the token request's query string; the library redacts it everywhere. */
  secret: string
}

/** The fields of every Tencent token answer (WeChat's and WeCom's). */
const TENCENT_FIELDS = { codeField: 'errcode', messageField: 'errmsg', okCode: 0, tokenField: 'access_token', expiresField: 'expires_in' } as const

/** WeChat's token errors, shared by `/cgi-bin/token` and `/cgi-bin/stable_token`. */
const WECHAT_ANSWER: AnswerShape = {
  ...TENCENT_FIELDS,
  codes: {
    '-1': ['busy', 'the system is busy'],
    '40001': ['credentials', 'the AppSecret is wrong or not this appid’s'],
    '40013': ['credentials', 'the appid is invalid'],
    '40125': ['credentials', 'the AppSecret is invalid'],
    '41002': ['credentials', 'the appid is missing'],
    '41004': ['credentials', 'the AppSecret is missing'],
    '40164': ['credentials', 'the caller’s IP is not on the IP allow-list'],
    '40243': ['credentials', 'the AppSecret is frozen'],
    '89501': ['credentials', 'this IP is waiting for an administrator’s confirmation'],
    '89503': ['credentials', 'this IP needs an administrator’s confirmation'],
    '89506': ['credentials', 'an administrator refused this IP twice within 24 hours'],
    '89507': ['credentials', 'an administrator refused this IP within the hour'],
    '45009': ['quota', 'the daily quota of this API is used up'],
    '45011': ['busy', 'the per-minute limit of this API is reached'],
  },
}

/** WeChat's protocol: `?access_token=` on every call; errcode 40001, 40014 or 42001 with HTTP 200 is a refusal. */
function wechatProtocol(tokenPath: string): TokenProtocol {
  return Object.freeze({
    placement: Object.freeze({ in: 'query', name: 'access_token' }),
    isAuthError: authErrorRule({ field: 'errcode', codes: [40001, 40014, 42001], statuses: [200] }),
    tokenPath,
  })
}

const WECHAT: Omit<Platform, 'protocol' | 'request'> = {
  name: 'wechat',
  preset: 'wechat',
  title: 'WeChat',
  defaultBaseUrl: 'https://api.weixin.qq.com',
  console: 'the WeChat Official Accounts / Mini Program platform (Development → Basic configuration)',
  idOption: 'appid',
  secretOption: 'secret',
  answer: WECHAT_ANSWER,
}

const PLATFORM: Platform = {
  ...WECHAT,
  protocol: wechatProtocol('/cgi-bin/token'),
  request: ({ id, secret }, tokenUrl) => {
    const query = new URLSearchParams({ grant_type: 'client_credential', appid: id, secret })
    return { url: `${tokenUrl}?${query}`, init: { method: 'GET' } }
  },
}

/**
 * WeChat Official Account / Mini Program access tokens from `GET /cgi-bin/token`. Every new token
 * invalidates the previous one after at most 5 minutes, which is why processes that each fetch their
 * own get errcode 40001: share one manager per process and a Redis store between processes. Tokens go
 * in the `access_token` query parameter; errcode 40001, 40014 or 42001 (HTTP 200) is a refusal.
 *
 * @throws {ConfigurationError} for a missing or invalid option.
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { wechat } from 'anyweb-service-token/presets'
 *
 * const manager = createTokenManager(wechat({ appid: 'wx0123456789abcdef', secret: process.env.WECHAT_SECRET! }))
 * ```
 */
function wechat(options: WechatPresetOptions): PresetOptions {
  return presetOptions(PLATFORM, options)
}

export { TENCENT_FIELDS, WECHAT, wechat, wechatProtocol }
export type { WechatPresetOptions }
