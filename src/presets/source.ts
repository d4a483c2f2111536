/**
 * A preset's token source: one token request to the platform's endpoint, never following a redirect,
 * with the secret redacted from anything kept of a failure (it may ride in the URL's query string).
 * @packageDocumentation
 */
import { isRedirect, parseJson, redirectError, scrubbed } from '../anyweb-source.js'
import type { Reading } from '../anyweb-source.js'
import { ConfigurationError, ErrorCode, InvalidResponseError, TokenRequestError } from '../errors.js'
import { boundedBody } from '../http/bounded-body.js'
import type { TokenSource } from '../types.js'
import { redactor } from '../util.js'
import { checkAnswer } from './answer.js'
import type { Platform, PresetConfig } from './platform.js'

/** The token source of `platform` for one app. The secret stays inside this closure. */
function platformSource(platform: Platform, config: PresetConfig): TokenSource {
  const tokenUrl = config.baseUrl + platform.protocol.tokenPath
  const reading: Reading = { tokenUrl, appid: config.id, redact: redactor(config.secret) }
  const networkError = (error: unknown): TokenRequestError =>
    new TokenRequestError(
      ErrorCode.Network,
      reading.redact(
        `Could not reach the ${platform.title} token endpoint at ${config.baseUrl}: ${error instanceof Error ? error.message : String(error)}.`,
      ),
      { cause: scrubbed(error, reading.redact) },
    )
  return async ({ signal, now = Date.now }) => {
    const { url, init } = platform.request(config, tokenUrl)
    let response: Response
    let text: string
    try {
      response = await config.fetch(url, { ...init, signal, redirect: 'manual' })
      if (isRedirect(response)) throw redirectError(response, reading)
      text = await boundedBody(response).text()
    } catch (error) {
      if (signal.aborted) throw signal.reason
      if (error instanceof TokenRequestError || error instanceof InvalidResponseError) throw error
      throw networkError(error)
    }
    if (response.status === 404) {
      throw new ConfigurationError(
        'baseUrl',
        `The ${platform.title} token endpoint ${tokenUrl} answered HTTP 404 (not found). \`baseUrl\` is the API's origin ` +
          `(e.g. "${platform.defaultBaseUrl}"), not a path: the preset appends ${platform.protocol.tokenPath} itself.`,
      )
    }
    return checkAnswer(platform, response, parseJson(text), reading, now())
  }
}

export { platformSource }
