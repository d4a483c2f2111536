import { anywebSource } from '../anyweb-source.js'
import { anywebProtocol } from '../http/protocol.js'
import { brandPreset, rejectUnknown, resolveAnyWeb } from '../options.js'
import type { PresetBaseUrl, PresetSource } from '../types.js'
import type { PresetCommonOptions, PresetOptions } from './options.js'

/**
 * Options of the {@link anyweb} preset.
 *
 * @example
 * ```ts
 * const options: AnyWebPresetOptions = { appid: 'demo-app', secret: 'demo-secret', baseUrl: 'http://127.0.0.1:8787' }
 * ```
 */
interface AnyWebPresetOptions extends PresetCommonOptions {
  /** The application id from the AnyWeb developer console. */
  appid: string
  /** The application secret. */
  secret: string
}

const KNOWN_OPTIONS = new Set(['appid', 'secret', 'baseUrl', 'fetch', 'dangerouslyAllowBrowser'])

/**
 * AnyWeb ServiceTokens (`POST /service/serviceToken`), the default: `createTokenManager(anyweb(o))`
 * behaves as `createTokenManager(o)`, with the same store key. Tokens go in the JSON body's
 * `serviceToken`; `code: "A108P001"` (any status) or HTTP 401 is a refusal.
 *
 * @throws {ConfigurationError} for a missing or invalid option.
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { anyweb } from 'anyweb-service-token/presets'
 *
 * const manager = createTokenManager(anyweb({ appid: process.env.ANYWEB_APPID!, secret: process.env.ANYWEB_SECRET! }))
 * ```
 */
function anyweb(options: AnyWebPresetOptions): PresetOptions {
  if (typeof options === 'object' && options !== null) rejectUnknown(options, KNOWN_OPTIONS, '')
  const config = resolveAnyWeb((options ?? {}) as unknown as Record<string, unknown>)
  return brandPreset('anyweb', {
    source: anywebSource(config, () => Date.now()) as PresetSource,
    baseUrl: config.baseUrl as PresetBaseUrl,
    protocol: anywebProtocol,
    storeKey: `anyweb:${config.baseUrl}:${config.appid}`,
  })
}

export { anyweb }
export type { AnyWebPresetOptions }
