import { bodyFields, checkCredentials, json } from '../profile.js'
import type { Profile } from '../profile.js'

function error(code: string, message: string, status = 400): Response {
  return json({ code, message, requestid: crypto.randomUUID() }, status)
}

/**
 * DingTalk `POST /v1.0/oauth2/accessToken` `{ appKey, appSecret }`: the same token while valid, its
 * expiry extended by each request. `POST /v1.0/robot/oToMessages/batchSend` takes the token in
 * `x-acs-dingtalk-access-token` and refuses with HTTP 401 and code `InvalidAuthentication`.
 */
function dingtalkProfile(): Profile {
  return {
    tokenPaths: ['/v1.0/oauth2/accessToken'],
    apiPath: '/v1.0/robot/oToMessages/batchSend',
    methods: { token: ['POST'], api: ['POST'] },
    reissue: { policy: 'extend' },
    refusalCodes: ['InvalidAuthentication'],
    async token(request, _url, context) {
      const { appKey, appSecret } = await bodyFields(request)
      const check = checkCredentials(context.apps, appKey, appSecret)
      if (check === 'missing-id') return error('MissingappKey', 'appKey is mandatory for this action.')
      if (check === 'missing-secret') return error('MissingappSecret', 'appSecret is mandatory for this action.')
      if (check !== 'ok') return error('invalidClientIdOrSecret', 'invalid clientId or clientSecret')
      const { token, expiresIn } = await context.tokens.issue(appKey as string)
      return json({ accessToken: token, expireIn: expiresIn })
    },
    async api(request, _url, context) {
      const state = await context.tokens.check(request.headers.get('x-acs-dingtalk-access-token') ?? undefined)
      if (state === 'ok') return json({ processQueryKey: crypto.randomUUID() })
      context.refused()
      return error('InvalidAuthentication', 'invalid access_token', 401)
    },
    apiError: (code, message, status) => error(code, message, status ?? 400),
  }
}

export { dingtalkProfile }
