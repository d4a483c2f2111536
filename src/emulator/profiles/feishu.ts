import { decodeServiceToken } from '../jwt.js'
import { bodyFields, checkCredentials, json, numericCode } from '../profile.js'
import type { Profile } from '../profile.js'

const TENANT_PATH = '/open-apis/auth/v3/tenant_access_token/internal'
const APP_PATH = '/open-apis/auth/v3/app_access_token/internal'
/** App tokens are kept apart from tenant tokens of the same app. */
const APP_PREFIX = 'app:'

/**
 * Feishu `POST /open-apis/auth/v3/{tenant,app}_access_token/internal` `{ app_id, app_secret }`: the same
 * token while 30 minutes or more are left, then a new one, both valid. `GET /open-apis/tenant/v2/tenant/query`
 * takes `Authorization: Bearer` and refuses with HTTP 400 and code 99991661 (missing), 99991663 (tenant
 * token) or 99991664 (app token).
 */
function feishuProfile(): Profile {
  return {
    tokenPaths: [TENANT_PATH, APP_PATH],
    apiPath: '/open-apis/tenant/v2/tenant/query',
    methods: { token: ['POST'], api: ['GET', 'POST'] },
    reissue: { policy: 'reuse', renewWithinMs: 30 * 60_000 },
    refusalCodes: ['99991661', '99991663', '99991664'],
    async token(request, url, context) {
      const { app_id: appId, app_secret: appSecret } = await bodyFields(request)
      const check = checkCredentials(context.apps, appId, appSecret)
      if (check === 'wrong-secret') return json({ code: 10014, msg: 'app secret invalid' }, 400)
      if (check !== 'ok') return json({ code: 10003, msg: 'invalid param' }, 400)
      const app = url.pathname === APP_PATH
      const { token, expiresIn } = await context.tokens.issue(`${app ? APP_PREFIX : ''}${appId as string}`)
      return json({ code: 0, msg: 'ok', [app ? 'app_access_token' : 'tenant_access_token']: token, expire: expiresIn })
    },
    async api(request, _url, context) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '')?.[1]
      const state = await context.tokens.check(token)
      if (state === 'ok') return json({ code: 0, msg: 'success', data: { tenant: { name: 'Emulated tenant' } } })
      context.refused()
      if (state === 'missing') return json({ code: 99991661, msg: 'Missing access token for authorization.' }, 400)
      const app = decodeServiceToken(token!)?.appid.startsWith(APP_PREFIX) === true
      return json({ code: app ? 99991664 : 99991663, msg: 'Invalid access token for authorization.' }, 400)
    },
    apiError: (code, message, status) => json({ code: numericCode(code), msg: message }, status ?? 400),
  }
}

export { feishuProfile }
