/**
 * The one reading of a platform's token answer: its error codes mapped to the library's typed errors,
 * then a usable token and a plausible lifetime, checked as AnyWeb's are.
 * @packageDocumentation
 */
import { MIN_ANSWER_EXPIRES_IN, parseRetryAfter, validateGrant } from '../anyweb-source.js'
import type { Reading } from '../anyweb-source.js'
import { ErrorCode, InvalidResponseError, PlatformApiError, TokenRequestError } from '../errors.js'
import type { TokenGrant } from '../types.js'
import { isRecord } from '../util.js'
import type { Platform } from './platform.js'

/** Only numbers and short code-like words are shown: anything else is the server's text and may echo the request. */
function shownCode(value: unknown, redact: (text: string) => string): string | undefined {
  if (typeof value === 'number' && Number.isInteger(value)) return String(value)
  if (typeof value === 'string' && /^[\w.-]{1,64}$/.test(value)) return redact(value)
  return undefined
}

const DAY_MS = 24 * 3600 * 1000
/** China Standard Time, UTC+8 all year: when the platforms' daily quotas reset. */
const CHINA_OFFSET_MS = 8 * 3600 * 1000

/** Milliseconds from `now` to the next 00:00 China time. */
function untilChinaMidnight(now: number): number {
  return DAY_MS - ((((now + CHINA_OFFSET_MS) % DAY_MS) + DAY_MS) % DAY_MS)
}

function codeError(
  platform: Platform,
  code: string,
  serverMessage: string,
  details: { status: number; retryAfterMs?: number },
  appid: string,
  now: number,
): PlatformApiError {
  const known = platform.answer.codes[code]
  const common = { ...details, platform: platform.name, serverCode: code, serverMessage }
  const said = `${platform.title} answered ${code}${known === undefined ? (serverMessage ? ` (${serverMessage})` : '') : ` (${known[1]})`}`
  const cooldown = 'no new token request is made until the cooldown (option `cooldown`, 30 s by default) ends.'
  switch (known?.[0]) {
    case 'credentials':
      return new PlatformApiError(
        ErrorCode.PlatformCredentials,
        `${said}: it refused to issue a token to ${platform.idOption} "${appid}". Check the ${platform.idOption}, the ` +
          `${platform.secretOption} and the IP allow-list in ${platform.console}; ${cooldown}`,
        { ...common, retryable: false },
      )
    case 'quota': {
      // Final until the platform's next day: a request before then only meets the same answer.
      const retryAfterMs = Math.max(details.retryAfterMs ?? 0, untilChinaMidnight(now))
      const hours = (retryAfterMs / 3_600_000).toFixed(1)
      return new PlatformApiError(
        ErrorCode.PlatformQuota,
        `${said}: the daily quota of token requests is used up and resets the next day (00:00 China time, in ${hours} h), ` +
          `or when reset in ${platform.console}. No new token request is made until then (create a new manager after a ` +
          'reset). Share one token between processes (a Redis store) to stay far below the quota.',
        { ...common, retryAfterMs, retryable: false },
      )
    }
    default:
      return new PlatformApiError(ErrorCode.PlatformApi, `${said} with HTTP ${details.status} to the token request; it is retried.`, common)
  }
}

/** Whether a code is the platform's success code, as a number or as its text (`0` or `"0"`). */
function isOkCode(value: unknown, okCode: number | undefined): boolean {
  return okCode !== undefined && (value === okCode || value === String(okCode))
}

/**
 * Turns a platform's token answer into a grant or one of the library's typed errors. The error code
 * decides first, whatever the HTTP status (WeChat answers errors with 200, Feishu and DingTalk with 4xx).
 */
function checkAnswer(platform: Platform, response: Response, body: unknown, reading: Reading, now: number): TokenGrant {
  const { status } = response
  const shape = platform.answer
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now)
  const details = retryAfterMs === undefined ? { status } : { status, retryAfterMs }
  if (isRecord(body) && body[shape.codeField] !== undefined && !isOkCode(body[shape.codeField], shape.okCode)) {
    const code = shownCode(body[shape.codeField], reading.redact)
    if (code !== undefined) {
      const message = body[shape.messageField]
      throw codeError(platform, code, typeof message === 'string' ? reading.redact(message).slice(0, 200) : '', details, reading.appid, now)
    }
  }
  if (!response.ok) throw new TokenRequestError(ErrorCode.Http, `The ${platform.title} token endpoint answered HTTP ${status}.`, details)
  if (!isRecord(body)) {
    throw new InvalidResponseError(`The ${platform.title} token endpoint answered HTTP ${status} with a body that is not a JSON object.`, { status })
  }
  return validateGrant({ token: body[shape.tokenField], expiresIn: body[shape.expiresField] }, status, MIN_ANSWER_EXPIRES_IN)
}

export { checkAnswer }
