import createClient from 'openapi-fetch'
import { AnyWebApiError, ConfigurationError, ErrorCode, InvalidResponseError, TokenRequestError } from './errors.js'
import type { paths } from './generated/anyweb.js'
import { boundedBody } from './http/bounded-body.js'
import { TOKEN_PATH } from './options.js'
import type { ResolvedAnyWeb } from './options.js'
import type { TokenGrant, TokenSource } from './types.js'
import { isRecord, redactor, tokenFault } from './util.js'

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


/** A token endpoint's lifetime below a second is a broken answer: no refresh could run ahead of it. */
const MIN_ANSWER_EXPIRES_IN = 1

/**
 * Checks a grant at run time, whatever produced it: a token that can travel in a header (see
 * `tokenFault`) and a finite, positive, plausible lifetime in seconds, at least `minExpiresIn` (a token
 * endpoint's answer: {@link MIN_ANSWER_EXPIRES_IN}).
 */
function validateGrant(value: unknown, status?: number, minExpiresIn = 0): TokenGrant {
  const extra = status === undefined ? {} : { status }
  if (!isRecord(value)) throw new InvalidResponseError('The token response has no data object.', extra)
  const { expiresIn } = value
  const token = 'serviceToken' in value ? value.serviceToken : value.token
  const fault = tokenFault(token)
  if (fault !== undefined) {
    throw new InvalidResponseError(
      `The token response has no usable token: ${fault}. A token must be 1 to 8192 visible ASCII characters.`,
      extra,
    )
  }
  if (typeof expiresIn !== 'number' || !Number.isFinite(expiresIn) || expiresIn <= 0 || expiresIn < minExpiresIn || expiresIn > MAX_EXPIRES_IN) {
    const least = minExpiresIn > 0 ? `at least ${minExpiresIn}` : 'greater than 0'
    throw new InvalidResponseError(
      `The token response has an invalid expiresIn (${typeof expiresIn === 'number' ? expiresIn : typeof expiresIn}); ` +
        `expected a number of seconds ${least} and at most ${MAX_EXPIRES_IN}.`,
      extra,
    )
  }
  return { token: token as string, expiresIn }
}

function parseJson(body: unknown): unknown {
  if (typeof body !== 'string') return body
  try {
    return JSON.parse(body)
  } catch {
    return undefined
  }
}

/** What the answers of one token endpoint are read with. */
interface Reading {
  /** The URL token requests go to, for messages. */
  tokenUrl: string
  appid: string
  /** Removes the secret from any text the server sent before the library keeps it. */
  redact: (text: string) => string
}

/**
 * A redirect is final: following it would re-send the secret wherever `Location` points (also from https
 * to plain http), and a token issued there is not AnyWeb's. Only the status and `Location`'s origin are
 * named, never the body. A custom `fetch` that followed anyway is caught by `redirected`.
 */
function redirectError(response: Response, { tokenUrl, redact }: Reading): TokenRequestError {
  let target = 'an unknown place'
  const location = response.headers.get('location')
  try {
    if (location !== null) target = redact(new URL(location, tokenUrl).origin)
  } catch {
    target = 'an invalid Location'
  }
  const what = response.redirected
    ? `was redirected (the \`fetch\` given to the manager followed it) to ${redact(safeOrigin(response.url))}`
    : `answered HTTP ${response.status} (a redirect to ${target})`
  return new TokenRequestError(
    ErrorCode.Redirect,
    `The token endpoint ${redact(tokenUrl)} ${what}; token requests never follow redirects, so the secret is not ` +
      'sent elsewhere. If the API has really moved, set `baseUrl` to its new origin.',
    { status: response.status, retryable: false },
  )
}

function safeOrigin(url: string): string {
  try {
    return new URL(url).origin
  } catch {
    return 'an unknown place'
  }
}

function isRedirect(response: Response): boolean {
  return (response.status >= 300 && response.status < 400) || response.type === 'opaqueredirect' || response.redirected
}

/**
 * Turns any answer of the token endpoint into a grant or one of the library's typed errors. Errors
 * may come with HTTP 200 or any other status, so the envelope's `code` decides first, after the two
 * answers that mean the configuration is wrong: a redirect and a 404.
 */
function interpret(response: Response, body: unknown, reading: Reading, now: number): TokenGrant {
  const { status } = response
  const { redact } = reading
  if (isRedirect(response)) throw redirectError(response, reading)
  if (status === 404) {
    throw new ConfigurationError(
      'baseUrl',
      `The token endpoint ${redact(reading.tokenUrl)} answered HTTP 404 (not found). \`baseUrl\` is the API's origin ` +
        `(e.g. "https://api.anyweb.cc"), not a path: the library appends ${TOKEN_PATH} itself.`,
    )
  }
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), now)
  const details = retryAfterMs === undefined ? { status } : { status, retryAfterMs }
  const envelope = parseJson(body)
  if (isRecord(envelope) && typeof envelope.code === 'string') {
    const serverCode = redact(envelope.code)
    const serverMessage = typeof envelope.message === 'string' ? redact(envelope.message) : ''
    const meaning = CREDENTIAL_CODES[serverCode]
    if (meaning !== undefined) {
      throw new AnyWebApiError(
        ErrorCode.Credentials,
        `AnyWeb rejected the credentials of appid "${reading.appid}": ${serverCode} (${meaning}). ` +
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
    // Only a number is shown: any other value is the server's text and may echo the request.
    const shown = typeof envelope.code === 'number' ? String(envelope.code) : `of type ${envelope.code === null ? 'null' : typeof envelope.code}`
    throw new InvalidResponseError(`The token response has code ${shown}; expected the number 1000.`, { status })
  }
  return validateGrant(envelope.data, status, MIN_ANSWER_EXPIRES_IN)
}

/**
 * The token source of AnyWeb: `POST {baseUrl}/service/serviceToken` with a JSON body, through
 * openapi-fetch typed by openapi.yaml. The secret stays inside this closure.
 */
function anywebSource(config: ResolvedAnyWeb, now: () => number): TokenSource {
  const { appid, secret } = config
  const reading: Reading = { tokenUrl: config.baseUrl + TOKEN_PATH, appid, redact: redactor(secret) }
  // Bounded where openapi-fetch reads it: it reads an error answer's whole text whatever `parseAs` says.
  const client = createClient<paths>({ baseUrl: config.baseUrl, fetch: async (request) => readable(await config.fetch(request), reading) })
  return async ({ signal, now: clock = now }) => {
    let result
    try {
      result = await client.POST('/service/serviceToken', {
        body: { appid, secret },
        signal,
        parseAs: 'text',
        redirect: 'manual',
      })
    } catch (error) {
      if (signal.aborted) throw signal.reason
      throw requestFailure(error, 'AnyWeb', config.baseUrl, reading)
    }
    return interpret(result.response, result.response.ok ? result.data : result.error, reading, clock())
  }
}

/**
 * A token endpoint's answer as it may be read: a redirect refused unread (its body let go, the secret
 * never sent on), any other answer bounded ({@link boundedBody}).
 */
function readable(response: Response, reading: Reading): Response {
  if (!isRedirect(response)) return boundedBody(response)
  response.body?.cancel().catch(() => undefined)
  throw redirectError(response, reading)
}

/**
 * What a failed token request to `title`'s endpoint at `baseUrl` throws: the library's own errors as
 * they are (a redirect, a body too long), anything else as `ERR_TOKEN_NETWORK`, the secret redacted.
 */
function requestFailure(error: unknown, title: string, baseUrl: string, reading: Reading): Error {
  if (error instanceof InvalidResponseError || error instanceof TokenRequestError) return error
  return new TokenRequestError(
    ErrorCode.Network,
    reading.redact(`Could not reach the ${title} token endpoint at ${baseUrl}: ${error instanceof Error ? error.message : String(error)}.`),
    { cause: scrubbed(error, reading.redact) },
  )
}

/** How deep a network error's `cause` chain is kept (Node's fetch: TypeError → the socket's error). */
const CAUSE_DEPTH = 3

/**
 * The network error to keep as `cause`, rebuilt from an allow-list: its name, its message redacted, a
 * short `code` (such as `ECONNREFUSED`), and so on down its `cause` chain. Nothing else of it is kept: a
 * custom fetch may put the request (its URL, its body, the secret with them) anywhere in its error, in a
 * `URL`, a `Request` or a `Map` that no scan of strings would see.
 */
function scrubbed(error: unknown, redact: (text: string) => string, depth = 0): Error {
  const source = error instanceof Error ? error : undefined
  const cause = depth < CAUSE_DEPTH && source?.cause !== undefined ? { cause: scrubbed(source.cause, redact, depth + 1) } : undefined
  const copy = new Error(redact(source === undefined ? String(error) : source.message), cause)
  if (source !== undefined) copy.name = redact(source.name)
  const code = (error as { code?: unknown } | null)?.code
  if ((typeof code === 'string' && /^[\w.-]{1,40}$/.test(code)) || typeof code === 'number') {
    ;(copy as Error & { code?: unknown }).code = typeof code === 'string' ? redact(code) : code
  }
  // The copy's stack is this function's, not the original's (which may quote the secret in its message).
  return copy
}

export { anywebSource, CREDENTIAL_CODES, MIN_ANSWER_EXPIRES_IN, parseJson, parseRetryAfter, readable, requestFailure, validateGrant }
export type { Reading }
