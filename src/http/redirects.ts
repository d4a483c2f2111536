/**
 * Redirects of a tokened request: followed by fetch's rules, but only to where the token may go.
 * @packageDocumentation
 */
import type { Call } from './call.js'
import { editHeaders } from './place.js'
import { allows } from './policy.js'
import type { Policy } from './policy.js'

/** The fetch standard's redirect limit. */
const MAX_REDIRECTS = 20

/** Where a redirect leads and with what method. */
interface RedirectHop {
  url: URL
  method: string
  dropBody: boolean
}

function isRedirectStatus(status: number): boolean {
  return status === 301 || status === 302 || status === 303 || status === 307 || status === 308
}

/** Where a redirect response leads and with what method, following the fetch standard's rules. */
function redirectHop(status: number, location: string | null, from: string, method: string): RedirectHop | undefined {
  if (!isRedirectStatus(status) || location === null) return undefined
  let url: URL
  try {
    url = new URL(location, from)
  } catch {
    return undefined
  }
  const upper = method.toUpperCase()
  if ((status === 303 && upper !== 'GET' && upper !== 'HEAD') || ((status === 301 || status === 302) && upper === 'POST')) {
    return { url, method: 'GET', dropBody: true }
  }
  return { url, method, dropBody: false }
}

/** Headers that describe a body: dropped with the body when a redirect turns the request into a GET. */
const BODY_HEADERS = { 'content-type': undefined, 'content-length': undefined, 'content-encoding': undefined, 'content-language': undefined, 'content-location': undefined }

/**
 * The call that follows `response` when it is a redirect to follow: to an allowed origin (never the token
 * endpoint), with a body that can be sent again. `undefined` for any other answer, which then reaches
 * the caller as it is (a redirect elsewhere unfollowed, so neither the token nor a body that held it
 * leaves the allow-list). `hops` counts the redirects followed so far.
 * @throws {TypeError} as fetch does, past the 20th redirect.
 */
function redirectedCall(policy: Policy, call: Call, response: Response, hops: number): Call | undefined {
  const method = call.init.method ?? 'GET'
  const hop = redirectHop(response.status, response.headers.get('location'), call.url, method)
  if (hop === undefined || !allows(policy, hop.url.href)) return undefined
  if (!hop.dropBody && !call.replayable) return undefined
  if (hops >= MAX_REDIRECTS) throw new TypeError(`fetch failed: more than ${MAX_REDIRECTS} redirects.`)
  const init: RequestInit = { ...call.init, method: hop.method }
  if (hop.dropBody) {
    init.body = null
    init.headers = editHeaders(call.init.headers, BODY_HEADERS)
  }
  return { ...call, url: hop.url.href, init }
}

export { isRedirectStatus, redirectedCall, redirectHop }
export type { RedirectHop }
