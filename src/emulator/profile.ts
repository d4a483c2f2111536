/**
 * What a platform profile of the emulator is: its token and API endpoints, how it answers them, and
 * the helpers every profile shares (reading a request's fields, checking an app's credentials).
 * @packageDocumentation
 */
import { isRecord } from '../util.js'
import type { ResolvedReissue, TokenRegistry } from './tokens.js'

/**
 * The platform an emulator plays: AnyWeb (the default) or one of the presets' platforms.
 *
 * @example
 * ```ts
 * const profile: EmulatorProfile = 'wechat'
 * ```
 */
type EmulatorProfile = 'anyweb' | 'wechat' | 'wechatStable' | 'wecom' | 'feishu' | 'dingtalk'

/** What a profile's handlers may use of the emulator. */
interface ProfileContext {
  readonly apps: ReadonlyMap<string, string>
  readonly users: ReadonlyMap<string, ReadonlySet<string>>
  readonly tokens: TokenRegistry
  readonly now: () => number
  /** HTTP status of AnyWeb's error envelopes (the `errorStatus` option). */
  readonly errorStatus: number
  /** Counts an answer that refused a token. */
  refused(): void
}

/** One platform as the emulator serves it. */
interface Profile {
  /** Paths of the token endpoint (Feishu has two: tenant and app tokens). */
  readonly tokenPaths: readonly string[]
  /** Path of the one API endpoint, which checks the token where the platform expects it. */
  readonly apiPath: string
  /** Methods each endpoint accepts; others answer 405. */
  readonly methods: { readonly token: readonly string[]; readonly api: readonly string[] }
  /** How a repeated token request is answered unless the `reissue` option says otherwise. */
  readonly reissue: ResolvedReissue
  /** The codes that mean "token refused", counted as `authFailures` when an `api-error` fault serves one. */
  readonly refusalCodes: readonly string[]
  token(request: Request, url: URL, context: ProfileContext): Promise<Response>
  api(request: Request, url: URL, context: ProfileContext): Promise<Response>
  /** The answer to an `api-error` fault with `code`, in the platform's error shape. */
  apiError(code: string, message: string, status: number | undefined, context: ProfileContext): Response
}

type Fields = Record<string, unknown>
type BodyResult = { ok: true; fields: Fields; form: boolean } | { ok: false; reason: string }

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' }

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...headers } })
}

/** A code given as digits is a number on platforms whose codes are numbers. */
function numericCode(code: string): number | string {
  return /^-?\d{1,15}$/.test(code) ? Number(code) : code
}

/** Whether `a` equals `b`, in time that does not depend on where they differ. */
function safeEqual(a: string, b: string): boolean {
  let difference = a.length ^ b.length
  for (let i = 0; i < b.length; i++) difference |= (a.charCodeAt(i) || 0) ^ b.charCodeAt(i)
  return difference === 0
}

function isBlank(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === 'string' && value.trim() === '')
}

/** What is wrong with an app's id and secret, in the order platforms check them; `ok` when nothing is. */
type CredentialCheck = 'ok' | 'missing-id' | 'unknown-id' | 'missing-secret' | 'wrong-secret'

function checkCredentials(apps: ReadonlyMap<string, string>, id: unknown, secret: unknown): CredentialCheck {
  if (isBlank(id)) return 'missing-id'
  const expected = typeof id === 'string' ? apps.get(id) : undefined
  if (expected === undefined) return 'unknown-id'
  if (isBlank(secret)) return 'missing-secret'
  return typeof secret === 'string' && safeEqual(secret, expected) ? 'ok' : 'wrong-secret'
}

/** Reads JSON, urlencoded or multipart bodies into fields (AnyWeb's samples send multipart). */
async function readFields(request: Request): Promise<BodyResult> {
  const type = (request.headers.get('content-type') ?? '').toLowerCase()
  try {
    if (type.startsWith('multipart/form-data') || type.startsWith('application/x-www-form-urlencoded')) {
      const form = await request.formData()
      const fields: Fields = {}
      for (const [name, value] of form) {
        if (typeof value === 'string' && !(name in fields)) fields[name] = value
      }
      return { ok: true, fields, form: true }
    }
    // Any other type (or none) is read as JSON: clients often forget the header.
    const text = await request.text()
    if (text.trim() === '') return { ok: true, fields: {}, form: false }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch {
      return { ok: false, reason: 'the request body is not valid JSON' }
    }
    if (!isRecord(parsed)) return { ok: false, reason: 'the request body is not a JSON object' }
    return { ok: true, fields: parsed, form: false }
  } catch {
    if (request.signal.aborted) throw request.signal.reason
    return { ok: false, reason: 'the request body could not be read as a form' }
  }
}

/** The fields of a JSON (or form) body; none when it cannot be read. */
async function bodyFields(request: Request): Promise<Fields> {
  const body = await readFields(request)
  return body.ok ? body.fields : {}
}

export { bodyFields, checkCredentials, json, numericCode, readFields }
export type { CredentialCheck, EmulatorProfile, Fields, Profile, ProfileContext }
