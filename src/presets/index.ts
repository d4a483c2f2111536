/**
 * anyweb-service-token/presets: one line per platform with AnyWeb's token pattern (an app id and secret
 * buy a ~2-hour token): `createTokenManager(wechat({ appid, secret }))`. The adapters then take that
 * platform's placement and auth-error codes from the manager.
 *
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { feishu } from 'anyweb-service-token/presets'
 * const manager = createTokenManager(feishu({ appId: 'cli_a1b2c3', appSecret: process.env.FEISHU_SECRET! }))
 * ```
 * @packageDocumentation
 */
export { anyweb } from './anyweb.js'
export type { AnyWebPresetOptions } from './anyweb.js'
export { dingtalk } from './dingtalk.js'
export type { DingtalkPresetOptions } from './dingtalk.js'
export { feishu } from './feishu.js'
export type { FeishuPresetOptions } from './feishu.js'
export { wechat } from './wechat.js'
export type { WechatPresetOptions } from './wechat.js'
export { wechatStable } from './wechat-stable.js'
export { wecom } from './wecom.js'
export type { WecomPresetOptions } from './wecom.js'
export { authErrorRule } from '../http/auth-error.js'
export type { AuthErrorRule } from '../http/auth-error.js'
export type { PresetCommonOptions, PresetOptions } from './options.js'
export type { PresetBaseUrl, PresetSource, TokenProtocol } from '../types.js'
