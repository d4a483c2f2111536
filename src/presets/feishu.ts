import { ConfigurationError } from '../errors.js'
import { authErrorRule } from '../http/auth-error.js'
import { describe } from '../util.js'
import { presetOptions } from './options.js'
import type { PresetCommonOptions, PresetOptions } from './options.js'
import type { Platform } from './platform.js'

/**
 * Options of the {@link feishu} preset.
 *
 * @example
 * ```ts
 * const options: FeishuPresetOptions = { appId: 'cli_a1b2c3', appSecret: process.env.FEISHU_SECRET!, kind: 'tenant' }
 * ```
 */
interface FeishuPresetOptions extends PresetCommonOptions {
  /** The app's App ID (`cli_…`). */
  appId: string
  /** The app's App Secret. */
  appSecret: string
  /**
   * Which token of a custom (internal) app: `tenant_access_token` or `app_access_token`.
   * @default 'tenant'
   */
  kind?: 'tenant' | 'app'
}

function platform(kind: 'tenant' | 'app'): Platform {
  return {
    name: kind === 'tenant' ? 'feishu' : 'feishu-app',
    preset: 'feishu',
    title: 'Feishu',
    defaultBaseUrl: 'https://open.feishu.cn',
    console: 'the Feishu developer console (the app’s Credentials & Basic Info)',
    idOption: 'appId',
    secretOption: 'appSecret',
    protocol: Object.freeze({
      placement: Object.freeze({ in: 'header', name: 'authorization', scheme: 'Bearer' }),
      isAuthError: authErrorRule({ field: 'code', codes: [99991663, 99991664, 99991661], statuses: [200, 400] }),
      tokenPath: `/open-apis/auth/v3/${kind}_access_token/internal`,
    }),
    answer: {
      codeField: 'code',
      messageField: 'msg',
      okCode: 0,
      tokenField: `${kind}_access_token`,
      expiresField: 'expire',
      codes: {
        '10003': ['credentials', 'app_id or app_secret is missing or invalid'],
        '10014': ['credentials', 'the app_secret is invalid'],
        '99991400': ['busy', 'the request rate limit is reached'],
      },
    },
    request: ({ id, secret }, tokenUrl) => ({
      url: tokenUrl,
      init: {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ app_id: id, app_secret: secret }),
      },
    }),
  }
}

const PLATFORMS = { tenant: platform('tenant'), app: platform('app') }

/**
 * Feishu (Lark) tokens of a custom app from `POST /open-apis/auth/v3/tenant_access_token/internal` (or
 * `app_access_token/internal` with `kind: 'app'`): the same token while 30 minutes or more are left,
 * then a new one, both valid. Tokens go in `Authorization: Bearer`; code 99991663, 99991664 or 99991661
 * (HTTP 200 or 400) is a refusal. For Lark, set `baseUrl: 'https://open.larksuite.com'`.
 *
 * @throws {ConfigurationError} for a missing or invalid option.
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { feishu } from 'anyweb-service-token/presets'
 *
 * const manager = createTokenManager(feishu({ appId: 'cli_a1b2c3', appSecret: process.env.FEISHU_SECRET! }))
 * ```
 */
function feishu(options: FeishuPresetOptions): PresetOptions {
  const kind = (options as { kind?: unknown } | null)?.kind ?? 'tenant'
  if (kind !== 'tenant' && kind !== 'app') {
    throw new ConfigurationError('kind', `Invalid option \`kind\`: expected 'tenant' or 'app', got ${describe(kind)}.`)
  }
  return presetOptions(PLATFORMS[kind], options, ['kind'])
}

export { feishu }
export type { FeishuPresetOptions }
