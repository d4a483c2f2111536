import { isRecord } from '../../util.js'
import { checkCredentials, json, readFields } from '../profile.js'
import type { Profile, ProfileContext } from '../profile.js'

const AUTH_ERROR = 'A108P001'

function envelope(context: ProfileContext, code: string, message: string): Response {
  if (code === AUTH_ERROR) context.refused()
  return json({ code, message, data: null }, context.errorStatus)
}

function bearer(request: Request): string | undefined {
  return /^Bearer\s+(\S+)\s*$/i.exec(request.headers.get('authorization') ?? '')?.[1]
}

const CREDENTIAL_ANSWERS = {
  'missing-id': ['A108P002', 'appid is empty.'],
  'unknown-id': ['A108P005', 'appid is invalid.'],
  'missing-secret': ['A108P003', 'secret is empty.'],
  'wrong-secret': ['A108P004', 'secret is invalid.'],
} as const

/**
 * AnyWeb: `POST /service/serviceToken` issues HS256 JWTs; `POST /service/checkAddresses` checks the
 * token where `tokenFrom` says (the body's `serviceToken` by default), then `group`.
 */
function anywebProfile(tokenFrom: readonly ('body' | 'header' | 'query')[]): Profile {
  return {
    tokenPaths: ['/service/serviceToken'],
    apiPath: '/service/checkAddresses',
    methods: { token: ['POST'], api: ['POST'] },
    reissue: { policy: 'stateless' },
    refusalCodes: [AUTH_ERROR],
    async token(request, _url, context) {
      const body = await readFields(request)
      if (!body.ok) return envelope(context, 'A108P002', `appid is empty: ${body.reason}.`)
      const { appid, secret } = body.fields
      const check = checkCredentials(context.apps, appid, secret)
      if (check !== 'ok') return envelope(context, CREDENTIAL_ANSWERS[check][0], CREDENTIAL_ANSWERS[check][1])
      const { token, expiresIn } = await context.tokens.issue(appid as string)
      return json({ code: 1000, message: 'success', data: { serviceToken: token, expiresIn } })
    },
    async api(request, url, context) {
      const body = await readFields(request)
      if (!body.ok) return envelope(context, 'A108P007', `group is malformed: ${body.reason}.`)
      let token: unknown
      for (const location of tokenFrom) {
        token =
          location === 'body' ? body.fields.serviceToken : location === 'header' ? bearer(request) : (url.searchParams.get('serviceToken') ?? undefined)
        if (typeof token === 'string' && token !== '') break
      }
      if ((await context.tokens.check(token)) !== 'ok') return envelope(context, AUTH_ERROR, 'serviceToken wrong')

      let { group } = body.fields
      // Form bodies can only carry the group as JSON text; in a JSON body a string is simply malformed.
      if (body.form && typeof group === 'string') {
        try {
          group = JSON.parse(group)
        } catch {
          return envelope(context, 'A108P007', 'group is malformed: not valid JSON.')
        }
      }
      if (!isRecord(group)) return envelope(context, 'A108P007', 'group is malformed: expected an object of unionid → addresses.')
      const result: Record<string, string[]> = {}
      for (const [unionid, addresses] of Object.entries(group)) {
        if (!Array.isArray(addresses) || !addresses.every((address) => typeof address === 'string')) {
          return envelope(context, 'A108P007', `group is malformed: the addresses of "${unionid}" are not an array of strings.`)
        }
        const owned = context.users.get(unionid)
        // defineProperty, not assignment: a "__proto__" unionid must stay an ordinary key.
        Object.defineProperty(result, unionid, {
          value: addresses.filter((address: string) => owned === undefined || !owned.has(address)),
          enumerable: true,
          writable: true,
          configurable: true,
        })
      }
      return json({ code: 1000, message: 'success', data: result })
    },
    apiError: (code, message, status, context) => json({ code, message, data: null }, status ?? context.errorStatus),
  }
}

export { anywebProfile }
