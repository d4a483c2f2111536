/**
 * The exchange: token → place → send → follow → check → renew and resend once. Web standards only; it
 * knows no HTTP client.
 * @packageDocumentation
 */
import { emitThrough, readyTokenOf, REPLAY, signalThrough } from '../ready-token.js'
import type { FetchLike, GetTokenOptions } from '../types.js'
import { copyText, discard, inspectAnswer, mayBeJson, rebuilt } from './answer.js'
import { answerRefuses, ruleOf } from './auth-error.js'
import { callOf, isOneShotBody } from './call.js'
import type { Call } from './call.js'
import { placeToken } from './place.js'
import { appliesTo, outsiderOrigin, reportOutsider, urlTextOf } from './policy.js'
import type { Policy } from './policy.js'
import { isRedirectStatus, redirectedCall } from './redirects.js'

const NO_OPTIONS: GetTokenOptions = Object.freeze({})

/** The token to send now: the cached one without a promise when the manager has it at hand. */
function tokenFor(policy: Policy, signal: AbortSignal | undefined): string | Promise<string> {
  return (signal?.aborted === true ? undefined : readyTokenOf(policy.manager)) ?? policy.manager.getToken(signal === undefined ? NO_OPTIONS : { signal })
}

/**
 * Reports the auth error (an answer of HTTP `status`) and compare-and-invalidates the refused token;
 * whether the manager threw it away (it keeps it when the API refuses fresh tokens too).
 */
function reportRefusal(policy: Policy, refused: string, status: number): boolean {
  // A rule made by `authErrorRule` (AnyWeb's, a preset's) looks for a code in the body; others are the caller's.
  const kind = status === 401 ? 'http-401' : ruleOf(policy.isAuthError) !== undefined ? 'body-code' : 'custom'
  emitThrough(policy.manager, { type: 'auth-error', kind, status })
  return policy.manager.invalidate(refused)
}

/**
 * After {@link reportRefusal}, the current token (a newer one, or a fresh fetch) for the resend;
 * `undefined` when the manager kept the refused token (see `refusalBackoff`): sending it again would
 * only be refused again. The resend is signalled when the token is at hand, in the caller's context:
 * instrumentation marks the caller's active span there.
 */
async function renewToken(policy: Policy, refused: string, signal: AbortSignal | undefined, status: number): Promise<string | undefined> {
  const dropped = reportRefusal(policy, refused, status)
  const token = await policy.manager.getToken(signal === undefined ? NO_OPTIONS : { signal })
  if (!dropped && token === refused) return undefined
  signalThrough(policy.manager, REPLAY)
  return token
}

function signalOf(call: Call): AbortSignal | undefined {
  return call.init.signal ?? undefined
}

/** Sends `call` with `token` and follows its redirects to allowed origins, the token placed anew each time. */
async function sendFollowing(policy: Policy, fetch: FetchLike, call: Call, token: string): Promise<Response> {
  const sent = await placeToken(policy.placement, call, token)
  return follow(policy, fetch, call, token, await fetch(sent.url, sent.init))
}

/** `response` or, when it is a redirect the call may follow, where it leads. */
async function follow(policy: Policy, fetch: FetchLike, call: Call, token: string, response: Response): Promise<Response> {
  if (!call.follows || !isRedirectStatus(response.status)) return response
  let hops = 0
  for (let next = redirectedCall(policy, call, response, hops); next !== undefined; next = redirectedCall(policy, call, response, ++hops)) {
    discard(response)
    call = next
    // A hop that turned into a GET carries no body, so no body field either.
    const sent = appliesTo(policy, call.url, call.init.method ?? 'GET') ? await placeToken(policy.placement, call, token) : call
    response = await fetch(sent.url, sent.init)
  }
  // As fetch's own answer at the end of redirects shows it.
  return hops === 0 ? response : rebuilt(response, response.body, true)
}

/**
 * What follows the first answer to a tokened call: its allowed redirects followed; then, if the answer
 * refuses `token`, the token renewed (compare-and-invalidate) and the call sent once more. A resend
 * that is refused again reaches the caller as it is, and so does the first answer when the manager
 * keeps the refused token.
 */
async function settle(policy: Policy, fetch: FetchLike, call: Call, token: string, first: Response): Promise<Response> {
  const answer = await follow(policy, fetch, call, token, first)
  if (!call.replayable) {
    // Its body is gone, so no resend; but the token it was refused goes, for the calls after it.
    noticeRefusal(policy, call.url, token, answer).catch(() => undefined)
    return answer
  }
  const signal = signalOf(call)
  const { response, text } = await inspectAnswer(answer, policy.answer, signal)
  const refused = answerRefuses(policy.isAuthError, response, text, call.url)
  if (refused === false || !(await refused)) return response
  const renewed = await renewToken(policy, token, signal, response.status)
  if (renewed === undefined) return response
  discard(response)
  return sendFollowing(policy, fetch, call, renewed)
}

/** The whole exchange for a fetch input that gets a token. */
async function exchange(policy: Policy, fetch: FetchLike, url: string, input: Request | URL | string, init: RequestInit | undefined, oneShotBody: boolean): Promise<Response> {
  const keepStream = policy.placement.in !== 'body' && (oneShotBody || isOneShotBody(init?.body))
  const call = await callOf(url, input, init, keepStream)
  const token = await tokenFor(policy, signalOf(call))
  const sent = await placeToken(policy.placement, call, token)
  return settle(policy, fetch, call, token, await fetch(sent.url, sent.init))
}

/** The most of an answer from an origin the token may not go to that is read (from a clone) for a refusal. */
const OUTSIDER_BYTES = 1024

/**
 * Whether an answer the caller gets as it is refuses the token, judged from a clone of its body: at most
 * `bytes` of JSON within `answerTimeout`, so the caller's own reading is neither delayed nor bounded.
 */
async function cloneRefuses(policy: Policy, url: string, response: Response, bytes: number): Promise<boolean> {
  const json = mayBeJson(response.headers.get('content-type')) && response.body !== null && !response.bodyUsed
  const text = json ? await copyText(response.clone(), { bytes, time: policy.answer.time }) : undefined
  return answerRefuses(policy.isAuthError, response, text, url)
}

/**
 * Reports (once per origin) an answer to a request that got no token because of its origin when it
 * refuses one: the sign of a client and a manager that name the API differently.
 */
async function noticeOutsider(policy: Policy, origin: string, url: string, response: Response): Promise<void> {
  if (await cloneRefuses(policy, url, response, OUTSIDER_BYTES)) reportOutsider(policy, origin, response.status)
}

/** A refusal of a call that cannot be sent again (its body was a stream) still invalidates its token. */
async function noticeRefusal(policy: Policy, url: string, token: string, response: Response): Promise<void> {
  if (await cloneRefuses(policy, url, response, policy.answer.bytes)) reportRefusal(policy, token, response.status)
}

/** Marks a fetch made by {@link createTokenFetch}, with the policy it serves. */
const TOKEN_FETCH = Symbol('anyweb-service-token.fetch')

/**
 * A fetch that gives requests for the allowed origins a token and replays them once on an auth error;
 * every other request goes to `fetch` exactly as given. `oneShotBody` says the caller's body was a
 * stream even when it arrives inside a Request (as from ky), so it is not buffered for a replay.
 */
function createTokenFetch(policy: Policy, fetch: FetchLike, options: { oneShotBody?: boolean } = {}): typeof globalThis.fetch {
  const oneShotBody = options.oneShotBody === true
  const tokenFetch = async function fetchWithServiceToken(input: Request | URL | string, init?: RequestInit): Promise<Response> {
    const url = urlTextOf(input)
    const method = init?.method ?? (input instanceof Request ? input.method : 'GET')
    if (url !== undefined && appliesTo(policy, url, method)) return exchange(policy, fetch, url, input, init, oneShotBody)
    const sent = init === undefined ? fetch(input) : fetch(input, init)
    const outsider = url === undefined ? undefined : outsiderOrigin(policy, url, method)
    if (outsider === undefined) return sent
    return sent.then((response) => {
      noticeOutsider(policy, outsider, url!, response).catch(() => undefined)
      return response
    })
  }
  return Object.assign(tokenFetch, { [TOKEN_FETCH]: policy })
}

/** Whether `fetch` already is a token fetch for `policy` (ky merges hook arrays, so an init hook may run twice). */
function isTokenFetchOf(fetch: unknown, policy: Policy): boolean {
  return typeof fetch === 'function' && (fetch as { [TOKEN_FETCH]?: Policy })[TOKEN_FETCH] === policy
}

export { createTokenFetch, isTokenFetchOf, noticeOutsider, renewToken, settle, tokenFor }
