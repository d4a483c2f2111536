/**
 * What a preset knows of its platform: its token endpoint, the shape of its answers and its codes.
 * @packageDocumentation
 */
import type { FetchLike, TokenProtocol } from '../types.js'

/**
 * What a documented error code means: `credentials` (final: the app or caller is refused), `quota`
 * (final until the platform's day ends), `busy` (busy or rate limited: retried).
 */
type CodeKind = 'credentials' | 'quota' | 'busy'

/** How a platform shapes its token answer. */
interface AnswerShape {
  /** The field of the error code (`errcode`, `code`). */
  codeField: string
  /** The field of the error text (`errmsg`, `msg`, `message`). */
  messageField: string
  /** The code that means success, when the platform may send one on success (0: WeChat, WeCom, Feishu, DingTalk's older API), as a number or text. */
  okCode?: number
  tokenField: string
  /** The lifetime in seconds (`expires_in`, `expire`, `expireIn`). */
  expiresField: string
  /** Every documented code of the token endpoint, with its kind and meaning. */
  codes: Readonly<Record<string, readonly [CodeKind, string]>>
}

/** The credentials and endpoint of one app on one platform, checked. */
interface PresetConfig {
  id: string
  secret: string
  baseUrl: string
  fetch: FetchLike
}

/** One platform's token endpoint, as a preset asks it. */
interface Platform {
  /** The preset's name: in store keys and in `PlatformApiError.platform`. */
  name: string
  /** The preset function's name, for messages (`wechatStable`). */
  preset: string
  /** The platform's name in messages. */
  title: string
  defaultBaseUrl: string
  /** Where the user finds the credentials, for messages. */
  console: string
  /** The option names of the app's id and secret, e.g. `appid` and `secret`. */
  idOption: string
  secretOption: string
  protocol: TokenProtocol
  answer: AnswerShape
  /** The token request for these credentials (the URL is the token endpoint's, maybe with a query). */
  request(config: PresetConfig, tokenUrl: string): { url: string; init: RequestInit }
}

export type { AnswerShape, CodeKind, Platform, PresetConfig }
