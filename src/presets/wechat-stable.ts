import { presetOptions } from './options.js'
import type { PresetOptions } from './options.js'
import type { Platform } from './platform.js'
import { WECHAT, wechatProtocol } from './wechat.js'
import type { WechatPresetOptions } from './wechat.js'

const PLATFORM: Platform = {
  ...WECHAT,
  name: 'wechat-stable',
  preset: 'wechatStable',
  protocol: wechatProtocol('/cgi-bin/stable_token'),
  request: ({ id, secret }, tokenUrl) => ({
    url: tokenUrl,
    init: {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // Never force_refresh: a forced refresh invalidates the token every other holder still uses.
      body: JSON.stringify({ grant_type: 'client_credential', appid: id, secret, force_refresh: false }),
    },
  }),
}

/**
 * WeChat's stable access tokens from `POST /cgi-bin/stable_token`: the same token until it nears
 * expiry, however often it is asked for, so processes no longer invalidate each other. The preset never
 * sends `force_refresh: true` (limited to 20 a day, 30 s apart, and it invalidates the token every other
 * holder uses). Same placement and refusal codes as {@link wechat}; its tokens are separate from
 * `/cgi-bin/token`'s.
 *
 * @throws {ConfigurationError} for a missing or invalid option.
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { wechatStable } from 'anyweb-service-token/presets'
 *
 * const manager = createTokenManager(wechatStable({ appid: 'wx0123456789abcdef', secret: process.env.WECHAT_SECRET! }))
 * ```
 */
function wechatStable(options: WechatPresetOptions): PresetOptions {
  return presetOptions(PLATFORM, options)
}

export { wechatStable }
