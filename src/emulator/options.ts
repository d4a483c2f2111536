import { ConfigurationError } from '../errors.js'
import { describe, isPlainObject, unknownKey, unknownKeyMessage } from '../util.js'

/**
 * What happens to earlier tokens of an app when the emulator issues it a new one.
 *
 * - `'stateless'`: every issued token stays valid until it expires (Feishu/DingTalk-like servers).
 * - `{ policy: 'invalidate-previous', graceMs }`: a new token supersedes the app's earlier ones, which stay
 *   valid for `graceMs` more milliseconds (WeChat does this with a 5-minute overlap).
 *
 * @default 'stateless'
 * @example
 * ```ts
 * createEmulator({ reissue: { policy: 'invalidate-previous', graceMs: 300_000 } })
 * ```
 */
type ReissuePolicy = 'stateless' | { policy: 'invalidate-previous'; graceMs: number }

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
   * Whether issuing a token invalidates the app's earlier tokens.
   * @default 'stateless'
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
  /** The envelope's `code` (`1000` or an `A108…` string), when the answer is an AnyWeb envelope. */
  code: number | string | undefined
  durationMs: number
}

/** Every option with its default applied and checked. */
interface ResolvedEmulatorOptions {
  apps: ReadonlyMap<string, string>
  tokenTtl: number
  reissue: { invalidatePrevious: boolean; graceMs: number }
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
const KNOWN_OPTIONS: readonly string[] = ['apps', 'tokenTtl', 'reissue', 'users', 'now', 'signingKey', 'errorStatus', 'tokenFrom', 'onRequest']

function fail(option: string, message: string): never {
  throw new ConfigurationError(option, `Invalid emulator option \`${option}\`: ${message}`)
}



function resolveApps(value: unknown): Map<string, string> {
  const source = value === undefined ? DEFAULT_APPS : value
  if (!isPlainObject(source)) fail('apps', `expected an object of appid → secret, got ${describe(source)}.`)
  const apps = new Map<string, string>()
  for (const [appid, secret] of Object.entries(source)) {
    if (appid.trim() === '') fail('apps', 'an appid is empty.')
    // The secret itself never goes into the message, only what is wrong with it.
    if (typeof secret !== 'string' || secret === '') {
      fail(`apps.${appid}`, `expected a non-empty string secret, got ${secret === '' ? 'an empty string' : describe(secret)}.`)
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

function resolveReissue(value: unknown): ResolvedEmulatorOptions['reissue'] {
  if (value === undefined || value === 'stateless') return { invalidatePrevious: false, graceMs: 0 }
  if (!isPlainObject(value) || value.policy !== 'invalidate-previous') {
    fail('reissue', `expected 'stateless' or { policy: 'invalidate-previous', graceMs }, got ${describe(value)}.`)
  }
  const unknown = unknownKey(value, ['policy', 'graceMs'])
  if (unknown !== undefined) fail(`reissue.${unknown.key}`, `not an option; expected { policy: 'invalidate-previous', graceMs }.`)
  const { graceMs } = value
  if (typeof graceMs !== 'number' || !Number.isFinite(graceMs) || graceMs < 0) {
    fail('reissue.graceMs', `expected a finite number of milliseconds ≥ 0, got ${describe(graceMs)}.`)
  }
  return { invalidatePrevious: true, graceMs }
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
  return {
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

export { resolveEmulatorOptions }
export type { EmulatorOptions, ReissuePolicy, RequestLogEntry, ResolvedEmulatorOptions, TokenLocation }
