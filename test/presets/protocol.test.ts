import type { ServerResponse } from 'node:http'
import { afterEach, describe, expect, it } from 'vitest'
import { authErrorRule } from '../../src/http/auth-error.js'
import { createTokenManager, isServiceTokenError } from '../../src/index.js'
import type { TokenStore } from '../../src/index.js'
import { anyweb, dingtalk, feishu, wechat, wechatStable, wecom } from '../../src/presets/index.js'
import type { TokenProtocol } from '../../src/presets/index.js'
import { createEmulator } from '../../src/emulator/index.js'
import { drivers } from '../helpers/adapter-drivers.js'
import { json, startServer } from '../helpers/http-server.js'
import type { Received } from '../helpers/http-server.js'
import { countingSource } from '../helpers/source.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A platform that takes the token in `?tk=` and refuses it with `{ "err": 7 }` and HTTP 200. */
const protocol: TokenProtocol = {
  placement: { in: 'query', name: 'tk' },
  isAuthError: authErrorRule({ field: 'err', codes: [7], statuses: [200] }),
  tokenPath: '/auth/token',
}

/** An API that accepts only `current` (changed by the test) in `?tk=` and answers `{ err: 7 }` otherwise. */
async function queryApi() {
  const state = { current: 'token-1', seen: [] as string[], headers: [] as unknown[] }
  const api = await startServer((request: Received, response: ServerResponse) => {
    const token = new URL(request.path, 'http://x').searchParams.get('tk') ?? ''
    state.seen.push(token)
    state.headers.push(request.headers['x-tk'])
    json(response, token === state.current ? { err: 0, ok: true } : { err: 7 })
  })
  const source = countingSource({ auto: true })
  const manager = createTokenManager({ source: source.source, baseUrl: api.url, protocol })
  cleanups.push(() => api.close(), () => manager.close())
  return { api, state, source, manager }
}

describe.each(drivers)('$name takes its defaults from the manager’s protocol', (driver) => {
  it('puts the token where the protocol says, and replays once on the protocol’s refusal code', async () => {
    const { api, state, source, manager } = await queryApi()
    const call = driver.client(manager)
    expect((await call({ url: `${api.url}/v1/thing?x=1`, method: 'GET' })).json).toEqual({ err: 0, ok: true })
    state.current = 'token-2'
    expect((await call({ url: `${api.url}/v1/thing`, method: 'GET' })).json).toEqual({ err: 0, ok: true })
    expect(source.count).toBe(2)
    expect(state.seen).toEqual(['token-1', 'token-1', 'token-2'])
  })

  it('never sends a token to the protocol’s token endpoint, and adapter options still override', async () => {
    const { api, state, manager } = await queryApi()
    await driver.client(manager)({ url: `${api.url}/auth/token`, method: 'GET' })
    expect(state.seen).toEqual([''])
    await driver.client(manager, { placement: { in: 'header', name: 'x-tk' } })({ url: `${api.url}/v1/thing`, method: 'GET' })
    // The header, not the query; the API (which reads the query) refuses, so the request is replayed once.
    expect(state.seen).toEqual(['', '', ''])
    expect(state.headers).toEqual([undefined, 'token-1', 'token-2'])
  })
})

describe('the anyweb preset', () => {
  it('gives what { appid, secret } gives: the same token endpoint, store key, placement and refusal rule', async () => {
    const emu = createEmulator()
    const stored: string[] = []
    const store: TokenStore = { get: () => undefined, set: (key) => void stored.push(key), delete: () => false }
    const plain = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: 'http://127.0.0.1', fetch: emu.fetch, store })
    const preset = createTokenManager({ ...anyweb({ appid: 'demo-app', secret: 'demo-secret', baseUrl: 'http://127.0.0.1', fetch: emu.fetch }), store })
    cleanups.push(() => plain.close(), () => preset.close())
    await plain.getToken()
    await preset.getToken()
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(stored).toEqual(['anyweb:http://127.0.0.1:demo-app', 'anyweb:http://127.0.0.1:demo-app'])
    expect(preset.tokenUrl).toBe(plain.tokenUrl)
    expect(preset.baseUrl).toBe(plain.baseUrl)
    expect(emu.stats().tokensIssued).toBe(2)
  })

  it('rejects a wrong secret with AnyWeb’s typed error, and unknown options by name', async () => {
    const emu = createEmulator()
    const manager = createTokenManager(anyweb({ appid: 'demo-app', secret: 'nope', baseUrl: 'http://127.0.0.1', fetch: emu.fetch }))
    cleanups.push(() => manager.close())
    const error = await manager.getToken().catch((caught: unknown) => caught)
    expect(isServiceTokenError(error, 'ERR_ANYWEB_CREDENTIALS')).toBe(true)
    expect(() => anyweb({ appid: 'a', secret: 's', baseURL: 'x' } as never)).toThrow(/baseURL.*did you mean `baseUrl`/)
  })

  it('a protocol goes with a custom source only, and is checked', () => {
    expect(() => createTokenManager({ appid: 'a', secret: 's', protocol } as never)).toThrow(/protocol/)
    expect(() => createTokenManager({ source: countingSource().source, protocol: { ...protocol, tokenPath: 'auth' } })).toThrow(/tokenPath/)
    expect(() => createTokenManager({ source: countingSource().source, protocol: { ...protocol, isAuthError: 1 as never } })).toThrow(/isAuthError/)
  })
})

it('each preset keys its store by platform, origin and app: a store shared by platforms never mixes tokens', () => {
  const baseUrl = 'http://127.0.0.1:8787'
  const keys = [
    anyweb({ appid: 'a1', secret: 's', baseUrl }),
    wechat({ appid: 'a1', secret: 's', baseUrl }),
    wechatStable({ appid: 'a1', secret: 's', baseUrl }),
    wecom({ corpid: 'a1', corpsecret: 's', baseUrl }),
    feishu({ appId: 'a1', appSecret: 's', baseUrl }),
    feishu({ appId: 'a1', appSecret: 's', baseUrl, kind: 'app' }),
    dingtalk({ appKey: 'a1', appSecret: 's', baseUrl }),
  ].map((options) => options.storeKey)
  expect(new Set(keys).size).toBe(keys.length)
  expect(keys[1]).toBe('wechat:http://127.0.0.1:8787:a1')
  expect(wechat({ appid: 'a1', secret: 's' }).storeKey).toBe('wechat:https://api.weixin.qq.com:a1')
  expect(() => wecom({ corpid: 'a1', secret: 's' } as never)).toThrow(/`secret`.*known: corpid, corpsecret/)
  expect(() => feishu({ appId: 'a1', appSecret: 's', kind: 'user' as never })).toThrow(/kind/)
  expect(() => wechat({ appid: 'a1', secret: 's', baseUrl: 'http://api.weixin.qq.com' })).toThrow(/https/)
})
