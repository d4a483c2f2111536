/** The presets under test, each with its emulator profile, its API call and what a good answer looks like. */
import { anyweb, dingtalk, feishu, wechat, wechatStable, wecom } from '../../src/presets/index.js'
import type { PresetOptions } from '../../src/presets/index.js'
import type { EmulatorProfile } from '../../src/emulator/index.js'
import type { Call } from '../helpers/adapter-drivers.js'

/** A secret with characters that URL-, form- and JSON-encoding all change: redaction must catch each form. */
const SECRET = 'S3cr3t/+&=%"? ü-zz9'
const ID = 'app-7f3a'

interface PlatformCase {
  preset: string
  profile: EmulatorProfile
  make(secret: string, baseUrl: string, fetch?: typeof globalThis.fetch): PresetOptions
  /** One API call that needs the token. */
  call(baseUrl: string): Call
  /** Whether an answer is the API's success. */
  ok(json: unknown): boolean
  /** The typed error code of a wrong secret. */
  credentialsCode: string
  /** Token-endpoint codes (as the profile's `api-error` fault takes them) → the error code they map to. */
  codes: Record<string, string>
}

const has = (json: unknown, key: string, value?: unknown): boolean =>
  typeof json === 'object' && json !== null && key in json && (value === undefined || (json as Record<string, unknown>)[key] === value)

const CREDENTIALS = 'ERR_PLATFORM_CREDENTIALS'
const QUOTA = 'ERR_PLATFORM_QUOTA'
const API = 'ERR_PLATFORM_API'

const WECHAT_CODES = {
  '-1': API,
  '40001': CREDENTIALS,
  '40013': CREDENTIALS,
  '40125': CREDENTIALS,
  '41002': CREDENTIALS,
  '41004': CREDENTIALS,
  '40164': CREDENTIALS,
  '40243': CREDENTIALS,
  '89501': CREDENTIALS,
  '89503': CREDENTIALS,
  '89506': CREDENTIALS,
  '89507': CREDENTIALS,
  '45009': QUOTA,
  '45011': API,
  '99999': API,
}

const platforms: PlatformCase[] = [
  {
    preset: 'anyweb',
    profile: 'anyweb',
    make: (secret, baseUrl, fetch) => anyweb({ appid: ID, secret, baseUrl, ...(fetch ? { fetch } : {}) }),
    call: (baseUrl) => ({ url: `${baseUrl}/service/checkAddresses`, body: JSON.stringify({ group: {} }), headers: { 'content-type': 'application/json' } }),
    ok: (json) => has(json, 'code', 1000),
    credentialsCode: 'ERR_ANYWEB_CREDENTIALS',
    codes: { A108P002: 'ERR_ANYWEB_CREDENTIALS', A108P003: 'ERR_ANYWEB_CREDENTIALS', A108P004: 'ERR_ANYWEB_CREDENTIALS', A108P005: 'ERR_ANYWEB_CREDENTIALS', A108B001: 'ERR_ANYWEB_API' },
  },
  {
    preset: 'wechat',
    profile: 'wechat',
    make: (secret, baseUrl, fetch) => wechat({ appid: ID, secret, baseUrl, ...(fetch ? { fetch } : {}) }),
    call: (baseUrl) => ({ url: `${baseUrl}/cgi-bin/get_api_domain_ip`, method: 'GET' }),
    ok: (json) => has(json, 'ip_list'),
    credentialsCode: CREDENTIALS,
    codes: WECHAT_CODES,
  },
  {
    preset: 'wechatStable',
    profile: 'wechatStable',
    make: (secret, baseUrl, fetch) => wechatStable({ appid: ID, secret, baseUrl, ...(fetch ? { fetch } : {}) }),
    call: (baseUrl) => ({ url: `${baseUrl}/cgi-bin/get_api_domain_ip`, method: 'GET' }),
    ok: (json) => has(json, 'ip_list'),
    credentialsCode: CREDENTIALS,
    codes: WECHAT_CODES,
  },
  {
    preset: 'wecom',
    profile: 'wecom',
    make: (secret, baseUrl, fetch) => wecom({ corpid: ID, corpsecret: secret, baseUrl, ...(fetch ? { fetch } : {}) }),
    call: (baseUrl) => ({ url: `${baseUrl}/cgi-bin/get_api_domain_ip`, method: 'GET' }),
    ok: (json) => has(json, 'errcode', 0),
    credentialsCode: CREDENTIALS,
    codes: { '-1': API, '40001': CREDENTIALS, '40013': CREDENTIALS, '40091': CREDENTIALS, '41002': CREDENTIALS, '41004': CREDENTIALS, '60020': CREDENTIALS, '45009': API, '45033': API },
  },
  {
    preset: 'feishu',
    profile: 'feishu',
    make: (secret, baseUrl, fetch) => feishu({ appId: ID, appSecret: secret, baseUrl, ...(fetch ? { fetch } : {}) }),
    call: (baseUrl) => ({ url: `${baseUrl}/open-apis/tenant/v2/tenant/query`, method: 'GET' }),
    ok: (json) => has(json, 'code', 0),
    credentialsCode: CREDENTIALS,
    codes: { '10003': CREDENTIALS, '10014': CREDENTIALS, '99991400': API },
  },
  {
    preset: 'feishu (app)',
    profile: 'feishu',
    make: (secret, baseUrl, fetch) => feishu({ appId: ID, appSecret: secret, kind: 'app', baseUrl, ...(fetch ? { fetch } : {}) }),
    call: (baseUrl) => ({ url: `${baseUrl}/open-apis/tenant/v2/tenant/query`, method: 'GET' }),
    ok: (json) => has(json, 'code', 0),
    credentialsCode: CREDENTIALS,
    codes: { '10003': CREDENTIALS, '10014': CREDENTIALS },
  },
  {
    preset: 'dingtalk',
    profile: 'dingtalk',
    make: (secret, baseUrl, fetch) => dingtalk({ appKey: ID, appSecret: secret, baseUrl, ...(fetch ? { fetch } : {}) }),
    call: (baseUrl) => ({ url: `${baseUrl}/v1.0/robot/oToMessages/batchSend`, body: '{"msgParam":"{}"}', headers: { 'content-type': 'application/json' } }),
    ok: (json) => has(json, 'processQueryKey'),
    credentialsCode: CREDENTIALS,
    codes: { invalidClientIdOrSecret: CREDENTIALS, MissingappKey: CREDENTIALS, MissingappSecret: CREDENTIALS, 'Forbidden.AccessDenied.IpNotInWhiteList': CREDENTIALS, 'Throttling.Api': API },
  },
]

/** Every form in which `secret` could show: raw, URL- and form-encoded, JSON-escaped. */
function secretForms(secret: string): string[] {
  return [secret, encodeURIComponent(secret), new URLSearchParams({ v: secret }).toString().slice(2), JSON.stringify(secret).slice(1, -1)]
}

export { ID, platforms, SECRET, secretForms }
export type { PlatformCase }
