// A Cloudflare Worker using the package as docs/runtimes.md recommends: one manager per isolate,
// made on the first request from the environment's bindings (the secret never in the source).
// test/workers.test.ts bundles it with esbuild from the built package and runs it in workerd (miniflare);
// each path is one scenario, answered as JSON so the test can assert on it.
import { createTokenManager, ErrorCode, isServiceTokenError } from 'anyweb-service-token'
import { withServiceToken } from 'anyweb-service-token/fetch'
import { createAnyWebClient } from 'anyweb-service-token/openapi-fetch'
import { waitUntil } from 'cloudflare:workers'

const GROUP = { u1: ['cfx:mine', 'cfx:other'] }

/** @type {{ manager: import('anyweb-service-token').TokenManager, fetchWithToken: typeof fetch } | undefined} */
let shared

function fromEnv(env) {
  if (shared === undefined) {
    const manager = createTokenManager({ appid: env.ANYWEB_APPID, secret: env.ANYWEB_SECRET, baseUrl: env.ANYWEB_BASE_URL })
    shared = { manager, fetchWithToken: withServiceToken(fetch, manager, { origins: [env.ANYWEB_BASE_URL, env.REDIRECTOR_URL] }) }
  }
  return shared
}

/** A manager of its own on an emulator issuing 4-second tokens: it refreshes ahead 2 to 2.5 s in. */
let shortLived

const checkAddresses = (fetchWithToken, url, init = {}) =>
  fetchWithToken(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group: GROUP }), ...init })

const scenarios = {
  async token(env) {
    const { manager } = fromEnv(env)
    return { token: await manager.getToken() }
  },

  async 'short-lived'(env) {
    shortLived ??= createTokenManager({ appid: env.ANYWEB_APPID, secret: env.ANYWEB_SECRET, baseUrl: env.SHORT_BASE_URL, waitUntil })
    return { token: await shortLived.getToken() }
  },

  async check(env) {
    const { fetchWithToken } = fromEnv(env)
    const response = await checkAddresses(fetchWithToken, `${env.ANYWEB_BASE_URL}/service/checkAddresses`)
    return { status: response.status, body: await response.json() }
  },

  async 'wrong-secret'(env) {
    const manager = createTokenManager({ appid: env.ANYWEB_APPID, secret: 'not-the-secret', baseUrl: env.ANYWEB_BASE_URL })
    try {
      await manager.getToken()
      return { thrown: false }
    } catch (error) {
      return {
        thrown: true,
        credentials: isServiceTokenError(error, ErrorCode.Credentials),
        code: error.code,
        name: error.name,
        secretShown: `${error.message} ${JSON.stringify(error)}`.includes('not-the-secret'),
      }
    } finally {
      manager.close()
    }
  },

  async client(env) {
    const client = createAnyWebClient({ appid: env.ANYWEB_APPID, secret: env.ANYWEB_SECRET, baseUrl: env.ANYWEB_BASE_URL })
    try {
      const { data, error, response } = await client.POST('/service/checkAddresses', { body: { group: GROUP } })
      return { status: response.status, data, error }
    } finally {
      client.manager.close()
    }
  },

  // What workerd's fetch answers to `redirect: 'manual'`, without the library.
  async 'raw-manual'(env) {
    const response = await fetch(`${env.REDIRECTOR_URL}/to-emulator`, { method: 'POST', body: '{}', redirect: 'manual' })
    return { status: response.status, type: response.type, location: response.headers.get('location'), redirected: response.redirected }
  },

  // A redirect within the allowed origins: followed by the library, the token placed again.
  async 'redirect-allowed'(env) {
    const { fetchWithToken } = fromEnv(env)
    const response = await checkAddresses(fetchWithToken, `${env.REDIRECTOR_URL}/to-emulator`)
    return { status: response.status, redirected: response.redirected, url: response.url, body: await response.json() }
  },

  // A redirect to an origin the token may not go to: handed back unfollowed.
  async 'redirect-elsewhere'(env) {
    const { fetchWithToken } = fromEnv(env)
    const response = await checkAddresses(fetchWithToken, `${env.REDIRECTOR_URL}/elsewhere`)
    return { status: response.status, location: response.headers.get('location') }
  },

  // The caller's own `redirect: 'manual'` is kept: the 3xx comes back as workerd gives it.
  async 'redirect-manual'(env) {
    const { fetchWithToken } = fromEnv(env)
    const response = await checkAddresses(fetchWithToken, `${env.REDIRECTOR_URL}/to-emulator`, { redirect: 'manual' })
    return { status: response.status, location: response.headers.get('location') }
  },
}

export default {
  async fetch(request, env) {
    const scenario = scenarios[new URL(request.url).pathname.slice(1)]
    if (scenario === undefined) return Response.json({ error: 'no such scenario' }, { status: 404 })
    try {
      return Response.json(await scenario(env))
    } catch (error) {
      return Response.json({ error: String(error), code: error?.code, stack: error?.stack }, { status: 500 })
    }
  },
}
