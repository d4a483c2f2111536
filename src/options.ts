import { ConfigurationError } from './errors.js'
import { memoryStore } from './memory-store.js'
import { anywebProtocol } from './http/protocol.js'
import type { FetchLike, TokenManagerEvent, TokenManagerOptions, TokenProtocol, TokenSource, TokenStore } from './types.js'
import { describe, MAX_TIMER_MS } from './util.js'

/** The AnyWeb production API. */
const DEFAULT_BASE_URL = 'https://api.anyweb.cc'
/** The token endpoint, relative to the base URL. */
const TOKEN_PATH = '/service/serviceToken'

/** Every option with its default applied and checked; nothing below this needs an `undefined` check. */
interface ResolvedOptions {
  refreshWindow: number
  expiryMargin: number
  minRefreshInterval: number
  timeout: number
  cooldown: number
  retry: { attempts: number; baseDelay: number; maxDelay: number }
  refusalBackoff: { baseDelay: number; maxDelay: number }
  store: TokenStore
  storeTimeout: number
  storeKey: string
  now: () => number
  random: () => number
  emit: (event: TokenManagerEvent) => void
  waitUntil: ((work: Promise<unknown>) => void) | undefined
  baseUrl: string | undefined
  tokenUrl: string | undefined
  /** What the adapters take as their defaults: AnyWeb's unless a preset or the caller gave another. */
  protocol: TokenProtocol
}

/** What AnyWeb needs besides the common options; `undefined` for a custom source. */
interface ResolvedAnyWeb {
  appid: string
  secret: string
  baseUrl: string
  fetch: FetchLike
}

type Resolved = ResolvedOptions & { source: TokenSource | undefined; anyweb: ResolvedAnyWeb | undefined }

function fail(option: string, message: string): never {
  throw new ConfigurationError(option, `Invalid option \`${option}\`: ${message}`)
}

/**
 * A number of milliseconds from `min` up to what `setTimeout` can wait (2³¹−1, about 24.8 days): a
 * longer delay would fire at once.
 */
function duration(option: string, value: unknown, fallback: number, min = 0): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > MAX_TIMER_MS) {
    fail(
      option,
      `expected a number of milliseconds from ${min} to ${MAX_TIMER_MS} (what timers can wait), ` +
        `got ${typeof value === 'number' ? value : describe(value)}.`,
    )
  }
  return value
}

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    fail(option, `expected a whole number ≥ 1, got ${typeof value === 'number' ? value : describe(value)}.`)
  }
  return value
}

function fn<T>(option: string, value: unknown, fallback: T): T {
  if (value === undefined) return fallback
  if (typeof value !== 'function') fail(option, `expected a function, got ${describe(value)}.`)
  return value as T
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]'])

/** True for 127.0.0.0/8, ::1 and localhost: the only places a token may travel over plain HTTP. */
function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname)
}

/**
 * Checks a base URL and returns it without a trailing slash. Messages quote nothing of a value that is
 * not a web URL: a secret put in the wrong variable (say `ANYWEB_BASE_URL`) must not reach a log.
 */
function resolveBaseUrl(value: unknown, example = DEFAULT_BASE_URL): string {
  if (typeof value !== 'string' || value === '') fail('baseUrl', `expected a URL string, got ${describe(value)}.`)
  let url: URL
  try {
    url = new URL(value)
  } catch {
    fail('baseUrl', `the string given is not an absolute URL (expected e.g. "${example}").`)
  }
  const web = url.protocol === 'https:' || url.protocol === 'http:'
  if (web && (url.username !== '' || url.password !== '')) {
    fail('baseUrl', `must not contain a user name or password (as in "https://user:pass@host"); give the origin only, e.g. "${example}".`)
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    fail(
      'baseUrl',
      `${web ? `"${url.origin}"` : 'the URL given'} must use https: the secret and tokens would travel in clear text. ` +
        'Plain http is allowed only for loopback addresses (127.0.0.1, ::1, localhost), e.g. the emulator.',
    )
  }
  if (url.search !== '' || url.hash !== '') fail('baseUrl', 'must not contain a query string or a fragment.')
  return url.href.replace(/\/+$/, '')
}

/** A credential option: a non-empty string, named in messages with where to find it (`console`). */
function credential(option: string, value: unknown, console = 'the AnyWeb developer console'): string {
  if (typeof value !== 'string') {
    // Only the type: a secret given as a number is still a secret.
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value
    fail(option, `expected a non-empty string, got ${got}. ` + `Pass the value from ${console}.`)
  }
  if (value.trim() === '') fail(option, `is empty. Pass the value from ${console}.`)
  return value
}

/** Refuses a secret in a browser-like runtime unless the caller says the environment is trusted. */
function refuseBrowser(allowed: unknown): void {
  if (isBrowserLike() && allowed !== true) {
    fail(
      'dangerouslyAllowBrowser',
      'this looks like a browser, and a secret shipped to browsers is public: anyone can read it from the page ' +
        'and get tokens in your name. Fetch tokens on your server instead. If this code really runs in a ' +
        'trusted environment that only looks like a browser (e.g. a test DOM), pass `dangerouslyAllowBrowser: true`.',
    )
  }
}

/** The fetch for token requests: the one given, or the global one at this moment. */
function resolveFetch(value: unknown): FetchLike {
  const fetchImpl = fn<FetchLike | undefined>('fetch', value, globalThis.fetch?.bind(globalThis))
  if (fetchImpl === undefined) fail('fetch', 'no global fetch exists in this runtime; pass one.')
  return fetchImpl
}

/** Checks a {@link TokenProtocol} given with a custom source; the adapters check its `placement` as they check their own. */
function resolveProtocol(value: unknown): TokenProtocol {
  if (value === undefined) return anywebProtocol
  if (typeof value !== 'object' || value === null) fail('protocol', `expected an object, got ${describe(value)}.`)
  const { placement, isAuthError, tokenPath } = value as Partial<Record<keyof TokenProtocol, unknown>>
  if (typeof isAuthError !== 'function') fail('protocol.isAuthError', `expected a function, got ${describe(isAuthError)}.`)
  if (typeof tokenPath !== 'string' || !/^\/[^?#]*$/.test(tokenPath)) {
    fail('protocol.tokenPath', 'expected a path such as "/cgi-bin/token": starting with "/", no query string or fragment.')
  }
  return Object.freeze({ placement: placement as TokenProtocol['placement'], isAuthError: isAuthError as TokenProtocol['isAuthError'], tokenPath })
}

function resolveStore(value: unknown): TokenStore {
  if (value === undefined) return memoryStore()
  const store = value as Partial<TokenStore> | null
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.get !== 'function' ||
    typeof store.set !== 'function' ||
    typeof store.delete !== 'function'
  ) {
    fail('store', 'expected an object with get, set and delete methods (see the TokenStore type).')
  }
  return store as TokenStore
}

/**
 * The mark a preset leaves on the options it returns (spread copies it): which preset, and the origin
 * its token requests go to. A symbol key, so no option check or enumeration of options meets it.
 */
const PRESET = Symbol.for('anyweb-service-token.preset')

interface PresetMark {
  readonly preset: string
  readonly baseUrl: string
}

/** `options`, frozen and marked as made by `preset` (the function's name, for messages). */
function brandPreset<T extends { baseUrl: string }>(preset: string, options: T): Readonly<T> {
  const mark: PresetMark = Object.freeze({ preset, baseUrl: options.baseUrl })
  return Object.freeze({ ...options, [PRESET]: mark })
}

/**
 * Refuses a `baseUrl` beside a preset's options that is not the preset's: the adapters would send
 * tokens there while the preset's token requests (with the secret) still go to the preset's origin.
 */
function checkPresetBaseUrl(options: object, baseUrl: string | undefined): void {
  const mark = (options as { [PRESET]?: PresetMark })[PRESET]
  if (mark === undefined || baseUrl === undefined || baseUrl === mark.baseUrl) return
  fail(
    'baseUrl',
    `"${new URL(baseUrl).origin}" is not the origin ${mark.preset}() was made for ("${mark.baseUrl}"): its token requests, ` +
      `with the secret, would still go there while tokens go to the new one. Pass \`baseUrl\` to the preset instead: ` +
      `${mark.preset}({ …, baseUrl }).`,
  )
}

/** Every option `createTokenManager` knows; anything else is a typo worth an error, not silence. */
const KNOWN_OPTIONS = new Set([
  'appid', 'secret', 'baseUrl', 'fetch', 'source', 'dangerouslyAllowBrowser', 'refreshWindow', 'expiryMargin',
  'minRefreshInterval', 'timeout', 'retry', 'refusalBackoff', 'cooldown', 'store', 'storeKey', 'storeTimeout', 'now',
  'random', 'onEvent', 'waitUntil', 'protocol',
])
const KNOWN_RETRY_OPTIONS = new Set(['attempts', 'baseDelay', 'maxDelay'])
const KNOWN_BACKOFF_OPTIONS = new Set(['baseDelay', 'maxDelay'])

/** Rejects keys that are not options, naming the closest known one (`baseURL` → `baseUrl`). */
function rejectUnknown(given: object, known: ReadonlySet<string>, prefix: string): void {
  for (const key of Object.keys(given)) {
    if (known.has(key)) continue
    const near = [...known].find((name) => name.toLowerCase() === key.toLowerCase())
    fail(`${prefix}${key}`, `is not an option${near === undefined ? '' : `; did you mean \`${prefix}${near}\`?`}`)
  }
}

/** A nested option object (`retry`, `refusalBackoff`): an object with known keys only. */
function group(option: string, value: unknown, known: ReadonlySet<string>): Partial<Record<string, unknown>> {
  const given = value ?? {}
  if (typeof given !== 'object' || given === null) fail(option, `expected an object, got ${describe(given)}.`)
  rejectUnknown(given, known, `${option}.`)
  return given as Partial<Record<string, unknown>>
}

/** A page in a browser (or a test double of one): `window` and `document` exist and `process` does not. */
function isBrowserLike(): boolean {
  const scope = globalThis as { window?: unknown; document?: unknown; process?: unknown }
  return typeof scope.window === 'object' && typeof scope.document === 'object' && scope.process === undefined
}

/** AnyWeb's own options (`createTokenManager({ appid, secret })` and the `anyweb` preset), checked. */
function resolveAnyWeb(input: Partial<Record<'appid' | 'secret' | 'baseUrl' | 'fetch' | 'dangerouslyAllowBrowser', unknown>>): ResolvedAnyWeb {
  const appid = credential('appid', input.appid)
  const secret = credential('secret', input.secret)
  refuseBrowser(input.dangerouslyAllowBrowser)
  return { appid, secret, baseUrl: resolveBaseUrl(input.baseUrl ?? DEFAULT_BASE_URL), fetch: resolveFetch(input.fetch) }
}

/** Validates and normalises the options of `createTokenManager` once; throws {@link ConfigurationError}. */
function resolveOptions(options: TokenManagerOptions): Resolved {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigurationError('options', 'createTokenManager() needs an options object: { appid, secret } or { source }.')
  }
  const input = options as Partial<
    Record<keyof TokenManagerOptions | 'appid' | 'secret' | 'fetch' | 'source' | 'dangerouslyAllowBrowser' | 'protocol', unknown>
  >
  rejectUnknown(options, KNOWN_OPTIONS, '')
  const hasSource = input.source !== undefined
  if (hasSource && (input.appid !== undefined || input.secret !== undefined)) {
    fail('source', 'pass either { appid, secret } for AnyWeb or { source } for another provider, not both.')
  }
  if (!hasSource && input.protocol !== undefined) fail('protocol', 'goes with a custom `source` (presets set both); { appid, secret } is AnyWeb.')
  const protocol = resolveProtocol(input.protocol)

  let anyweb: ResolvedAnyWeb | undefined
  let source: TokenSource | undefined
  let baseUrl: string | undefined
  let tokenUrl: string | undefined
  if (hasSource) {
    source = fn<TokenSource>('source', input.source, undefined as never)
    if (input.fetch !== undefined) fail('fetch', 'is only used for AnyWeb token requests; a custom `source` does its own fetching.')
    baseUrl = input.baseUrl === undefined ? undefined : resolveBaseUrl(input.baseUrl)
    checkPresetBaseUrl(options, baseUrl)
    if (baseUrl !== undefined && input.protocol !== undefined) tokenUrl = baseUrl + protocol.tokenPath
  } else {
    anyweb = resolveAnyWeb(input)
    baseUrl = anyweb.baseUrl
    tokenUrl = baseUrl + TOKEN_PATH
  }

  const retry = group('retry', input.retry, KNOWN_RETRY_OPTIONS)
  const refusal = group('refusalBackoff', input.refusalBackoff, KNOWN_BACKOFF_OPTIONS)
  const onEvent = fn<((event: TokenManagerEvent) => void) | undefined>('onEvent', input.onEvent, undefined)
  const storeKey = input.storeKey ?? (anyweb ? `anyweb:${anyweb.baseUrl}:${anyweb.appid}` : 'default')
  if (typeof storeKey !== 'string' || storeKey === '') fail('storeKey', 'expected a non-empty string.')

  return {
    source,
    anyweb,
    baseUrl,
    tokenUrl,
    protocol,
    refreshWindow: duration('refreshWindow', input.refreshWindow, 300_000),
    expiryMargin: duration('expiryMargin', input.expiryMargin, 10_000),
    minRefreshInterval: duration('minRefreshInterval', input.minRefreshInterval, 1_000),
    timeout: duration('timeout', input.timeout, 10_000, 1),
    cooldown: duration('cooldown', input.cooldown, 30_000),
    retry: {
      attempts: positiveInteger('retry.attempts', retry.attempts, 3),
      baseDelay: duration('retry.baseDelay', retry.baseDelay, 250),
      maxDelay: duration('retry.maxDelay', retry.maxDelay, 60_000),
    },
    refusalBackoff: {
      baseDelay: duration('refusalBackoff.baseDelay', refusal.baseDelay, 1_000),
      maxDelay: duration('refusalBackoff.maxDelay', refusal.maxDelay, 60_000),
    },
    store: resolveStore(input.store),
    storeKey,
    storeTimeout: duration('storeTimeout', input.storeTimeout, 2_000, 1),
    now: fn('now', input.now, () => Date.now()),
    random: fn('random', input.random, Math.random),
    waitUntil: fn('waitUntil', input.waitUntil, undefined),
    emit: onEvent
      ? (event) => {
          try {
            onEvent(event)
          } catch {
            // A faulty listener must not break token delivery.
          }
        }
      : () => {},
  }
}

export { brandPreset, credential, DEFAULT_BASE_URL, duration, isLoopback, refuseBrowser, rejectUnknown, resolveAnyWeb, resolveBaseUrl, resolveFetch, resolveOptions, TOKEN_PATH }
export type { Resolved, ResolvedAnyWeb, ResolvedOptions }
