import { ConfigurationError } from '../errors.js'
import { describe, isPlainObject, unknownKey, unknownKeyMessage } from '../util.js'
import type { EmulatorProfile } from './profile.js'
import type { ResolvedReissue } from './tokens.js'

/**
 * How the emulator answers a repeated token request of an app.
 *
 * - `'stateless'`: a new token each time; every issued token stays valid until it expires (AnyWeb).
 * - `{ policy: 'invalidate-previous', graceMs }`: a new token each time, and the app's earlier ones stop
 *   working `graceMs` later (WeChat's `/cgi-bin/token`, with a 5-minute overlap).
 * - `{ policy: 'reuse', renewWithinMs }`: the same token while more than `renewWithinMs` is left, then a
 *   new one, the old one still valid (WeCom with 0, WeChat's stable token with 5 min, Feishu with 30 min).
 * - `'extend'`: the same token, its expiry moved to a full lifetime from now (DingTalk).
 *
 * @default the profile's: `'stateless'` for AnyWeb
 * @example
 * ```ts
 * createEmulator({ profile: 'wechat', reissue: { policy: 'invalidate-previous', graceMs: 2_000 } })
 * ```
 */
type ReissuePolicy =
  | 'stateless'
  | 'extend'
  | { policy: 'invalidate-previous'; graceMs: number }
  | { policy: 'reuse'; renewWithinMs: number }

/**
 * Where `/service/checkAddresses` looks for the token. AnyWeb itself reads only the body; the other places
 * let tests of the adapters' `placement` option run against the emulator.
 *
 * - `'body'`: the `serviceToken` field of a JSON, urlencoded or multipart body.
 * - `'header'`: `Authorization: Bearer <token>`.
 * - `'query'`: the `serviceToken` query parameter.
 *
 * @default ['body']
 * @example
 * ```ts
 * createEmulator({ tokenFrom: ['body', 'header'] })
 * ```
 */
type TokenLocation = 'body' | 'header' | 'query'

/**
 * Options of {@link createEmulator}. Every one is optional.
 *
 * @example
 * ```ts
 * const emu = createEmulator({ apps: { 'my-app': 'my-secret' }, tokenTtl: 60, users: { u1: ['cfx:aa'] } })
 * ```
 */
interface EmulatorOptions {
  /**
   * The platform to play: its token endpoint (request and answer shapes, error codes and statuses),
   * its re-fetch semantics and one API endpoint that checks the token where the platform expects it.
   * See docs/emulator.md#profiles.
   * @default 'anyweb'
   */
  profile?: EmulatorProfile
  /**
   * The registered applications: appid → secret.
   * @default { 'demo-app': 'demo-secret' }
   */
  apps?: Record<string, string>
  /**
   * Lifetime of issued tokens in seconds: the `expiresIn` of every grant.
   * @default 7200
   */
  tokenTtl?: number
  /**
   * How a repeated token request is answered.
   * @default the profile's (`'stateless'` for AnyWeb, a 5-minute overlap for WeChat, …)
   */
  reissue?: ReissuePolicy
  /**
   * For `/service/checkAddresses`: unionid → the addresses that user owns. Unknown users own nothing.
   * @default {}
   */
  users?: Record<string, string[]>
  /**
   * The clock in epoch milliseconds; drives `iat`, `exp` and every expiry and grace check.
   * @default () => Date.now()
   */
  now?: () => number
  /**
   * The HS256 key that signs tokens. Set it to verify tokens yourself in tests.
   * @default 32 random bytes, new for each emulator
   */
  signingKey?: string
  /**
   * HTTP status of AnyWeb error envelopes (`A108P…` codes). AnyWeb does not document it; it tends to use 200.
   * @default 200
   */
  errorStatus?: number
  /**
   * Where `/service/checkAddresses` looks for the token, in this order.
   * @default ['body']
   */
  tokenFrom?: TokenLocation[]
  /**
   * Called once per request after it is answered (or broken off), e.g. to log traffic. What it throws
   * is ignored. It never receives a secret or a token.
   */
  onRequest?: (entry: RequestLogEntry) => void
}

/**
 * One served request, as given to the `onRequest` option.
 *
 * @example
 * ```ts
 * createEmulator({ onRequest: ({ method, path, status, code }) => console.log(method, path, status, code) })
 * ```
 */
interface RequestLogEntry {
  method: string
  /** The URL path, without the query string (which may hold a token). */
  path: string
  /** The HTTP status, or `0` when the connection was reset or the client went away. */
  status: number
  /** The answer's `code` or `errcode` (`1000` or an `A108…` string for AnyWeb), when it has one. */
  code: number | string | undefined
  durationMs: number
}

/** Every option with its default applied and checked. */
interface ResolvedEmulatorOptions {
  profile: EmulatorProfile
  apps: ReadonlyMap<string, string>
  tokenTtl: number
  /** `undefined`: the profile's own. */
  reissue: ResolvedReissue | undefined
  users: ReadonlyMap<string, ReadonlySet<string>>
  now: () => number
  signingKey: string
  errorStatus: number
  tokenFrom: readonly TokenLocation[]
  onRequest: ((entry: RequestLogEntry) => void) | undefined
}

const DEFAULT_APPS: Readonly<Record<string, string>> = { 'demo-app': 'demo-secret' }
/** Longer than a year is a typo, and `exp` would leave the range a JWT verifier accepts. */
const MAX_TTL_SECONDS = 366 * 24 * 3600

/** Every option `createEmulator` knows; anything else is a typo worth an error, not silence. */
const KNOWN_OPTIONS: readonly string[] = ['profile', 'apps', 'tokenTtl', 'reissue', 'users', 'now', 'signingKey', 'errorStatus', 'tokenFrom', 'onRequest']

function fail(option: string, message: string): never {
  throw new ConfigurationError(option, `Invalid emulator option \`${option}\`: ${message}`)
}



/** Only the type of a value that may be a secret given in the wrong form: `5` is still a secret. */
function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : `a ${typeof value}`
}

/** The options that only AnyWeb's profile reads: refused for another, where they would do nothing. */
const ANYWEB_ONLY: readonly string[] = ['errorStatus', 'tokenFrom', 'users']

function refuseAnyWebOnly(given: Record<string, unknown>, profile: EmulatorProfile): void {
  const option = profile === 'anyweb' ? undefined : ANYWEB_ONLY.find((name) => given[name] !== undefined)
  if (option !== undefined) {
    fail(option, `is read by the 'anyweb' profile only (AnyWeb's error envelopes and /service/checkAddresses); the '${profile}' profile has no use for it.`)
  }
}

function resolveApps(value: unknown): Map<string, string> {
  const source = value === undefined ? DEFAULT_APPS : value
  if (!isPlainObject(source)) fail('apps', `expected an object of appid → secret, got ${describe(source)}.`)
  const apps = new Map<string, string>()
  for (const [appid, secret] of Object.entries(source)) {
    if (appid.trim() === '') fail('apps', 'an appid is empty.')
    // The secret itself never goes into the message, only what is wrong with it.
    if (typeof secret !== 'string' || secret === '') {
      fail(`apps.${appid}`, `expected a non-empty string secret, got ${secret === '' ? 'an empty string' : typeName(secret)}.`)
    }
    apps.set(appid, secret)
  }
  return apps
}

function resolveUsers(value: unknown): Map<string, Set<string>> {
  if (value === undefined) return new Map()
  if (!isPlainObject(value)) fail('users', `expected an object of unionid → addresses, got ${describe(value)}.`)
  const users = new Map<string, Set<string>>()
  for (const [unionid, addresses] of Object.entries(value)) {
    if (!Array.isArray(addresses) || !addresses.every((address) => typeof address === 'string')) {
      fail(`users.${unionid}`, `expected an array of address strings, got ${describe(addresses)}.`)
    }
    users.set(unionid, new Set(addresses))
  }
  return users
}

const REISSUE_FIELDS: Readonly<Record<string, string>> = { 'invalidate-previous': 'graceMs', reuse: 'renewWithinMs' }
const REISSUE_SHAPES = "'stateless', 'extend', { policy: 'invalidate-previous', graceMs } or { policy: 'reuse', renewWithinMs }"

function resolveReissue(value: unknown): ResolvedReissue | undefined {
  if (value === undefined) return undefined
  if (value === 'stateless' || value === 'extend') return { policy: value }
  const policy = isPlainObject(value) && typeof value.policy === 'string' ? value.policy : ''
  const field = Object.hasOwn(REISSUE_FIELDS, policy) ? REISSUE_FIELDS[policy]! : undefined
  if (field === undefined) fail('reissue', `expected ${REISSUE_SHAPES}, got ${describe(value)}.`)
  const given = value as Record<string, unknown>
  const unknown = unknownKey(given, ['policy', field])
  if (unknown !== undefined) fail(`reissue.${unknown.key}`, `not an option; expected { policy: '${policy}', ${field} }.`)
  const ms = given[field]
  if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) {
    fail(`reissue.${field}`, `expected a finite number of milliseconds ≥ 0, got ${describe(ms)}.`)
  }
  return policy === 'reuse' ? { policy: 'reuse', renewWithinMs: ms } : { policy: 'invalidate-previous', graceMs: ms }
}

const PROFILES: readonly EmulatorProfile[] = ['anyweb', 'wechat', 'wechatStable', 'wecom', 'feishu', 'dingtalk']

function resolveProfile(value: unknown): EmulatorProfile {
  if (value === undefined) return 'anyweb'
  if (!PROFILES.includes(value as EmulatorProfile)) fail('profile', `expected one of ${PROFILES.join(', ')}, got ${describe(value)}.`)
  return value as EmulatorProfile
}

function resolveTokenFrom(value: unknown): TokenLocation[] {
  if (value === undefined) return ['body']
  const allowed: readonly unknown[] = ['body', 'header', 'query']
  if (!Array.isArray(value) || value.length === 0 || !value.every((entry) => allowed.includes(entry))) {
    fail('tokenFrom', `expected a non-empty array of 'body', 'header' and 'query', got ${describe(value)}.`)
  }
  return [...new Set(value as TokenLocation[])]
}

function randomKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('')
}

/** Checks every option once and applies the defaults. */
function resolveEmulatorOptions(options: unknown): ResolvedEmulatorOptions {
  if (options !== undefined && !isPlainObject(options)) {
    fail('options', `expected an object or nothing, got ${describe(options)}.`)
  }
  const given: Record<string, unknown> = options ?? {}
  const unknown = unknownKey(given, KNOWN_OPTIONS)
  if (unknown !== undefined) throw new ConfigurationError(unknown.key, unknownKeyMessage('emulator option', unknown, KNOWN_OPTIONS))
  const { tokenTtl = 7200, now = () => Date.now(), signingKey, errorStatus = 200, onRequest } = given
  if (onRequest !== undefined && typeof onRequest !== 'function') fail('onRequest', `expected a function, got ${describe(onRequest)}.`)
  if (typeof tokenTtl !== 'number' || !Number.isFinite(tokenTtl) || tokenTtl <= 0 || tokenTtl > MAX_TTL_SECONDS) {
    fail('tokenTtl', `expected a number of seconds > 0 and ≤ ${MAX_TTL_SECONDS}, got ${describe(tokenTtl)}.`)
  }
  if (typeof now !== 'function') fail('now', `expected a function returning epoch milliseconds, got ${describe(now)}.`)
  if (signingKey !== undefined && (typeof signingKey !== 'string' || signingKey === '')) {
    fail('signingKey', `expected a non-empty string, got ${signingKey === '' ? 'an empty string' : describe(signingKey)}.`)
  }
  if (typeof errorStatus !== 'number' || !Number.isInteger(errorStatus) || errorStatus < 200 || errorStatus > 599) {
    fail('errorStatus', `expected an HTTP status between 200 and 599, got ${describe(errorStatus)}.`)
  }
  const profile = resolveProfile(given.profile)
  refuseAnyWebOnly(given, profile)
  return {
    profile,
    apps: resolveApps(given.apps),
    tokenTtl,
    reissue: resolveReissue(given.reissue),
    users: resolveUsers(given.users),
    now: now as () => number,
    signingKey: signingKey ?? randomKey(),
    errorStatus,
    tokenFrom: resolveTokenFrom(given.tokenFrom),
    onRequest: onRequest as ResolvedEmulatorOptions['onRequest'],
  }
}

export { PROFILES, resolveEmulatorOptions }
export type { EmulatorProfile, EmulatorOptions, ReissuePolicy, RequestLogEntry, ResolvedEmulatorOptions, TokenLocation }
