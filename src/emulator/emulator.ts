import { ConfigurationError } from '../errors.js'
import { createResetError, delay, faultResponse, resolveFault, resolveTimes, untilAborted } from './faults.js'
import type { Fault, FaultEndpoint, InjectOptions, ResolvedFault } from './faults.js'
import { listen } from './listen.js'
import type { EmulatorServer, ListenOptions } from './listen.js'
import { resolveEmulatorOptions } from './options.js'
import type { EmulatorOptions, ResolvedEmulatorOptions } from './options.js'
import type { Profile, ProfileContext } from './profile.js'
import { anywebProfile } from './profiles/anyweb.js'
import { dingtalkProfile } from './profiles/dingtalk.js'
import { feishuProfile } from './profiles/feishu.js'
import { wechatProfile, wechatStableProfile, wecomProfile } from './profiles/wechat.js'
import { createTokenRegistry } from './tokens.js'
import { isRecord } from '../util.js'

/**
 * What the emulator has served since it was created or since `resetStats()`.
 *
 * @example
 * ```ts
 * expect(emu.stats().tokensIssued).toBe(1) // single flight: one token for 100 concurrent callers
 * ```
 */
interface EmulatorStats {
  /** Tokens issued (successful token answers; `bad-grant` faults are not counted). */
  tokensIssued: number
  /** Requests received per endpoint, faulted ones included; `other` is every unknown path. */
  requests: { serviceToken: number; checkAddresses: number; other: number }
  /** `A108P001` answers: requests that carried a missing, wrong, expired, revoked or superseded token. */
  authFailures: number
  /** Requests that got an injected fault (a `latency` fault counts too). */
  faultsServed: number
}

/**
 * A local AnyWeb service, from {@link createEmulator}. Every method is bound: pass `emu.fetch` or
 * `emu.handle` around freely.
 *
 * @example
 * ```ts
 * const emu = createEmulator()
 * const manager = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: 'http://127.0.0.1', fetch: emu.fetch })
 * ```
 */
interface Emulator {
  /**
   * The web-standard handler: give it to `Deno.serve`, `Bun.serve` or any `(Request) => Response` host.
   * Answers every bad input with a response; rejects only for a `reset` fault (a `TypeError`, like fetch)
   * and when `request.signal` aborts (with its reason).
   */
  handle(request: Request): Promise<Response>
  /**
   * The handler as an in-process `fetch`: no socket involved. Relative URLs such as `'/service/serviceToken'`
   * are accepted. Rejects with `signal.reason` when the signal aborts, like fetch.
   */
  fetch(input: Request | URL | string, init?: RequestInit): Promise<Response>
  /**
   * Serves the emulator over HTTP with the runtime's own server (node:http, `Deno.serve`, `Bun.serve`).
   * @throws {ConfigurationError} for an invalid port or hostname.
   */
  listen(options?: ListenOptions): Promise<EmulatorServer>
  /** Makes every token issued so far invalid: using one answers `A108P001`. New tokens work. */
  revokeAll(): void
  /**
   * Serves `fault` to the next `options.times` requests to `endpoint` (default: until `clearFaults()`).
   * Faults queue in the order they were injected; each request gets the first one that matches.
   * @throws {ConfigurationError} for an invalid fault.
   */
  inject(endpoint: FaultEndpoint, fault: Fault, options?: InjectOptions): void
  /** Removes every injected fault. */
  clearFaults(): void
  /** A snapshot of the counters. */
  stats(): EmulatorStats
  /** Sets every counter back to zero. */
  resetStats(): void
}

/** Served by `handle` too, so that a test can read the counters of an emulator in another process. */
const STATS_PATH = '/__emulator/stats'

/** Where a relative URL given to `emu.fetch` points; the emulator ignores the host anyway. */
const IN_PROCESS_ORIGIN = 'http://127.0.0.1'

function json(body: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers } })
}

/** The profile an emulator plays, made fresh for it (a profile may keep per-app state). */
function profileOf(config: ResolvedEmulatorOptions): Profile {
  switch (config.profile) {
    case 'anyweb':
      return anywebProfile(config.tokenFrom)
    case 'wechat':
      return wechatProfile()
    case 'wechatStable':
      return wechatStableProfile()
    case 'wecom':
      return wecomProfile()
    case 'feishu':
      return feishuProfile()
    case 'dingtalk':
      return dingtalkProfile()
  }
}

/** The code of an answer body, for `onRequest`: AnyWeb's, Feishu's and DingTalk's `code`, WeChat's `errcode`. */
function codeOf(body: unknown): number | string | undefined {
  if (!isRecord(body)) return undefined
  const code = body.code ?? body.errcode
  return typeof code === 'number' || typeof code === 'string' ? code : undefined
}

/**
 * Creates a local AnyWeb service: `/service/serviceToken` issues HS256 JWTs, `/service/checkAddresses`
 * checks them, and faults can be injected. Nothing is listening until `listen()`. With `profile` it
 * plays WeChat, WeChat's stable token, WeCom, Feishu or DingTalk instead: that platform's token endpoint
 * and one API endpoint (docs/emulator.md#profiles); `stats().requests.serviceToken` then counts its token
 * requests, `checkAddresses` its API requests, and faults address them by the same names.
 *
 * Token endpoint checks, in order: appid empty → `A108P002`, appid unknown → `A108P005`, secret empty →
 * `A108P003`, secret wrong → `A108P004`. A body that is not JSON, urlencoded or multipart counts as
 * "appid empty"; an appid that is not a string as unknown. checkAddresses: a body that is not a JSON object (or form) → `A108P007`; then the token
 * (missing, forged, expired, revoked, superseded → `A108P001`); then `group` → `A108P007`.
 * Errors come with HTTP `errorStatus` (200 by default). Unknown paths answer 404, other methods than
 * POST 405; `GET /__emulator/stats` answers {@link EmulatorStats}.
 *
 * @default options: apps `{ 'demo-app': 'demo-secret' }`, tokenTtl 7200 s, reissue `'stateless'`, users `{}`
 * @throws {ConfigurationError} for an invalid option.
 * @example
 * ```ts
 * import { createEmulator } from 'anyweb-service-token/emulator'
 * const emu = createEmulator({ apps: { 'my-app': 's3cret' }, tokenTtl: 60 })
 * const server = await emu.listen()
 * const manager = createTokenManager({ appid: 'my-app', secret: 's3cret', baseUrl: server.url })
 * // …
 * await server.close()
 * ```
 */
function createEmulator(options?: EmulatorOptions): Emulator {
  const config = resolveEmulatorOptions(options)
  const profile = profileOf(config)
  const tokens = createTokenRegistry({ now: config.now, tokenTtl: config.tokenTtl, signingKey: config.signingKey, reissue: config.reissue ?? profile.reissue })

  let faults: Array<{ endpoint: FaultEndpoint; fault: ResolvedFault; remaining: number }> = []

  const zero = (): EmulatorStats => ({
    tokensIssued: 0,
    requests: { serviceToken: 0, checkAddresses: 0, other: 0 },
    authFailures: 0,
    faultsServed: 0,
  })
  let counters = zero()

  const context: ProfileContext = {
    apps: config.apps,
    users: config.users,
    tokens: {
      ...tokens,
      issue: async (appid, force) => {
        const grant = await tokens.issue(appid, force)
        counters.tokensIssued++
        return grant
      },
    },
    now: config.now,
    errorStatus: config.errorStatus,
    refused: () => void counters.authFailures++,
  }

  const takeFault = (endpoint: 'serviceToken' | 'checkAddresses'): ResolvedFault | undefined => {
    const index = faults.findIndex((entry) => entry.endpoint === endpoint || entry.endpoint === 'all')
    const entry = faults[index]
    if (entry === undefined) return undefined
    entry.remaining--
    if (entry.remaining <= 0) faults.splice(index, 1)
    return entry.fault
  }

  const snapshot = (): EmulatorStats => ({ ...counters, requests: { ...counters.requests } })

  const dispatch = async (request: Request, closing: AbortSignal | undefined): Promise<Response> => {
    const signals = closing === undefined ? [request.signal] : [request.signal, closing]
    const url = new URL(request.url)
    const { pathname } = url
    if (pathname === STATS_PATH) {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        return json({ code: 'METHOD_NOT_ALLOWED', message: `${request.method} is not allowed here; use GET.` }, 405, { allow: 'GET, HEAD' })
      }
      return json(snapshot(), 200)
    }
    const endpoint = profile.tokenPaths.includes(pathname) ? 'serviceToken' : pathname === profile.apiPath ? 'checkAddresses' : undefined
    if (endpoint === undefined) {
      counters.requests.other++
      return json({ code: 'NOT_FOUND', message: `No such endpoint: ${request.method} ${pathname}` }, 404)
    }
    counters.requests[endpoint]++

    const fault = takeFault(endpoint)
    if (fault !== undefined) {
      counters.faultsServed++
      if (fault.type === 'hang') return untilAborted(signals)
      if (fault.type === 'reset') throw createResetError()
      if (fault.type === 'latency') {
        await delay(fault.ms, signals)
      } else {
        if (fault.type === 'api-error') {
          if (profile.refusalCodes.includes(fault.code)) counters.authFailures++
          return profile.apiError(fault.code, fault.message, fault.status, context)
        }
        const response = faultResponse(fault, config.errorStatus)
        if (response !== undefined) return response
      }
    }

    const methods = endpoint === 'serviceToken' ? profile.methods.token : profile.methods.api
    if (!methods.includes(request.method)) {
      return json({ code: 'METHOD_NOT_ALLOWED', message: `${request.method} is not allowed here; use ${methods.join(' or ')}.` }, 405, { allow: methods.join(', ') })
    }
    return endpoint === 'serviceToken' ? profile.token(request, url, context) : profile.api(request, url, context)
  }

  /** Reports each request to `onRequest`; reading the code from a clone leaves the answer untouched. */
  const observed = async (request: Request, closing: AbortSignal | undefined): Promise<Response> => {
    const report = config.onRequest
    if (report === undefined) return dispatch(request, closing)
    const started = performance.now()
    const entry = { method: request.method, path: new URL(request.url).pathname }
    const done = (status: number, code: number | string | undefined): void => {
      try {
        report({ ...entry, status, code, durationMs: performance.now() - started })
      } catch {
        // A logging bug must not break the service.
      }
    }
    try {
      const response = await dispatch(request, closing)
      done(response.status, codeOf(await response.clone().json().catch(() => undefined)))
      return response
    } catch (error) {
      done(0, undefined)
      throw error
    }
  }

  const handle = (request: Request): Promise<Response> => observed(request, undefined)

  return {
    handle,
    async fetch(input, init) {
      const request = new Request(typeof input === 'string' && input.startsWith('/') ? `${IN_PROCESS_ORIGIN}${input}` : input, init)
      if (request.signal.aborted) throw request.signal.reason
      const response = await observed(request, undefined)
      // An abort during the (short) work after the last await must still reject, as fetch would.
      if (request.signal.aborted) throw request.signal.reason
      return response
    },
    listen: (listenOptions) => listen(observed, listenOptions),
    revokeAll: tokens.revokeAll,
    inject(endpoint, fault, injectOptions) {
      if (endpoint !== 'serviceToken' && endpoint !== 'checkAddresses' && endpoint !== 'all') {
        throw new ConfigurationError('endpoint', `Invalid fault endpoint ${JSON.stringify(endpoint)}: expected 'serviceToken', 'checkAddresses' or 'all'.`)
      }
      const resolved = resolveFault(endpoint, fault, config.tokenTtl)
      if (resolved.type === 'bad-grant' && config.profile !== 'anyweb') {
        throw new ConfigurationError('fault.type', `a bad-grant fault is an AnyWeb answer; the '${config.profile}' profile does not serve one.`)
      }
      const remaining = resolveTimes(injectOptions)
      faults.push({ endpoint, fault: resolved, remaining })
    },
    clearFaults() {
      faults = []
    },
    stats: snapshot,
    resetStats() {
      counters = zero()
    },
  }
}

export { createEmulator }
export type { Emulator, EmulatorStats }
