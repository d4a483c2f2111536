/**
 * A preset's token source: one token request to the platform's endpoint, never following a redirect,
 * with the secret redacted from anything kept of a failure (it may ride in the URL's query string).
 * @packageDocumentation
 */
import { parseJson, readable, requestFailure } from '../anyweb-source.js'
import type { Reading } from '../anyweb-source.js'
import { ConfigurationError } from '../errors.js'
import type { TokenSource } from '../types.js'
import { redactor } from '../util.js'
import { checkAnswer } from './answer.js'
import type { Platform, PresetConfig } from './platform.js'

/** The token source of `platform` for one app. The secret stays inside this closure. */
function platformSource(platform: Platform, config: PresetConfig): TokenSource {
  const tokenUrl = config.baseUrl + platform.protocol.tokenPath
  const reading: Reading = { tokenUrl, appid: config.id, redact: redactor(config.secret) }
  return async ({ signal, now = Date.now }) => {
    const { url, init } = platform.request(config, tokenUrl)
    let response: Response
    let text: string
    try {
      response = await config.fetch(url, { ...init, signal, redirect: 'manual' })
      text = await readable(response, reading).text()
    } catch (error) {
      if (signal.aborted) throw signal.reason
      throw requestFailure(error, platform.title, config.baseUrl, reading)
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
