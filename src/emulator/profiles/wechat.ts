import { bodyFields, checkCredentials, json, numericCode } from '../profile.js'
import type { CredentialCheck, Profile, ProfileContext } from '../profile.js'
import type { TokenState } from '../tokens.js'

/** WeChat's (and WeCom's) error answer: always HTTP 200 unless a fault says otherwise. */
function errcode(code: number, errmsg: string, status = 200): Response {
  return json({ errcode: code, errmsg }, status)
}

/** Five minutes: how long WeChat keeps a token valid after a newer one was issued. */
const OVERLAP_MS = 300_000
const REFUSALS = ['40001', '40014', '42001']

/** The answer of a WeChat API to a token that is not `ok`. */
function wechatRefusal(state: Exclude<TokenState, 'ok'>, context: ProfileContext): Response {
  context.refused()
  if (state === 'missing') return errcode(41001, 'access_token missing')
  if (state === 'expired') return errcode(42001, 'access_token expired')
  if (state === 'malformed') return errcode(40014, 'invalid access_token')
  return errcode(40001, 'invalid credential, access_token is invalid or not latest')
}

/** `/cgi-bin/get_api_domain_ip`: the token in `?access_token=`, as every WeChat API takes it. */
async function wechatApi(_request: Request, url: URL, context: ProfileContext): Promise<Response> {
  const state = await context.tokens.check(url.searchParams.get('access_token') ?? undefined)
  return state === 'ok' ? json({ ip_list: ['127.0.0.1'] }) : wechatRefusal(state, context)
}

function credentialAnswer(check: Exclude<CredentialCheck, 'ok'>, wrongSecret: readonly [number, string]): Response {
  if (check === 'missing-id') return errcode(41002, 'appid missing')
  if (check === 'unknown-id') return errcode(40013, 'invalid appid')
  if (check === 'missing-secret') return errcode(41004, 'appsecret missing')
  return errcode(...wrongSecret)
}

const shared = {
  apiPath: '/cgi-bin/get_api_domain_ip',
  refusalCodes: REFUSALS,
  api: wechatApi,
  apiError: (code: string, message: string, status: number | undefined) => json({ errcode: numericCode(code), errmsg: message }, status ?? 200),
}

/**
 * WeChat `GET /cgi-bin/token?grant_type=client_credential&appid&secret`: every token request issues a
 * new token, and the previous one stops working 5 minutes later (the `reissue` option changes the overlap).
 */
function wechatProfile(): Profile {
  return {
    ...shared,
    tokenPaths: ['/cgi-bin/token'],
    methods: { token: ['GET'], api: ['GET', 'POST'] },
    reissue: { policy: 'invalidate-previous', graceMs: OVERLAP_MS },
    async token(_request, url, context) {
      const query = url.searchParams
      if (query.get('grant_type') !== 'client_credential') return errcode(40002, 'invalid grant_type')
      const appid = query.get('appid') ?? undefined
      const check = checkCredentials(context.apps, appid, query.get('secret') ?? undefined)
      if (check !== 'ok') return credentialAnswer(check, [40001, 'invalid credential, access_token is invalid or not latest'])
      const { token, expiresIn } = await context.tokens.issue(appid!)
      return json({ access_token: token, expires_in: expiresIn })
    },
  }
}

const FORCE_INTERVAL_MS = 30_000
const FORCES_PER_DAY = 20
/** WeChat counts days in China time (UTC+8). */
const CHINA_OFFSET_MS = 8 * 3600_000

/**
 * WeChat `POST /cgi-bin/stable_token` `{ grant_type, appid, secret, force_refresh }`: the same token until
 * 5 minutes before it expires; `force_refresh: true` issues a new one and ends the previous one at once,
 * at most 20 times a day and 30 s apart (45009, 45011).
 */
function wechatStableProfile(): Profile {
  const forces = new Map<string, { day: number; count: number; lastAt: number }>()
  return {
    ...shared,
    tokenPaths: ['/cgi-bin/stable_token'],
    methods: { token: ['POST'], api: ['GET', 'POST'] },
    reissue: { policy: 'reuse', renewWithinMs: OVERLAP_MS },
    async token(request, _url, context) {
      const fields = await bodyFields(request)
      if (fields.grant_type !== 'client_credential') return errcode(40002, 'invalid grant_type')
      const check = checkCredentials(context.apps, fields.appid, fields.secret)
      if (check !== 'ok') return credentialAnswer(check, [40125, 'invalid appsecret'])
      const appid = fields.appid as string
      const force = fields.force_refresh === true
      if (force) {
        const at = context.now()
        const day = Math.floor((at + CHINA_OFFSET_MS) / 86_400_000)
        const used = forces.get(appid)
        const count = used?.day === day ? used.count : 0
        if (count >= FORCES_PER_DAY) return errcode(45009, 'reach max api daily quota limit')
        if (used !== undefined && at - used.lastAt < FORCE_INTERVAL_MS) return errcode(45011, 'api minute-quota reach limit')
        forces.set(appid, { day, count: count + 1, lastAt: at })
      }
      const { token, expiresIn } = await context.tokens.issue(appid, force)
      return json({ access_token: token, expires_in: expiresIn })
    },
  }
}

/**
 * WeCom `GET /cgi-bin/gettoken?corpid&corpsecret`: one token per app, the same until it expires;
 * `/cgi-bin/get_api_domain_ip` refuses a bad token with 40014 and an expired one with 42001.
 */
function wecomProfile(): Profile {
  return {
    ...shared,
    refusalCodes: ['40014', '42001'],
    tokenPaths: ['/cgi-bin/gettoken'],
    methods: { token: ['GET'], api: ['GET', 'POST'] },
    reissue: { policy: 'reuse', renewWithinMs: 0 },
    async token(_request, url, context) {
      const corpid = url.searchParams.get('corpid') ?? undefined
      const check = checkCredentials(context.apps, corpid, url.searchParams.get('corpsecret') ?? undefined)
      if (check === 'missing-id') return errcode(41002, 'corpid missing')
      if (check === 'unknown-id') return errcode(40013, 'invalid corpid')
      if (check === 'missing-secret') return errcode(41004, 'corpsecret missing')
      if (check === 'wrong-secret') return errcode(40001, 'invalid credential')
      const { token, expiresIn } = await context.tokens.issue(corpid!)
      return json({ errcode: 0, errmsg: 'ok', access_token: token, expires_in: expiresIn })
    },
    async api(_request, url, context) {
      const state = await context.tokens.check(url.searchParams.get('access_token') ?? undefined)
      if (state === 'ok') return json({ errcode: 0, errmsg: 'ok', ip_list: ['127.0.0.1'] })
      context.refused()
      if (state === 'missing') return errcode(41001, 'access_token missing')
      return state === 'expired' ? errcode(42001, 'access_token expired') : errcode(40014, 'invalid access_token')
    },
  }
}

export { wechatProfile, wechatStableProfile, wecomProfile }
