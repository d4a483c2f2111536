/**
 * The one place a preset's options are checked and turned into the options of `createTokenManager`.
 * @packageDocumentation
 */
import { ConfigurationError } from '../errors.js'
import { brandPreset, credential, refuseBrowser, resolveBaseUrl, resolveFetch } from '../options.js'
import type { FetchLike, PresetBaseUrl, PresetSource, TokenProtocol } from '../types.js'
import { unknownKey, unknownKeyMessage } from '../util.js'
import type { Platform, PresetConfig } from './platform.js'
import { platformSource } from './source.js'

/**
 * What every preset returns: the options of `createTokenManager` for that platform. Spread other options
 * beside it (`{ ...wechat({ appid, secret }), store }`).
 *
 * @example
 * ```ts
 * const options: PresetOptions = wechat({ appid: 'wx123', secret: process.env.WECHAT_SECRET! })
 * const manager = createTokenManager({ ...options, onEvent: (event) => console.log(event.type) })
 * ```
 */
interface PresetOptions {
  /** Fetches one token from the platform; the secret stays inside it. */
  readonly source: PresetSource
  /**
   * The platform's API origin: the adapters send tokens there only, and the token requests go there. To
   * change it pass `baseUrl` to the preset (`wechat({ appid, secret, baseUrl })`): a different `baseUrl`
   * spread beside the preset's options is refused, since its token requests would still go here.
   */
  readonly baseUrl: PresetBaseUrl
  /** The adapters' defaults: where the token goes, what a refusal looks like, the token endpoint. */
  readonly protocol: TokenProtocol
  /** `<platform>:<baseUrl>:<app id>`: a store shared by several platforms or apps never mixes their tokens. */
  readonly storeKey: string
}

/**
 * Options every preset takes besides the app's credentials.
 *
 * @example
 * ```ts
 * const common: PresetCommonOptions = { baseUrl: 'http://127.0.0.1:8787', fetch: globalThis.fetch }
 * ```
 */
interface PresetCommonOptions {
  /**
   * The platform's API origin. Must be HTTPS, except for loopback addresses (the emulator).
   * @default the platform's production origin, e.g. `https://api.weixin.qq.com`
   */
  baseUrl?: string
  /**
   * The fetch used for token requests, captured when the preset is called.
   * @default globalThis.fetch at that moment
   */
  fetch?: FetchLike
  /**
   * Allows a secret in a browser-like runtime; a secret shipped to a browser is public.
   * @default false
   */
  dangerouslyAllowBrowser?: boolean
}

const COMMON_OPTIONS = ['baseUrl', 'fetch', 'dangerouslyAllowBrowser']

/**
 * Checks a preset's options once (as `createTokenManager` checks its own) and returns the manager's
 * options for `platform`. `extra` names options the preset itself reads.
 */
function presetOptions(platform: Platform, options: unknown, extra: readonly string[] = []): PresetOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('options', `${platform.preset}() needs an options object: { ${platform.idOption}, ${platform.secretOption} }.`)
  }
  const input = options as Record<string, unknown>
  const known = [platform.idOption, platform.secretOption, ...COMMON_OPTIONS, ...extra]
  const unknown = unknownKey(input, known)
  if (unknown !== undefined) throw new ConfigurationError(unknown.key, unknownKeyMessage(`${platform.preset}() option`, unknown, known))
  const config: PresetConfig = {
    id: credential(platform.idOption, input[platform.idOption], platform.console),
    secret: credential(platform.secretOption, input[platform.secretOption], platform.console),
    baseUrl: resolveBaseUrl(input.baseUrl ?? platform.defaultBaseUrl, platform.defaultBaseUrl),
    fetch: resolveFetch(input.fetch),
  }
  refuseBrowser(input.dangerouslyAllowBrowser)
  return brandPreset(platform.preset, {
    source: platformSource(platform, config) as PresetSource,
    baseUrl: config.baseUrl as PresetBaseUrl,
    protocol: platform.protocol,
    storeKey: `${platform.name}:${config.baseUrl}:${config.id}`,
  })
}

export { presetOptions }
export type { PresetCommonOptions, PresetOptions }
