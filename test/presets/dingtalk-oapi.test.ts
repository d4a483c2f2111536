import { afterEach, describe, expect, it } from 'vitest'
import { withServiceToken } from '../../adapters/fetch.js'
import { createEmulator } from '../../src/emulator/index.js'
import { createTokenManager } from '../../src/index.js'
import { authErrorRule, dingtalk } from '../../src/presets/index.js'
import { json, startServer } from '../helpers/http-server.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('dingtalk: an older API on another origin, with the token in ?access_token=', () => {
  it('the preset manager serves it with the adapter options placement, origins and isAuthError (docs/presets.md)', async () => {
    const emu = createEmulator({ profile: 'dingtalk', apps: { dingapp: 'ding-secret' } })
    const api = await emu.listen({ hostname: '127.0.0.1', port: 0 })
    // Plays oapi.dingtalk.com: the token in the query, a refusal as errcode 40014 with HTTP 200. The
    // emulator's API (which reads the header) says whether the token is current.
    const oapi = await startServer(async (request, response) => {
      const token = new URL(request.path, 'http://x').searchParams.get('access_token') ?? ''
      const check = await fetch(`${api.url}/v1.0/robot/oToMessages/batchSend`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-acs-dingtalk-access-token': token },
        body: '{"msgParam":"{}"}',
      })
      await check.body?.cancel()
      json(response, check.ok ? { errcode: 0, errmsg: 'ok', userid: 'u1' } : { errcode: 40014, errmsg: 'invalid access_token' })
    })
    const manager = createTokenManager(dingtalk({ appKey: 'dingapp', appSecret: 'ding-secret', baseUrl: api.url }))
    cleanups.push(() => api.close(), () => oapi.close(), () => manager.close())

    const oapiFetch = withServiceToken(fetch, manager, {
      placement: { in: 'query', name: 'access_token' },
      origins: [oapi.url],
      isAuthError: authErrorRule({ field: 'errcode', codes: [40014, 42001], statuses: [200] }),
    })
    const call = async () => (await oapiFetch(`${oapi.url}/topapi/v2/user/get?lang=zh_CN`)).json()
    expect(await call()).toMatchObject({ errcode: 0 })
    expect(oapi.received[0]!.path).toMatch(/^\/topapi\/v2\/user\/get\?lang=zh_CN&access_token=/)

    emu.revokeAll()
    emu.resetStats()
    expect(await call()).toMatchObject({ errcode: 0 })
    expect(emu.stats().requests.serviceToken).toBe(1)
    expect(oapi.received).toHaveLength(3)
  })
})
