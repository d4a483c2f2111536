import createClient from 'openapi-fetch'
import { AnyWebApiError, ErrorCode, InvalidResponseError, TokenRequestError } from './errors.js'
import type { paths } from './generated/anyweb.js'
import type { ResolvedAnyWeb } from './options.js'
import type { TokenGrant, TokenSource } from './types.js'
import { isRecord } from './util.js'

/** The codes AnyWeb uses for a missing or wrong appid/secret: retrying cannot help. */
const CREDENTIAL_CODES: Readonly<Record<string, string>> = {
  A108P002: 'appid is empty',
  A108P003: 'secret is empty',
  A108P004: 'secret is invalid',
  A108P005: 'appid is invalid',
}

/** A lifetime above a year is not a token lifetime but a broken response; it would also never refresh. */
const MAX_EXPIRES_IN = 366 * 24 * 3600

/**
 * Milliseconds to wait according to a `Retry-After` header (delta-seconds or an HTTP date), if any.
 */
function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined
  const trimmed = value.trim()
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000
  const date = Date.parse(trimmed)
  return Number.isNaN(date) ? undefined : Math.max(0, date - now)
}


/**
 * Checks a grant at run time, whatever produced it: a non-empty string token and a finite, positive,
 * plausible lifetime in seconds.
 */
function validateGrant(value: unknown, status?: number): TokenGrant {
  const extra = status === undefined ? {} : { status }
  if (!isRecord(value)) throw new InvalidResponseError('The token response has no data object.', extra)
  const { expiresIn } = value
  const token = 'serviceToken' in value ? value.serviceToken : value.token
  if (typeof token !== 'string' || token === '') {
    throw new InvalidResponseError('The token response has no token (expected a non-empty string).', extra)
  }
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0 || expiresIn > MAX_EXPIRES_IN) {
    throw new InvalidResponseError(
      `The token response has an invalid expiresIn (${typeof expiresIn === 'number' ? expiresIn : typeof expiresIn}); ` +
        `expected a number of seconds greater than 0 and at most ${MAX_EXPIRES_IN}.`,
      extra,
    )
  }
  return { token, expiresIn }
}

function parseJson(body: unknown): unknown {
  if (typeof body !== 'string') return body
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

/**
 * Turns any answer of the token endpoint into a grant or one of the library's typed errors. Errors
 * may come with HTTP 200 or any other status, so the envelope's `code` decides first.
 */
function interpret(response: Response, body: unknown, appid: string, now: number): TokenGrant {
  const { status } = response
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now)
  const details = retryAfterMs === undefined ? { status } : { status, retryAfterMs }
  const envelope = parseJson(body)
  if (isRecord(envelope) && typeof envelope.code === 'string') {
    const serverCode = envelope.code
    const serverMessage = typeof envelope.message === 'string' ? envelope.message : ''
    const meaning = CREDENTIAL_CODES[serverCode]
    if (meaning !== undefined) {
      throw new AnyWebApiError(
        ErrorCode.Credentials,
        `AnyWeb rejected the credentials of appid "${appid}": ${serverCode} (${meaning}). ` +
          'Check the appid and secret in the AnyWeb developer console; no new token request is made until the cooldown ' +
            '(option `cooldown`, 30 s by default) ends.',
        { ...details, serverCode, serverMessage, retryable: false },
      )
    }
    throw new AnyWebApiError(
      ErrorCode.Api,
      `AnyWeb answered ${serverCode}${serverMessage ? ` (${serverMessage})` : ''} with HTTP ${status} to the token request.`,
      { ...details, serverCode, serverMessage },
    )
  }
  if (!response.ok) {
    throw new TokenRequestError(ErrorCode.Http, `The AnyWeb token endpoint answered HTTP ${status}.`, details)
  }
  if (!isRecord(envelope)) {
    throw new InvalidResponseError(`The token endpoint answered HTTP ${status} with a body that is not a JSON object.`, {
      status,
    })
  }
  if (envelope.code !== 1000) {
    throw new InvalidResponseError(
      `The token response has code ${JSON.stringify(envelope.code) ?? 'undefined'}; expected the number 1000.`,
      { status },
    )
  }
  return validateGrant(envelope.data, status)
}

/**
 * The token source of AnyWeb: `POST {baseUrl}/service/serviceToken` with a JSON body, through
 * openapi-fetch typed by openapi.yaml. The secret stays inside this closure.
 */
function anywebSource(config: ResolvedAnyWeb, now: () => number): TokenSource {
  const client = createClient<paths>({ baseUrl: config.baseUrl, fetch: (request) => config.fetch(request) })
  const { appid, secret } = config
  return async ({ signal }) => {
    let result
    try {
      result = await client.POST('/service/serviceToken', { body: { appid, secret }, signal, parseAs: 'text' })
    } catch (error) {
      if (signal.aborted) throw signal.reason
      throw new TokenRequestError(
        ErrorCode.Network,
        `Could not reach the AnyWeb token endpoint at ${config.baseUrl}: ${error instanceof Error ? error.message : String(error)}.`,
        { cause: error },
      )
    }
    return interpret(result.response, result.response.ok ? result.data : result.error, appid, now())
  }
}

export { anywebSource, CREDENTIAL_CODES, parseRetryAfter, validateGrant }
