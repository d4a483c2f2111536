/**
 * Which requests get a token: the adapter options, checked once with every default applied, and the
 * rule that sends the token only to allowed origins, never to the token endpoint under any spelling.
 * @packageDocumentation
 */
import { ConfigurationError } from '../errors.js'
import { emitThrough, protocolOf } from '../ready-token.js'
import type { TokenManager } from '../types.js'
import { describe, unknownKey, unknownKeyMessage } from '../util.js'
import { MAX_ANSWER_BYTES } from './answer.js'
import type { AnswerLimits } from './answer.js'
import type { IsAuthError } from './auth-error.js'
import type { TokenPlacement } from './place.js'
import { anywebProtocol } from './protocol.js'

/**
 * Options shared by every adapter (`withServiceToken`, `attachServiceToken`, `serviceTokenHooks`,
 * `serviceTokenMiddleware`, `createAnyWebClient`).
 *
 * @example
 * ```ts
 * const options: ServiceTokenAdapterOptions = { origins: ['https://api.anyweb.cc'], answerTimeout: 250 }
 * ```
 */
interface ServiceTokenAdapterOptions {
  /**
   * Where the token goes.
   * @default the manager's platform's: `{ in: 'body', field: 'serviceToken' }` for AnyWeb
   */
  placement?: TokenPlacement
  /**
   * Whether a response is an auth error (the token was refused).
   * @default the manager's platform's rule: for AnyWeb, HTTP 401 or a JSON body whose `code` is `"A108P001"` (whatever the status)
   */
  isAuthError?: IsAuthError
  /**
   * The origins (`scheme://host:port`) the token may be sent to; a full URL counts by its origin.
   * Requests anywhere else pass through untouched.
   * @default [the origin of manager.baseUrl]
   */
  origins?: readonly string[]
  /**
   * Milliseconds after a JSON answer's headers within which its body (at most 64 KiB decoded) must have
   * ended to be looked at for an auth error. A slower (or longer) answer reaches the caller at once,
   * unjudged, its body streaming on. A small JSON answer arrives with its headers.
   * @default 500
   */
  answerTimeout?: number
}

/** The adapter options, checked once, with every default applied. */
interface Policy {
  readonly manager: TokenManager
  readonly placement: TokenPlacement
  readonly isAuthError: IsAuthError
  readonly origins: ReadonlySet<string>
  /** The token endpoint's {@link routeOf}: never given the token. */
  readonly tokenRoute: string | undefined
  readonly answer: AnswerLimits
  /** URL texts already judged by {@link allows}: an API is called at a few URLs, again and again. */
  readonly judged: Map<string, boolean>
  /** Origins the token may not go to, with how many of their answers were looked at ({@link outsiderOrigin}). */
  readonly outsiders: Map<string, number>
}

const DEFAULT_ANSWER_TIMEOUT = 500
/** The longest delay timers can wait. */
const MAX_TIMER_MS = 2 ** 31 - 1
const MAX_JUDGED = 256
const KNOWN_OPTIONS = ['placement', 'isAuthError', 'origins', 'answerTimeout']

function fail(option: string, detail: string): never {
  throw new ConfigurationError(option, `Invalid option \`${option}\`: ${detail}`)
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value !== ''
}

function resolvePlacement(value: unknown): TokenPlacement {
  if (typeof value !== 'object' || value === null) fail('placement', `expected an object, got ${describe(value)}.`)
  const placement = value as Record<string, unknown>
  switch (placement['in']) {
    case 'body':
      if (!nonEmptyString(placement['field'])) fail('placement', '`field` must be a non-empty string.')
      return { in: 'body', field: placement['field'] }
    case 'query':
      if (!nonEmptyString(placement['name'])) fail('placement', '`name` must be a non-empty string.')
      return { in: 'query', name: placement['name'] }
    case 'header': {
      const { name, scheme } = placement
      if (!nonEmptyString(name)) fail('placement', '`name` must be a non-empty string.')
      // Headers() would throw later, at the first request: fail at start-up instead.
      try {
        new Headers([[name, 'x']])
      } catch {
        fail('placement', `${JSON.stringify(name)} is not a valid header name.`)
      }
      if (scheme === undefined) return { in: 'header', name: name.toLowerCase() }
      if (!nonEmptyString(scheme) || /\s/.test(scheme)) fail('placement', '`scheme` must be a non-empty word such as "Bearer".')
      return { in: 'header', name: name.toLowerCase(), scheme }
    }
    default:
      return fail('placement', `\`in\` must be "body", "header" or "query", got ${describe(placement['in'])}.`)
  }
}

function originOf(option: string, value: unknown): string {
  let origin = 'null'
  try {
    if (typeof value === 'string') origin = new URL(value).origin
  } catch {
    // reported below
  }
  if (origin === 'null') fail(option, `expected an http(s) URL or origin, got ${describe(value)}.`)
  return origin
}

/**
 * Checks the adapter options once and applies the defaults.
 * @throws {ConfigurationError} when an argument or option is invalid or unknown, or when `origins` is
 *   missing and the manager has no `baseUrl`.
 */
function createPolicy(manager: TokenManager, options: ServiceTokenAdapterOptions = {}): Policy {
  if (typeof manager !== 'object' || manager === null || typeof manager.getToken !== 'function') {
    throw new ConfigurationError('manager', 'Invalid argument `manager`: expected a TokenManager from createTokenManager().')
  }
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('options', `Invalid adapter options: expected an object, got ${describe(options)}.`)
  }
  const unknown = unknownKey(options, KNOWN_OPTIONS)
  if (unknown !== undefined) throw new ConfigurationError(unknown.key, unknownKeyMessage('adapter option', unknown, KNOWN_OPTIONS))
  // The manager's platform (AnyWeb unless made with a preset or a `protocol`) gives the defaults.
  // A manager made by hand speaks AnyWeb's protocol.
  const protocol = protocolOf(manager) ?? anywebProtocol
  const isAuthError = options.isAuthError ?? protocol.isAuthError
  if (typeof isAuthError !== 'function') fail('isAuthError', `expected a function, got ${describe(isAuthError)}.`)
  let origins: string[]
  if (options.origins !== undefined) {
    if (!Array.isArray(options.origins)) fail('origins', `expected an array of origins, got ${describe(options.origins)}.`)
    origins = options.origins.map((value: unknown, index) => originOf(`origins[${index}]`, value))
  } else if (manager.baseUrl !== undefined) {
    origins = [originOf('baseUrl', manager.baseUrl)]
  } else {
    fail('origins', 'the manager has no `baseUrl`, so say where the token may be sent, e.g. `origins: ["https://api.example.com"]`.')
  }
  const time = options.answerTimeout ?? DEFAULT_ANSWER_TIMEOUT
  if (typeof time !== 'number' || !(time >= 0 && time <= MAX_TIMER_MS)) {
    fail('answerTimeout', `expected milliseconds from 0 to ${MAX_TIMER_MS}, got ${describe(time)}.`)
  }
  return Object.freeze({
    manager,
    placement: resolvePlacement(options.placement ?? protocol.placement),
    isAuthError,
    origins: new Set(origins),
    tokenRoute: manager.tokenUrl === undefined ? undefined : routeOf(new URL(manager.tokenUrl)),
    answer: { bytes: MAX_ANSWER_BYTES, time },
    judged: new Map(),
    outsiders: new Map(),
  })
}

/**
 * What a lenient server routes `url` by: its origin and its path with escapes decoded (repeatedly, as
 * layered proxies may), `\` as `/`, `;parameters` dropped, dot segments resolved, slashes collapsed,
 * letter case folded and trailing slashes removed. Two URLs a case-insensitive, slash-tolerant router
 * serves alike have the same route.
 */
function routeOf(url: URL): string {
  let path = url.pathname
  for (let round = 0; round < 3 && path.includes('%'); round++) {
    path = path.replace(/%([\da-f]{2})/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)))
  }
  const segments: string[] = []
  for (const raw of path.replace(/\\/g, '/').split('/')) {
    const segment = raw.split(';', 1)[0]!.trim()
    if (segment === '' || segment === '.') continue
    if (segment === '..') segments.pop()
    else segments.push(segment.toLowerCase())
  }
  return `${url.origin}/${segments.join('/')}`
}

const ABSOLUTE_URL = /^https?:\/\//i

/** The absolute URL a fetch input points to, as text; `undefined` when it does not parse. */
function urlTextOf(input: Request | URL | string): string | undefined {
  if (input instanceof URL) return input.href
  if (input instanceof Request) return input.url
  // An absolute URL text is taken as written (fetch parses it anyway); {@link allows} judges it.
  if (ABSOLUTE_URL.test(input)) return input
  try {
    const base = (globalThis as { location?: { href?: string } }).location?.href
    return new URL(input, base).href
  } catch {
    return undefined
  }
}

/** Whether the token may be sent to the absolute `url`: an allowed origin, and not the token endpoint. */
function allows(policy: Policy, target: string | URL): boolean {
  const url = typeof target === 'string' ? target : target.href
  const known = policy.judged.get(url)
  if (known !== undefined) return known
  let allowed = false
  try {
    const parsed = new URL(url)
    allowed = policy.origins.has(parsed.origin) && routeOf(parsed) !== policy.tokenRoute
  } catch {
    // Not a URL: nothing to send a token to.
  }
  if (policy.judged.size >= MAX_JUDGED) policy.judged.clear()
  policy.judged.set(url, allowed)
  return allowed
}

/** Whether a request with `method` can carry a body. */
function canHaveBody(method: string): boolean {
  const upper = method.toUpperCase()
  return upper !== 'GET' && upper !== 'HEAD'
}

/** Whether a request gets a token: an allowed URL, and (for body placement) a method that has a body. */
function appliesTo(policy: Policy, url: string | URL, method: string): boolean {
  return (policy.placement.in !== 'body' || canHaveBody(method)) && allows(policy, url)
}

/** Answers looked at per origin the token may not go to, and origins watched: a bound on the cost for unrelated traffic. */
const OUTSIDER_LOOKS = 8
const MAX_OUTSIDERS = 64

/**
 * The origin of `url` when a request there went without a token only because of its origin (its method
 * would carry one) and its answer is still worth a look for a refusal: the first few per origin, until
 * one is reported ({@link reportOutsider}).
 */
function outsiderOrigin(policy: Policy, url: string, method: string): string | undefined {
  if (policy.placement.in === 'body' && !canHaveBody(method)) return undefined
  let origin: string
  try {
    origin = new URL(url).origin
  } catch {
    return undefined
  }
  const looks = policy.outsiders.get(origin) ?? 0
  if (policy.origins.has(origin) || looks >= OUTSIDER_LOOKS || (looks === 0 && policy.outsiders.size >= MAX_OUTSIDERS)) return undefined
  policy.outsiders.set(origin, looks + 1)
  return origin
}

/** Reports, once per origin, that an answer from `origin`, which got no token, refused one. */
function reportOutsider(policy: Policy, origin: string, status: number): void {
  if (policy.outsiders.get(origin) === Number.POSITIVE_INFINITY) return
  policy.outsiders.set(origin, Number.POSITIVE_INFINITY)
  emitThrough(policy.manager, { type: 'origin-not-allowed', origin, allowed: [...policy.origins], status })
}

export { allows, appliesTo, createPolicy, outsiderOrigin, reportOutsider, urlTextOf }
export type { Policy, ServiceTokenAdapterOptions }
