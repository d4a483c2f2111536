import { describe, expect, it } from 'vitest'
import { ConfigurationError } from '../../src/errors.js'
import { createEmulator } from '../../src/emulator/index.js'
import type { Emulator, EmulatorOptions } from '../../src/emulator/index.js'

const T0 = Date.UTC(2026, 0, 1, 4)
const APPS = { app: 'secret' }

function clocked(options: EmulatorOptions) {
  let time = T0
  const emu = createEmulator({ apps: APPS, now: () => time, ...options })
  return { emu, advance: (ms: number) => void (time += ms) }
}

async function body(response: Response | Promise<Response>): Promise<Record<string, unknown>> {
  return (await (await response).json()) as Record<string, unknown>
}

const post = (emu: Emulator, path: string, fields: unknown, headers: Record<string, string> = {}) =>
  emu.fetch(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(fields) })

describe('wechat: a new token ends the previous one after the overlap', () => {
  const token = async (emu: Emulator) => body(emu.fetch('/cgi-bin/token?grant_type=client_credential&appid=app&secret=secret'))
  const api = async (emu: Emulator, accessToken: unknown) => body(emu.fetch(`/cgi-bin/get_api_domain_ip?access_token=${String(accessToken)}`))

  it('by default 5 minutes, then errcode 40001 with HTTP 200; a token not ours is 40014; an expired one 42001', async () => {
    const { emu, advance } = clocked({ profile: 'wechat', tokenTtl: 7200 })
    const first = await token(emu)
    expect(first).toMatchObject({ expires_in: 7200 })
    advance(1000)
    const second = await token(emu)
    expect(second.access_token).not.toBe(first.access_token)
    advance(299_000)
    expect(await api(emu, first.access_token)).toHaveProperty('ip_list')
    advance(1000)
    const refused = await emu.fetch(`/cgi-bin/get_api_domain_ip?access_token=${String(first.access_token)}`)
    expect(refused.status).toBe(200)
    expect(await refused.json()).toMatchObject({ errcode: 40001 })
    expect(await api(emu, second.access_token)).toHaveProperty('ip_list')
    expect(await api(emu, 'forged')).toMatchObject({ errcode: 40014 })
    advance(7200_000)
    expect(await api(emu, second.access_token)).toMatchObject({ errcode: 42001 })
  })

  it('the overlap is the reissue option; wrong credentials get the documented codes', async () => {
    const { emu, advance } = clocked({ profile: 'wechat', reissue: { policy: 'invalidate-previous', graceMs: 2000 } })
    const first = await token(emu)
    await token(emu)
    advance(2000)
    expect(await api(emu, first.access_token)).toMatchObject({ errcode: 40001 })
    expect(await body(emu.fetch('/cgi-bin/token?grant_type=client_credential&appid=app&secret=nope'))).toMatchObject({ errcode: 40001 })
    expect(await body(emu.fetch('/cgi-bin/token?grant_type=client_credential&appid=other&secret=secret'))).toMatchObject({ errcode: 40013 })
    expect(await body(emu.fetch('/cgi-bin/token?grant_type=client_credential&secret=secret'))).toMatchObject({ errcode: 41002 })
    expect(await body(emu.fetch('/cgi-bin/token?grant_type=client_credential&appid=app'))).toMatchObject({ errcode: 41004 })
    expect(await body(emu.fetch('/cgi-bin/token?appid=app&secret=secret'))).toMatchObject({ errcode: 40002 })
    expect((await emu.fetch('/cgi-bin/token?grant_type=client_credential&appid=app&secret=secret', { method: 'POST' })).status).toBe(405)
  })
})

describe('wechatStable: the same token until near expiry; force_refresh ends it, 20 a day, 30 s apart', () => {
  const stable = (emu: Emulator, force = false) =>
    body(post(emu, '/cgi-bin/stable_token', { grant_type: 'client_credential', appid: 'app', secret: 'secret', force_refresh: force }))
  const api = async (emu: Emulator, accessToken: unknown) => body(emu.fetch(`/cgi-bin/get_api_domain_ip?access_token=${String(accessToken)}`))

  it('hands back the same token with its remaining lifetime, a new one in its last 5 minutes', async () => {
    const { emu, advance } = clocked({ profile: 'wechatStable' })
    const first = await stable(emu)
    advance(3600_000)
    expect(await stable(emu)).toEqual({ access_token: first.access_token, expires_in: 3600 })
    advance(3300_000)
    expect((await stable(emu)).access_token).toBe(first.access_token) // 5 minutes left: still the same
    advance(1000)
    const renewed = await stable(emu)
    expect(renewed).toMatchObject({ expires_in: 7200 })
    expect(renewed.access_token).not.toBe(first.access_token)
    expect(await api(emu, first.access_token)).toHaveProperty('ip_list')
  })

  it('force_refresh invalidates the previous token at once and is limited', async () => {
    const { emu, advance } = clocked({ profile: 'wechatStable' })
    const first = await stable(emu)
    const forced = await stable(emu, true)
    expect(forced.access_token).not.toBe(first.access_token)
    expect(await api(emu, first.access_token)).toMatchObject({ errcode: 40001 })
    expect(await stable(emu, true)).toMatchObject({ errcode: 45011 })
    for (let i = 1; i < 20; i++) {
      advance(30_000)
      expect(await stable(emu, true)).toHaveProperty('access_token')
    }
    advance(30_000)
    expect(await stable(emu, true)).toMatchObject({ errcode: 45009 })
    expect(await body(post(emu, '/cgi-bin/stable_token', { grant_type: 'client_credential', appid: 'app', secret: 'x' }))).toMatchObject({ errcode: 40125 })
  })
})

describe('wecom: one token per app', () => {
  it('the same token until it expires; 40014 for a token not ours, 42001 for an expired one', async () => {
    const { emu, advance } = clocked({ profile: 'wecom' })
    const get = () => body(emu.fetch('/cgi-bin/gettoken?corpid=app&corpsecret=secret'))
    const first = await get()
    expect(first).toMatchObject({ errcode: 0, expires_in: 7200 })
    advance(60_000)
    expect(await get()).toMatchObject({ access_token: first.access_token, expires_in: 7140 })
    expect(await body(emu.fetch('/cgi-bin/get_api_domain_ip?access_token=nope'))).toMatchObject({ errcode: 40014 })
    advance(7200_000)
    expect(await body(emu.fetch(`/cgi-bin/get_api_domain_ip?access_token=${String(first.access_token)}`))).toMatchObject({ errcode: 42001 })
    expect((await get()).access_token).not.toBe(first.access_token)
    expect(await body(emu.fetch('/cgi-bin/gettoken?corpid=app&corpsecret=x'))).toMatchObject({ errcode: 40001 })
  })
})

describe('feishu: the same token while 30 minutes are left, then a new one, both valid', () => {
  const tenant = (emu: Emulator) => body(post(emu, '/open-apis/auth/v3/tenant_access_token/internal', { app_id: 'app', app_secret: 'secret' }))
  const api = (emu: Emulator, token: unknown) => emu.fetch('/open-apis/tenant/v2/tenant/query', { headers: { authorization: `Bearer ${String(token)}` } })

  it('reuses, renews, and refuses with HTTP 400 and 99991663 / 99991664 / 99991661', async () => {
    const { emu, advance } = clocked({ profile: 'feishu' })
    const first = await tenant(emu)
    expect(first).toMatchObject({ code: 0, expire: 7200 })
    advance(5400_000)
    expect(await tenant(emu)).toMatchObject({ tenant_access_token: first.tenant_access_token, expire: 1800 })
    advance(1000)
    const second = await tenant(emu)
    expect(second.tenant_access_token).not.toBe(first.tenant_access_token)
    expect(await (await api(emu, first.tenant_access_token)).json()).toMatchObject({ code: 0 })
    const app = await body(post(emu, '/open-apis/auth/v3/app_access_token/internal', { app_id: 'app', app_secret: 'secret' }))
    expect(app.app_access_token).not.toBe(second.tenant_access_token)
    emu.revokeAll()
    const refused = await api(emu, second.tenant_access_token)
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({ code: 99991663 })
    expect(await (await api(emu, app.app_access_token)).json()).toMatchObject({ code: 99991664 })
    expect(await (await emu.fetch('/open-apis/tenant/v2/tenant/query')).json()).toMatchObject({ code: 99991661 })
    expect(await body(post(emu, '/open-apis/auth/v3/tenant_access_token/internal', { app_id: 'app', app_secret: 'x' }))).toMatchObject({ code: 10014 })
  })
})

describe('dingtalk: the same token, its expiry extended', () => {
  it('extends, and refuses with HTTP 401 InvalidAuthentication', async () => {
    const { emu, advance } = clocked({ profile: 'dingtalk' })
    const get = () => body(post(emu, '/v1.0/oauth2/accessToken', { appKey: 'app', appSecret: 'secret' }))
    const first = await get()
    advance(7000_000)
    expect(await get()).toEqual({ accessToken: first.accessToken, expireIn: 7200 })
    advance(7000_000)
    const ok = await post(emu, '/v1.0/robot/oToMessages/batchSend', {}, { 'x-acs-dingtalk-access-token': String(first.accessToken) })
    expect(await ok.json()).toHaveProperty('processQueryKey')
    const refused = await post(emu, '/v1.0/robot/oToMessages/batchSend', {}, { 'x-acs-dingtalk-access-token': 'nope' })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toMatchObject({ code: 'InvalidAuthentication' })
    const wrong = await post(emu, '/v1.0/oauth2/accessToken', { appKey: 'app', appSecret: 'x' })
    expect(wrong.status).toBe(400)
    expect(await wrong.json()).toMatchObject({ code: 'invalidClientIdOrSecret' })
  })
})

it('rejects an unknown profile and reissue policy by name', () => {
  expect(() => createEmulator({ profile: 'weixin' as never })).toThrow(ConfigurationError)
  expect(() => createEmulator({ reissue: { policy: 'reuse', graceMs: 1 } as never })).toThrow(/reissue\.graceMs/)
  expect(() => createEmulator({ profile: 'wecom' }).inject('serviceToken', { type: 'bad-grant', kind: 'empty-token' })).toThrow(/AnyWeb answer/)
})

it('an api-error fault answers in the profile’s error shape', async () => {
  const emu = createEmulator({ profile: 'wechat', apps: APPS })
  emu.inject('serviceToken', { type: 'api-error', code: '45009', message: 'quota' }, { times: 1 })
  const answer = await emu.fetch('/cgi-bin/token?grant_type=client_credential&appid=app&secret=secret')
  expect(answer.status).toBe(200)
  expect(await answer.json()).toEqual({ errcode: 45009, errmsg: 'quota' })
  const feishu = createEmulator({ profile: 'feishu', apps: APPS })
  feishu.inject('checkAddresses', { type: 'api-error', code: '99991663' }, { times: 1 })
  const refused = await feishu.fetch('/open-apis/tenant/v2/tenant/query')
  expect(refused.status).toBe(400)
  expect(await refused.json()).toMatchObject({ code: 99991663 })
  expect(feishu.stats().authFailures).toBe(1)
})
