import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { afterEach, describe, expect, expectTypeOf, it, vi } from 'vitest'
import { ConfigurationError } from '../src/errors.js'
import { createEmulator, decodeServiceToken } from '../src/emulator/index.js'
import type { BadGrantKind, Emulator, EmulatorOptions, EmulatorServer, EmulatorStats, Fault } from '../src/emulator/index.js'
import type { components } from '../src/generated/anyweb.js'
import type { FetchLike } from '../src/types.js'
import { conforms, responseProblems, schemaProblems } from './helpers/emulator-schema.js'
import type { Operation } from './helpers/emulator-schema.js'

const T0 = Date.UTC(2026, 0, 1)
const TOKEN_URL = 'http://127.0.0.1/service/serviceToken'
const CHECK_URL = 'http://127.0.0.1/service/checkAddresses'

interface Envelope {
  code: number | string
  message: string
  data?: unknown
}

function clock(start = T0): { now: () => number; set: (ms: number) => void; advance: (ms: number) => void } {
  let time = start
  return {
    now: () => time,
    set: (ms) => {
      time = ms
    },
    advance: (ms) => {
      time += ms
    },
  }
}

function postJson(emu: Emulator, url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return emu.fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  })
}

async function json(response: Response): Promise<Envelope> {
  return (await response.json()) as Envelope
}

async function getToken(emu: Emulator, appid = 'demo-app', secret = 'demo-secret'): Promise<string> {
  const body = await json(await postJson(emu, TOKEN_URL, { appid, secret }))
  expect(body.code).toBe(1000)
  return (body.data as { serviceToken: string }).serviceToken
}

async function check(emu: Emulator, serviceToken: unknown, group: unknown = { u1: ['cfx:a'] }): Promise<Envelope> {
  return json(await postJson(emu, CHECK_URL, { serviceToken, group }))
}

/** Signs like the emulator but independently of its code, to prove the tokens are real HS256 JWTs. */
async function hmacSha256(key: string, input: string): Promise<string> {
  const cryptoKey = await crypto.subtle.importKey('raw', new TextEncoder().encode(key), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  const signature = new Uint8Array(await crypto.subtle.sign('HMAC', cryptoKey, new TextEncoder().encode(input)))
  return btoa(String.fromCharCode(...signature)).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

function expectConfigError(run: () => unknown, option: string): ConfigurationError {
  let caught: unknown
  try {
    run()
  } catch (error) {
    caught = error
  }
  expect(caught).toBeInstanceOf(ConfigurationError)
  const error = caught as ConfigurationError
  expect(error.option).toBe(option)
  expect(error.code).toBe('ERR_INVALID_OPTION')
  return error
}

describe('public types', () => {
  it('has the agreed shape', () => {
    const emu = createEmulator()
    expectTypeOf(emu.fetch).toExtend<FetchLike>()
    expectTypeOf(emu.handle).toEqualTypeOf<(request: Request) => Promise<Response>>()
    expectTypeOf(emu.listen).returns.toEqualTypeOf<Promise<EmulatorServer>>()
    expectTypeOf(emu.stats).returns.toEqualTypeOf<EmulatorStats>()
    expectTypeOf<EmulatorOptions['reissue']>().toEqualTypeOf<
      'stateless' | 'extend' | { policy: 'invalidate-previous'; graceMs: number } | { policy: 'reuse'; renewWithinMs: number } | undefined
    >()
    expectTypeOf(emu.inject).parameter(0).toEqualTypeOf<'serviceToken' | 'checkAddresses' | 'all'>()
    expectTypeOf<Extract<Fault, { type: 'hang' }>>().toEqualTypeOf<{ type: 'hang' }>()
    expect(Object.keys(emu).sort()).toEqual(
      ['clearFaults', 'fetch', 'handle', 'inject', 'listen', 'resetStats', 'revokeAll', 'stats'].sort(),
    )
  })
})

describe('options', () => {
  it('rejects invalid options with ConfigurationError naming the option', () => {
    expectConfigError(() => createEmulator({ tokenTtl: 0 }), 'tokenTtl')
    expectConfigError(() => createEmulator({ tokenTtl: -5 }), 'tokenTtl')
    expectConfigError(() => createEmulator({ tokenTtl: '7200' as unknown as number }), 'tokenTtl')
    expectConfigError(() => createEmulator({ tokenTtl: Number.NaN }), 'tokenTtl')
    expectConfigError(() => createEmulator({ apps: [] as unknown as Record<string, string> }), 'apps')
    expectConfigError(() => createEmulator({ apps: { '': 'x' } }), 'apps')
    expectConfigError(() => createEmulator({ reissue: 'sometimes' as unknown as 'stateless' }), 'reissue')
    expectConfigError(() => createEmulator({ reissue: { policy: 'invalidate-previous', graceMs: -1 } }), 'reissue.graceMs')
    expectConfigError(() => createEmulator({ users: { u: 'cfx:a' as unknown as string[] } }), 'users.u')
    expectConfigError(() => createEmulator({ now: 5 as unknown as () => number }), 'now')
    expectConfigError(() => createEmulator({ signingKey: '' }), 'signingKey')
    expectConfigError(() => createEmulator({ errorStatus: 99 }), 'errorStatus')
    expectConfigError(() => createEmulator({ errorStatus: 401.5 }), 'errorStatus')
    expectConfigError(() => createEmulator({ tokenFrom: [] }), 'tokenFrom')
    expectConfigError(() => createEmulator(null as unknown as EmulatorOptions), 'options')
  })

  it('refuses unknown options, naming the one meant: createEmulator, listen(), inject() and its faults', async () => {
    const unknown = (options: unknown) => options as EmulatorOptions
    expect(expectConfigError(() => createEmulator(unknown({ ttl: 5 })), 'ttl').message).toContain('did you mean `tokenTtl`?')
    expect(expectConfigError(() => createEmulator(unknown({ app: { a: 'b' } })), 'app').message).toContain('did you mean `apps`?')
    expectConfigError(() => createEmulator(unknown({ reissue: { policy: 'invalidate-previous', grace: 5 } })), 'reissue.grace')
    const emu = createEmulator()
    const listening = await emu.listen({ host: '127.0.0.1' } as never).then(
      (server) => server.close().then(() => undefined),
      (error: unknown) => error,
    )
    expect(listening).toBeInstanceOf(ConfigurationError)
    expect((listening as ConfigurationError).message).toContain('did you mean `hostname`?')
    expectConfigError(() => emu.inject('all', { type: 'latency', msec: 5 } as never), 'fault.msec')
    expect(expectConfigError(() => emu.inject('all', { type: 'hang' }, { time: 1 } as never), 'options.time').message).toContain('did you mean `times`?')
  })

  it('never puts a secret into an error message', () => {
    const error = expectConfigError(() => createEmulator({ apps: { good: 'top-secret-1', bad: '' } }), 'apps.bad')
    expect(error.message).not.toContain('top-secret-1')
    expect(JSON.stringify(createEmulator({ apps: { a: 'top-secret-2' } }))).not.toContain('top-secret-2')
    // A secret given as a number is still a secret: only its type is named.
    const numeric = expectConfigError(() => createEmulator({ profile: 'feishu', apps: { cli: 987654 as unknown as string } }), 'apps.cli')
    expect(numeric.message).toContain('got a number')
    expect(numeric.message).not.toContain('987654')
  })

  it('refuses the AnyWeb-only options for another profile', () => {
    for (const profile of ['wechat', 'wechatStable', 'wecom', 'feishu', 'dingtalk'] as const) {
      expectConfigError(() => createEmulator({ profile, errorStatus: 500 }), 'errorStatus')
      expectConfigError(() => createEmulator({ profile, users: {} }), 'users')
      expectConfigError(() => createEmulator({ profile, tokenFrom: ['header'] }), 'tokenFrom')
      createEmulator({ profile })
    }
    createEmulator({ profile: 'anyweb', errorStatus: 500, users: {}, tokenFrom: ['header'] })
  })
})

describe('POST /service/serviceToken', () => {
  it('issues an HS256 JWT with the documented envelope and claims', async () => {
    const time = clock(T0 + 500)
    const emu = createEmulator({ apps: { app1: 's1' }, tokenTtl: 60, now: time.now, signingKey: 'k' })
    const response = await postJson(emu, TOKEN_URL, { appid: 'app1', secret: 's1' })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^application\/json/)
    const body = await json(response)
    expect(body).toMatchObject({ code: 1000, message: 'success', data: { expiresIn: 60 } })
    const { serviceToken } = body.data as { serviceToken: string }
    const [header = '', payload = '', signature = ''] = serviceToken.split('.')
    expect(JSON.parse(atob(header))).toEqual({ alg: 'HS256', typ: 'JWT' })
    expect(signature).toBe(await hmacSha256('k', `${header}.${payload}`))
    const claims = decodeServiceToken(serviceToken)
    expect(claims).toEqual({
      appid: 'app1',
      developerId: 'dev-app1',
      iat: Math.floor((T0 + 500) / 1000),
      exp: Math.ceil((T0 + 500 + 60_000) / 1000),
      jti: expect.any(String),
    })
  })

  it('issues a different token each time, even at the same instant', async () => {
    const emu = createEmulator({ now: () => T0 })
    const tokens = new Set<string>()
    for (let i = 0; i < 5; i++) tokens.add(await getToken(emu))
    expect(tokens.size).toBe(5)
    expect(emu.stats().tokensIssued).toBe(5)
  })

  it('accepts urlencoded and multipart bodies like the AnyWeb samples send', async () => {
    const emu = createEmulator()
    const urlencoded = await json(
      await emu.fetch(TOKEN_URL, { method: 'POST', body: new URLSearchParams({ appid: 'demo-app', secret: 'demo-secret' }) }),
    )
    expect(urlencoded.code).toBe(1000)
    const form = new FormData()
    form.set('appid', 'demo-app')
    form.set('secret', 'demo-secret')
    expect((await json(await emu.fetch(TOKEN_URL, { method: 'POST', body: form }))).code).toBe(1000)
    const wrong = new FormData()
    wrong.set('appid', 'demo-app')
    wrong.set('secret', 'nope')
    expect((await json(await emu.fetch(TOKEN_URL, { method: 'POST', body: wrong }))).code).toBe('A108P004')
    // A JSON body without a content-type header is still read as JSON.
    const bare = await json(await emu.fetch(TOKEN_URL, { method: 'POST', body: '{"appid":"demo-app","secret":"demo-secret"}' }))
    expect(bare.code).toBe(1000)
  })

  it.each([
    ['no body', undefined, 'A108P002'],
    ['appid missing', { secret: 'demo-secret' }, 'A108P002'],
    ['appid empty', { appid: '', secret: 'demo-secret' }, 'A108P002'],
    ['appid blank', { appid: '   ', secret: 'demo-secret' }, 'A108P002'],
    ['appid null', { appid: null, secret: 'demo-secret' }, 'A108P002'],
    ['body not JSON', '{"appid":', 'A108P002'],
    ['body a JSON array', '["demo-app"]', 'A108P002'],
    ['appid unknown', { appid: 'other', secret: 'demo-secret' }, 'A108P005'],
    ['appid not a string', { appid: 42, secret: 'demo-secret' }, 'A108P005'],
    ['secret missing', { appid: 'demo-app' }, 'A108P003'],
    ['secret empty', { appid: 'demo-app', secret: '' }, 'A108P003'],
    ['secret wrong', { appid: 'demo-app', secret: 'demo-secreT' }, 'A108P004'],
    ['secret a prefix', { appid: 'demo-app', secret: 'demo' }, 'A108P004'],
    ['secret not a string', { appid: 'demo-app', secret: 1 }, 'A108P004'],
    // Order: appid checks come first.
    ['appid unknown and secret empty', { appid: 'other', secret: '' }, 'A108P005'],
    ['appid empty and secret wrong', { appid: '', secret: 'x' }, 'A108P002'],
  ])('answers %s with %s (HTTP 200)', async (_, body, code) => {
    const emu = createEmulator()
    const response = await emu.fetch(TOKEN_URL, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    })
    expect(response.status).toBe(200)
    const envelope = await json(response)
    expect(envelope.code).toBe(code)
    expect(envelope.message).toEqual(expect.any(String))
    expect(envelope.message).not.toContain('demo-secret')
    expect(emu.stats().tokensIssued).toBe(0)
  })

  it('uses errorStatus for error envelopes', async () => {
    const emu = createEmulator({ errorStatus: 401 })
    const response = await postJson(emu, TOKEN_URL, { appid: 'demo-app', secret: 'x' })
    expect(response.status).toBe(401)
    expect((await json(response)).code).toBe('A108P004')
    expect((await postJson(emu, TOKEN_URL, { appid: 'demo-app', secret: 'demo-secret' })).status).toBe(200)
  })
})

describe('POST /service/checkAddresses', () => {
  it('returns, per unionid, the addresses that user does not own, in request order', async () => {
    const emu = createEmulator({ users: { alice: ['cfx:a1', 'cfx:a2'], bob: [] } })
    const token = await getToken(emu)
    const group = { alice: ['cfx:x', 'cfx:a2', 'cfx:a1', 'cfx:y'], bob: ['cfx:b'], carol: ['cfx:c1', 'cfx:c2'], dave: [] }
    const first = await check(emu, token, group)
    expect(first).toEqual({
      code: 1000,
      message: 'success',
      data: { alice: ['cfx:x', 'cfx:y'], bob: ['cfx:b'], carol: ['cfx:c1', 'cfx:c2'], dave: [] },
    })
    expect(await check(emu, token, group)).toEqual(first)
    expect(Object.keys(first.data as object)).toEqual(['alice', 'bob', 'carol', 'dave'])
  })

  it('keeps a "__proto__" unionid an ordinary key', async () => {
    const emu = createEmulator()
    const body = await json(await postJson(emu, CHECK_URL, `{"serviceToken":"${await getToken(emu)}","group":{"__proto__":["cfx:p"]}}`))
    expect(body.code).toBe(1000)
    expect(Object.getOwnPropertyNames(body.data)).toEqual(['__proto__'])
  })

  it('answers A108P001 for a missing, garbage or forged token and counts auth failures', async () => {
    const emu = createEmulator({ signingKey: 'right' })
    const forger = createEmulator({ signingKey: 'wrong' })
    const forged = await getToken(forger)
    const genuine = await getToken(emu)
    const [header, , signature] = genuine.split('.')
    const tampered = `${header}.${btoa(JSON.stringify({ ...decodeServiceToken(genuine), appid: 'other' })).replace(/=+$/, '')}.${signature}`
    const noneAlg = `${btoa('{"alg":"none","typ":"JWT"}').replace(/=+$/, '')}.${genuine.split('.')[1]}.`
    for (const token of [undefined, '', 'abc', 'a.b.c', 42, forged, tampered, noneAlg, `${genuine}x`]) {
      expect(await check(emu, token)).toEqual({ code: 'A108P001', message: 'serviceToken wrong', data: null })
    }
    expect(emu.stats().authFailures).toBe(9)
    expect((await check(emu, genuine)).code).toBe(1000)
  })

  it('rejects a well-signed token it never issued (same key, other emulator)', async () => {
    const other = createEmulator({ signingKey: 'shared' })
    const emu = createEmulator({ signingKey: 'shared' })
    expect((await check(emu, await getToken(other))).code).toBe('A108P001')
  })

  it('expires tokens exactly tokenTtl seconds after issue, by the injected clock', async () => {
    const time = clock()
    const emu = createEmulator({ tokenTtl: 100, now: time.now })
    const token = await getToken(emu)
    time.advance(100_000 - 1)
    expect((await check(emu, token)).code).toBe(1000)
    time.advance(1)
    expect((await check(emu, token)).code).toBe('A108P001')
  })

  it('answers A108P007 for a malformed group, after checking the token', async () => {
    const emu = createEmulator()
    const token = await getToken(emu)
    for (const group of [null, 'x', '{"u":["cfx:a"]}', [], ['cfx:a'], { u: 'cfx:a' }, { u: [1] }, { u: ['cfx:a', null] }, { u: {} }]) {
      expect((await check(emu, token, group)).code, JSON.stringify(group)).toBe('A108P007')
    }
    expect((await json(await postJson(emu, CHECK_URL, { serviceToken: token }))).code).toBe('A108P007')
    expect((await check(emu, 'bad', 'not a group')).code).toBe('A108P001')
    expect((await json(await postJson(emu, CHECK_URL, '{"serviceToken":'))).code).toBe('A108P007')
    expect((await json(await postJson(emu, CHECK_URL, '[1]'))).code).toBe('A108P007')
    expect((await check(emu, token, {})).data).toEqual({})
  })

  it('reads the token from a header or the query when tokenFrom says so, and from form bodies', async () => {
    const emu = createEmulator({ tokenFrom: ['header', 'query', 'body'] })
    const token = await getToken(emu)
    const group = JSON.stringify({ group: { u: ['cfx:a'] } })
    const viaHeader = await emu.fetch(CHECK_URL, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: group })
    expect((await json(viaHeader)).code).toBe(1000)
    const viaQuery = await emu.fetch(`${CHECK_URL}?serviceToken=${encodeURIComponent(token)}`, { method: 'POST', body: group })
    expect((await json(viaQuery)).code).toBe(1000)
    const form = new FormData()
    form.set('serviceToken', token)
    form.set('group', '{"u":["cfx:a"]}')
    expect((await json(await emu.fetch(CHECK_URL, { method: 'POST', body: form }))).data).toEqual({ u: ['cfx:a'] })
    form.set('group', '{"u":')
    expect((await json(await emu.fetch(CHECK_URL, { method: 'POST', body: form }))).code).toBe('A108P007')

    const bodyOnly = createEmulator()
    const headerOnly = await bodyOnly.fetch(CHECK_URL, {
      method: 'POST',
      headers: { authorization: `Bearer ${await getToken(bodyOnly)}` },
      body: group,
    })
    expect((await json(headerOnly)).code).toBe('A108P001')
  })
})

describe('revocation and reissue', () => {
  it('revokeAll invalidates every token issued so far, not later ones', async () => {
    const emu = createEmulator({ apps: { a: 'x', b: 'y' }, now: () => T0 })
    const a = await getToken(emu, 'a', 'x')
    const b = await getToken(emu, 'b', 'y')
    emu.revokeAll()
    expect((await check(emu, a)).code).toBe('A108P001')
    expect((await check(emu, b)).code).toBe('A108P001')
    const fresh = await getToken(emu, 'a', 'x')
    expect((await check(emu, fresh)).code).toBe(1000)
    expect(emu.stats().authFailures).toBe(2)
  })

  it('keeps unexpired tokens valid while pruning expired ones from its registry', async () => {
    const time = clock()
    const emu = createEmulator({ tokenTtl: 10, now: time.now })
    const old = await getToken(emu)
    time.advance(10_000)
    const kept: string[] = []
    for (let i = 0; i < 1100; i++) kept.push(await getToken(emu)) // crosses the pruning threshold
    expect((await check(emu, old)).code).toBe('A108P001')
    expect((await check(emu, kept[0])).code).toBe(1000)
    expect((await check(emu, kept.at(-1))).code).toBe(1000)
  })

  it('stateless: earlier tokens stay valid after a reissue', async () => {
    const emu = createEmulator()
    const first = await getToken(emu)
    const second = await getToken(emu)
    expect((await check(emu, first)).code).toBe(1000)
    expect((await check(emu, second)).code).toBe(1000)
  })

  it('invalidate-previous: the previous token lives graceMs after the reissue, then fails', async () => {
    const time = clock()
    const emu = createEmulator({ apps: { a: 'x', b: 'y' }, now: time.now, reissue: { policy: 'invalidate-previous', graceMs: 300_000 } })
    const first = await getToken(emu, 'a', 'x')
    const other = await getToken(emu, 'b', 'y')
    time.advance(1000)
    const second = await getToken(emu, 'a', 'x') // supersedes `first` at T0 + 1 s
    time.advance(300_000 - 1)
    expect((await check(emu, first)).code).toBe(1000)
    time.advance(1)
    expect((await check(emu, first)).code).toBe('A108P001')
    expect((await check(emu, second)).code).toBe(1000)
    expect((await check(emu, other)).code).toBe(1000) // other apps are not affected
    const third = await getToken(emu, 'a', 'x')
    expect((await check(emu, second)).code).toBe(1000) // within its own grace
    expect((await check(emu, third)).code).toBe(1000)
  })

  it('invalidate-previous with graceMs 0 invalidates at once', async () => {
    const emu = createEmulator({ now: () => T0, reissue: { policy: 'invalidate-previous', graceMs: 0 } })
    const first = await getToken(emu)
    const second = await getToken(emu)
    expect((await check(emu, first)).code).toBe('A108P001')
    expect((await check(emu, second)).code).toBe(1000)
  })
})

describe('routing and robustness', () => {
  it('answers 404 for unknown paths and 405 for other methods, counting requests', async () => {
    const emu = createEmulator()
    const missing = await emu.fetch('http://127.0.0.1/service/nope', { method: 'POST' })
    expect(missing.status).toBe(404)
    expect((await json(missing)).code).toBe('NOT_FOUND')
    const wrongMethod = await emu.fetch(TOKEN_URL)
    expect(wrongMethod.status).toBe(405)
    expect(wrongMethod.headers.get('allow')).toBe('POST')
    expect((await emu.fetch(CHECK_URL, { method: 'PUT', body: '{}' })).status).toBe(405)
    expect(emu.stats().requests).toEqual({ serviceToken: 1, checkAddresses: 1, other: 1 })
  })

  it('serves GET /__emulator/stats without counting it', async () => {
    const emu = createEmulator()
    await getToken(emu)
    const response = await emu.fetch('/__emulator/stats')
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual(emu.stats())
    expect(emu.stats().requests.other).toBe(0)
    expect((await emu.fetch('/__emulator/stats', { method: 'POST' })).status).toBe(405)
  })

  it('answers every odd body with an envelope instead of throwing', async () => {
    const emu = createEmulator()
    const bodies: BodyInit[] = ['', 'null', '"x"', '{', '\u0000', '{"appid":{"$gt":""}}', new Uint8Array([0xff, 0xfe, 0x00]), 'a=b&c']
    const types = ['application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=zz', 'multipart/form-data']
    for (const url of [TOKEN_URL, CHECK_URL]) {
      for (const body of bodies) {
        for (const type of types) {
          const response = await emu.handle(new Request(url, { method: 'POST', headers: { 'content-type': type }, body }))
          const envelope = await json(response)
          expect(envelope.code).toMatch(/^A108P00[1257]$/)
        }
      }
    }
  })

  it('stats is a snapshot and resetStats zeroes it', async () => {
    const emu = createEmulator()
    const before = emu.stats()
    await getToken(emu)
    expect(before.tokensIssued).toBe(0)
    expect(emu.stats()).toMatchObject({ tokensIssued: 1, requests: { serviceToken: 1 } })
    emu.resetStats()
    expect(emu.stats()).toEqual({ tokensIssued: 0, requests: { serviceToken: 0, checkAddresses: 0, other: 0 }, authFailures: 0, faultsServed: 0 })
  })

  it('in-process fetch rejects with the abort reason for an already aborted signal', async () => {
    const emu = createEmulator()
    const reason = new Error('stop')
    await expect(emu.fetch(TOKEN_URL, { method: 'POST', signal: AbortSignal.abort(reason) })).rejects.toBe(reason)
  })
})

describe('faults', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  it('latency delays the normal answer by ms, and an abort clears its timer', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] })
    const emu = createEmulator()
    emu.inject('serviceToken', { type: 'latency', ms: 1000 }, { times: 2 })
    let settled = false
    const pending = postJson(emu, TOKEN_URL, { appid: 'demo-app', secret: 'demo-secret' }).finally(() => {
      settled = true
    })
    await vi.advanceTimersByTimeAsync(999)
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    expect((await json(await pending)).code).toBe(1000)

    const controller = new AbortController()
    const aborted = postJson(emu, TOKEN_URL, {}, { signal: controller.signal })
    await vi.advanceTimersByTimeAsync(10)
    expect(vi.getTimerCount()).toBe(1)
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })
    expect(vi.getTimerCount()).toBe(0)
    expect(emu.stats().faultsServed).toBe(2)
  })

  it('status answers a non-envelope 5xx (JSON or text), any 400–599 but 429', async () => {
    const emu = createEmulator()
    emu.inject('serviceToken', { type: 'status' }, { times: 1 })
    emu.inject('serviceToken', { type: 'status', status: 500, body: 'text' }, { times: 1 })
    emu.inject('serviceToken', { type: 'status', status: 401 }, { times: 1 })
    const first = await postJson(emu, TOKEN_URL, {})
    expect(first.status).toBe(503)
    expect(await first.json()).toEqual({ error: 'Service Unavailable', status: 503 })
    const second = await postJson(emu, TOKEN_URL, {})
    expect(second.status).toBe(500)
    expect(second.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(await second.text()).toContain('500')
    expect((await postJson(emu, TOKEN_URL, {})).status).toBe(401)
    expect((await postJson(emu, TOKEN_URL, {})).status).toBe(200)
    expectConfigError(() => emu.inject('all', { type: 'status', status: 429 }), 'fault.status')
    expectConfigError(() => emu.inject('all', { type: 'status', status: 302 }), 'fault.status')
  })

  it('rate-limit answers 429 with Retry-After in seconds', async () => {
    const emu = createEmulator()
    emu.inject('serviceToken', { type: 'rate-limit', retryAfter: 7 }, { times: 1 })
    emu.inject('serviceToken', { type: 'rate-limit' }, { times: 1 })
    const first = await postJson(emu, TOKEN_URL, {})
    expect(first.status).toBe(429)
    expect(first.headers.get('retry-after')).toBe('7')
    expect((await postJson(emu, TOKEN_URL, {})).headers.get('retry-after')).toBe('1')
  })

  it('hang never answers until the signal aborts, and leaves no timer behind', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'] })
    const emu = createEmulator()
    emu.inject('all', { type: 'hang' })
    const controller = new AbortController()
    let settled = false
    const pending = postJson(emu, CHECK_URL, {}, { signal: controller.signal }).finally(() => {
      settled = true
    })
    await vi.advanceTimersByTimeAsync(3_600_000)
    expect(settled).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
    const reason = new Error('gave up')
    controller.abort(reason)
    await expect(pending).rejects.toBe(reason)

    // The raw handler follows the request's signal too.
    const handled = emu.handle(new Request(TOKEN_URL, { method: 'POST', signal: AbortSignal.abort() }))
    await expect(handled).rejects.toMatchObject({ name: 'AbortError' })
  })

  it('malformed-json answers 200 with a truncated JSON body', async () => {
    const emu = createEmulator()
    emu.inject('serviceToken', { type: 'malformed-json' }, { times: 1 })
    const response = await postJson(emu, TOKEN_URL, {})
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^application\/json/)
    const text = await response.text()
    expect(text.startsWith('{"code":1000')).toBe(true)
    expect(() => JSON.parse(text) as unknown).toThrow(SyntaxError)
  })

  it('html answers an HTML error page with 502 or 200', async () => {
    const emu = createEmulator()
    emu.inject('checkAddresses', { type: 'html' }, { times: 1 })
    emu.inject('checkAddresses', { type: 'html', status: 200 }, { times: 1 })
    const first = await postJson(emu, CHECK_URL, {})
    expect(first.status).toBe(502)
    expect(first.headers.get('content-type')).toMatch(/^text\/html/)
    expect(await first.text()).toContain('<html>')
    expect((await postJson(emu, CHECK_URL, {})).status).toBe(200)
  })

  it('reset makes the in-process fetch reject like undici, and handle reject', async () => {
    const emu = createEmulator()
    emu.inject('serviceToken', { type: 'reset' }, { times: 2 })
    const error: unknown = await postJson(emu, TOKEN_URL, {}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(TypeError)
    expect(error).toMatchObject({ message: 'fetch failed', cause: { code: 'ECONNRESET' } })
    await expect(emu.handle(new Request(TOKEN_URL, { method: 'POST' }))).rejects.toBeInstanceOf(TypeError)
    expect((await postJson(emu, TOKEN_URL, { appid: 'demo-app', secret: 'demo-secret' })).status).toBe(200)
  })

  it('api-error answers any AnyWeb code, such as the ones the emulator cannot produce by itself', async () => {
    const emu = createEmulator()
    emu.inject('checkAddresses', { type: 'api-error', code: 'A108P006', message: 'user has not authorised' }, { times: 1 })
    emu.inject('checkAddresses', { type: 'api-error', code: 'A108B001', status: 500 }, { times: 1 })
    emu.inject('checkAddresses', { type: 'api-error', code: 'A108P001' }, { times: 1 })
    expect(await json(await postJson(emu, CHECK_URL, {}))).toEqual({ code: 'A108P006', message: 'user has not authorised', data: null })
    const second = await postJson(emu, CHECK_URL, {})
    expect(second.status).toBe(500)
    expect((await json(second)).code).toBe('A108B001')
    expect((await json(await postJson(emu, CHECK_URL, {}))).code).toBe('A108P001')
    expect(emu.stats().authFailures).toBe(1)
  })

  it('bad-grant answers code 1000 with a broken grant that fails the schema', async () => {
    const kinds: BadGrantKind[] = [
      'missing-expires-in',
      'zero-expires-in',
      'negative-expires-in',
      'string-expires-in',
      'null-expires-in',
      'empty-token',
      'missing-token',
      'non-string-token',
      'missing-data',
      'null-data',
    ]
    const emu = createEmulator()
    for (const kind of kinds) {
      emu.inject('serviceToken', { type: 'bad-grant', kind }, { times: 1 })
      const body = await json(await postJson(emu, TOKEN_URL, { appid: 'demo-app', secret: 'demo-secret' }))
      expect(body.code).toBe(1000)
      expect(schemaProblems('ServiceTokenSuccess', body), kind).not.toEqual([])
    }
    emu.inject('serviceToken', { type: 'bad-grant', kind: 'huge-expires-in' }, { times: 1 })
    const huge = await json(await postJson(emu, TOKEN_URL, {}))
    expect((huge.data as { expiresIn: number }).expiresIn).toBeGreaterThan(366 * 24 * 3600)
    const { serviceToken } = huge.data as { serviceToken: string }
    expect((await check(emu, serviceToken)).code).toBe('A108P001')

    emu.inject('serviceToken', { type: 'bad-grant', data: { serviceToken: 'x', expiresIn: 'soon' } }, { times: 1 })
    expect(await json(await postJson(emu, TOKEN_URL, {}))).toEqual({
      code: 1000,
      message: 'success',
      data: { serviceToken: 'x', expiresIn: 'soon' },
    })
    expect(emu.stats().tokensIssued).toBe(0)
    expectConfigError(() => emu.inject('checkAddresses', { type: 'bad-grant', kind: 'empty-token' }), 'fault.type')
    expectConfigError(() => emu.inject('all', { type: 'bad-grant', kind: 'empty-token' }), 'fault.type')
    expectConfigError(() => emu.inject('serviceToken', { type: 'bad-grant', kind: 'nope' as BadGrantKind }), 'fault.kind')
    expectConfigError(() => emu.inject('serviceToken', { type: 'bad-grant', data: 1n }), 'fault.data')
  })

  it('queues faults in order, honours times and endpoints, and clearFaults removes them', async () => {
    const emu = createEmulator()
    emu.inject('all', { type: 'status', status: 502 }, { times: 1 })
    emu.inject('serviceToken', { type: 'rate-limit' }, { times: 1 })
    expect((await postJson(emu, CHECK_URL, {})).status).toBe(502)
    expect((await postJson(emu, CHECK_URL, {})).status).toBe(200)
    expect((await postJson(emu, TOKEN_URL, {})).status).toBe(429)
    expect((await postJson(emu, TOKEN_URL, {})).status).toBe(200)
    emu.inject('all', { type: 'status' })
    for (let i = 0; i < 3; i++) expect((await postJson(emu, TOKEN_URL, {})).status).toBe(503)
    expect((await emu.fetch('/__emulator/stats')).status).toBe(200) // never faulted
    expect((await emu.fetch('/elsewhere', { method: 'POST' })).status).toBe(404)
    emu.clearFaults()
    expect((await postJson(emu, TOKEN_URL, {})).status).toBe(200)
    expect(emu.stats().faultsServed).toBe(5)
  })

  it('rejects invalid faults and inject options', () => {
    const emu = createEmulator()
    expectConfigError(() => emu.inject('nowhere' as 'all', { type: 'hang' }), 'endpoint')
    expectConfigError(() => emu.inject('all', { type: 'meteor' } as unknown as Fault), 'fault.type')
    expectConfigError(() => emu.inject('all', null as unknown as Fault), 'fault')
    expectConfigError(() => emu.inject('all', { type: 'latency', ms: -1 }), 'fault.ms')
    expectConfigError(() => emu.inject('all', { type: 'rate-limit', retryAfter: 1.5 }), 'fault.retryAfter')
    expectConfigError(() => emu.inject('all', { type: 'html', status: 500 as 502 }), 'fault.status')
    expectConfigError(() => emu.inject('all', { type: 'api-error', code: '' }), 'fault.code')
    expectConfigError(() => emu.inject('all', { type: 'hang' }, { times: 0 }), 'options.times')
    expectConfigError(() => emu.inject('all', { type: 'hang' }, { times: 1.5 }), 'options.times')
  })
})

describe('responses conform to openapi.yaml', () => {
  it('the checker can fail', () => {
    expect(schemaProblems('ServiceTokenSuccess', { code: '1000', message: 'success', data: { serviceToken: 't', expiresIn: 1 } })).not.toEqual([])
    expect(schemaProblems('ServiceTokenSuccess', { code: 1000, message: 'success', data: { serviceToken: 't', expiresIn: 0 } })).not.toEqual([])
    expect(schemaProblems('ServiceTokenError', { code: 1000, message: 'x' })).not.toEqual([])
    expect(schemaProblems('CheckAddressesSuccess', { code: 1000, message: 'ok', data: { u: [1] } })).not.toEqual([])
    expect(schemaProblems('CheckAddressesError', { message: 'x' })).not.toEqual([])
    const good: unknown = { code: 1000, message: 'success', data: { serviceToken: 't', expiresIn: 7200 } }
    expect(conforms('ServiceTokenSuccess', good)).toBe(true)
    if (conforms('ServiceTokenSuccess', good)) {
      expectTypeOf(good).toEqualTypeOf<components['schemas']['ServiceTokenSuccess']>()
      expectTypeOf(good.data.expiresIn).toBeNumber()
    }
  })

  it('every answer of both endpoints, success and each error code, at HTTP 200 and at errorStatus 4xx', async () => {
    for (const errorStatus of [200, 401]) {
      const time = clock()
      const emu = createEmulator({ now: time.now, errorStatus, reissue: { policy: 'invalidate-previous', graceMs: 10 } })
      const token = await getToken(emu)
      const superseded = await getToken(emu)
      const current = await getToken(emu)
      time.advance(10)
      const form = new FormData()
      form.set('appid', 'demo-app')
      form.set('secret', 'demo-secret')
      const cases: Array<[Operation, string, () => Promise<Response>]> = [
        ['serviceToken', '1000 json', () => postJson(emu, TOKEN_URL, { appid: 'demo-app', secret: 'demo-secret' })],
        ['serviceToken', '1000 multipart', () => emu.fetch(TOKEN_URL, { method: 'POST', body: form })],
        ['serviceToken', 'A108P002', () => postJson(emu, TOKEN_URL, { secret: 'demo-secret' })],
        ['serviceToken', 'A108P002', () => postJson(emu, TOKEN_URL, '{')],
        ['serviceToken', 'A108P003', () => postJson(emu, TOKEN_URL, { appid: 'demo-app' })],
        ['serviceToken', 'A108P004', () => postJson(emu, TOKEN_URL, { appid: 'demo-app', secret: 'x' })],
        ['serviceToken', 'A108P005', () => postJson(emu, TOKEN_URL, { appid: 'x', secret: 'x' })],
        ['serviceToken', 'METHOD_NOT_ALLOWED', () => emu.fetch(TOKEN_URL)],
        ['checkAddresses', '1000', () => postJson(emu, CHECK_URL, { serviceToken: current, group: { u: ['a', 'b'] } })],
        ['checkAddresses', '1000', () => postJson(emu, CHECK_URL, { serviceToken: current, group: {} })],
        ['checkAddresses', 'A108P001', () => postJson(emu, CHECK_URL, { serviceToken: token, group: {} })],
        ['checkAddresses', 'A108P001', () => postJson(emu, CHECK_URL, { serviceToken: superseded, group: {} })],
        ['checkAddresses', 'A108P001', () => postJson(emu, CHECK_URL, { group: {} })],
        ['checkAddresses', 'A108P007', () => postJson(emu, CHECK_URL, { serviceToken: current, group: [] })],
        ['checkAddresses', 'A108P007', () => postJson(emu, CHECK_URL, '{"serviceToken":')],
        ['checkAddresses', 'METHOD_NOT_ALLOWED', () => emu.fetch(CHECK_URL, { method: 'DELETE' })],
      ]
      for (const code of ['A108P006', 'A108B001', 'A108B002']) {
        cases.push([
          'checkAddresses',
          code,
          () => {
            emu.inject('checkAddresses', { type: 'api-error', code }, { times: 1 })
            return postJson(emu, CHECK_URL, {})
          },
        ])
      }
      const seen = new Set<string>()
      for (const [operation, expected, send] of cases) {
        const response = await send()
        const body = (await response.clone().json()) as Envelope
        expect(String(body.code), `${operation} ${expected}`).toBe(expected.split(' ')[0])
        expect(await responseProblems(operation, response), `${operation} ${expected} @${errorStatus}`).toEqual([])
        seen.add(String(body.code))
      }
      expect([...seen].sort()).toEqual(
        ['1000', 'A108B001', 'A108B002', 'A108P001', 'A108P002', 'A108P003', 'A108P004', 'A108P005', 'A108P006', 'A108P007', 'METHOD_NOT_ALLOWED'].sort(),
      )
    }
  })

  it('fault answers that imitate broken upstreams deliberately do not conform', async () => {
    const emu = createEmulator()
    const faults: Fault[] = [
      { type: 'status' },
      { type: 'rate-limit' },
      { type: 'malformed-json' },
      { type: 'html' },
      { type: 'html', status: 200 },
      { type: 'bad-grant', kind: 'zero-expires-in' },
    ]
    for (const fault of faults) {
      emu.inject('serviceToken', fault, { times: 1 })
      expect(await responseProblems('serviceToken', await postJson(emu, TOKEN_URL, {})), fault.type).not.toEqual([])
    }
  })
})

describe('listen() on Node', () => {
  const servers: EmulatorServer[] = []
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.close()))
  })
  const start = async (emu: Emulator): Promise<EmulatorServer> => {
    const server = await emu.listen()
    servers.push(server)
    return server
  }

  it('serves real fetch on 127.0.0.1: JSON, urlencoded and multipart, checkAddresses, stats', async () => {
    const emu = createEmulator({ users: { u: ['cfx:mine'] } })
    const server = await start(emu)
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const viaJson = await fetch(`${server.url}/service/serviceToken`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ appid: 'demo-app', secret: 'demo-secret' }),
    })
    expect(viaJson.status).toBe(200)
    const { serviceToken } = (await json(viaJson)).data as { serviceToken: string }
    const form = new FormData()
    form.set('appid', 'demo-app')
    form.set('secret', 'demo-secret')
    expect((await json(await fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: form }))).code).toBe(1000)
    const urlencoded = new URLSearchParams({ appid: 'demo-app', secret: 'wrong' })
    expect((await json(await fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: urlencoded }))).code).toBe('A108P004')
    const checked = await fetch(`${server.url}/service/checkAddresses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ serviceToken, group: { u: ['cfx:mine', 'cfx:theirs'] } }),
    })
    expect(await responseProblems('checkAddresses', checked.clone())).toEqual([])
    expect((await json(checked)).data).toEqual({ u: ['cfx:theirs'] })
    expect((await fetch(`${server.url}/nope`)).status).toBe(404)
    const stats = (await (await fetch(`${server.url}/__emulator/stats`)).json()) as EmulatorStats
    expect(stats).toEqual({ tokensIssued: 2, requests: { serviceToken: 3, checkAddresses: 1, other: 1 }, authFailures: 0, faultsServed: 0 })
  })

  it('hang: the client aborts quickly; close() ends a hanging connection at once', async () => {
    const emu = createEmulator()
    const server = await start(emu)
    emu.inject('serviceToken', { type: 'hang' })
    const controller = new AbortController()
    const aborted = fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{}', signal: controller.signal })
    await expect.poll(() => emu.stats().faultsServed).toBe(1)
    controller.abort()
    await expect(aborted).rejects.toMatchObject({ name: 'AbortError' })

    const hanging = fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{}' })
    await expect.poll(() => emu.stats().faultsServed).toBe(2)
    const started = performance.now()
    await server.close()
    expect(performance.now() - started).toBeLessThan(1000)
    await expect(hanging).rejects.toBeInstanceOf(TypeError)
    await server.close() // idempotent
    await expect(fetch(`${server.url}/__emulator/stats`)).rejects.toBeInstanceOf(TypeError)
  })

  it('reset destroys the socket; the next request works', async () => {
    const emu = createEmulator()
    const server = await start(emu)
    emu.inject('serviceToken', { type: 'reset' }, { times: 1 })
    await expect(fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{}' })).rejects.toBeInstanceOf(TypeError)
    const after = await fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{"appid":"demo-app","secret":"demo-secret"}' })
    expect((await json(after)).code).toBe(1000)
  })

  it('serves a fault over HTTP with its headers (429 Retry-After)', async () => {
    const emu = createEmulator()
    const server = await start(emu)
    emu.inject('serviceToken', { type: 'rate-limit', retryAfter: 3 }, { times: 1 })
    const response = await fetch(`${server.url}/service/serviceToken`, { method: 'POST', body: '{}' })
    expect(response.status).toBe(429)
    expect(response.headers.get('retry-after')).toBe('3')
    await response.arrayBuffer()
  })

  it('closes promptly with idle keep-alive connections open', async () => {
    const emu = createEmulator()
    const server = await start(emu)
    for (let i = 0; i < 3; i++) await (await fetch(`${server.url}/__emulator/stats`)).arrayBuffer()
    const started = performance.now()
    await server.close()
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('several servers share one emulator state; invalid listen options throw', async () => {
    const emu = createEmulator()
    const [a, b] = [await start(emu), await start(emu)]
    expect(a.url).not.toBe(b.url)
    const grant = await json(await fetch(`${a.url}/service/serviceToken`, { method: 'POST', body: '{"appid":"demo-app","secret":"demo-secret"}' }))
    const { serviceToken } = grant.data as { serviceToken: string }
    const checked = await fetch(`${b.url}/service/checkAddresses`, { method: 'POST', body: JSON.stringify({ serviceToken, group: {} }) })
    expect((await json(checked)).code).toBe(1000)
    await expect(emu.listen({ port: -1 })).rejects.toBeInstanceOf(ConfigurationError)
    await expect(emu.listen({ hostname: '' })).rejects.toBeInstanceOf(ConfigurationError)
    const taken = Number(new URL(a.url).port)
    await expect(emu.listen({ port: taken })).rejects.toMatchObject({ code: 'EADDRINUSE' })
  })
})

const root = fileURLToPath(new URL('..', import.meta.url))
const smoke = fileURLToPath(new URL('./helpers/emulator-smoke.ts', import.meta.url))

function run(command: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, timeout: 15_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr })
    })
  })
}

describe.each([
  ['Deno', `${root}node_modules/.bin/deno`, ['run', '-A', '--sloppy-imports', smoke], 'BodyError'],
  ['Bun', `${root}node_modules/.bin/bun`, [smoke], 'TypeError'],
])('listen() on %s (smoke run of test/helpers/emulator-smoke.ts)', (_, command, args, brokenOutcome) => {
  it('issues and checks tokens, aborts a hang, resets, and closes promptly', async () => {
    const { code, stdout, stderr } = await run(command, args)
    expect(code, stderr).toBe(0)
    const results = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>
    expect(results).toMatchObject({
      url: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
      tokenCode: 1000,
      checkCode: 1000,
      hangAborted: 'AbortError',
      // Deno's server cannot reset a socket: it sends headers, then breaks the body.
      reset: brokenOutcome,
      hangAtClose: brokenOutcome,
      stats: { tokensIssued: 1, faultsServed: 3 },
    })
    expect(results.closeMs).toBeLessThan(1000)
  })
})

describe('onRequest', () => {
  it('reports each request with its status and envelope code, never the token or the secret', async () => {
    const entries: unknown[] = []
    const emu = createEmulator({ onRequest: (entry) => entries.push(entry) })
    const grant = await (
      await emu.fetch('/service/serviceToken', { method: 'POST', body: JSON.stringify({ appid: 'demo-app', secret: 'demo-secret' }) })
    ).json()
    const token = (grant as { data: { serviceToken: string } }).data.serviceToken
    const answer = await emu.fetch('/service/checkAddresses?x=1', { method: 'POST', body: JSON.stringify({ serviceToken: 'bad', group: {} }) })
    expect(await answer.json()).toMatchObject({ code: 'A108P001' })
    await emu.fetch('/nowhere')
    expect(entries).toEqual([
      { method: 'POST', path: '/service/serviceToken', status: 200, code: 1000, durationMs: expect.any(Number) },
      { method: 'POST', path: '/service/checkAddresses', status: 200, code: 'A108P001', durationMs: expect.any(Number) },
      { method: 'GET', path: '/nowhere', status: 404, code: 'NOT_FOUND', durationMs: expect.any(Number) },
    ])
    expect(JSON.stringify(entries)).not.toContain(token)
    expect(JSON.stringify(entries)).not.toContain('demo-secret')
  })

  it('reports a reset as status 0 and survives a throwing listener', async () => {
    const statuses: number[] = []
    const emu = createEmulator({
      onRequest: ({ status }) => {
        statuses.push(status)
        throw new Error('logger bug')
      },
    })
    emu.inject('serviceToken', { type: 'reset' }, { times: 1 })
    await expect(emu.fetch('/service/serviceToken', { method: 'POST', body: '{}' })).rejects.toThrow(TypeError)
    const after = await emu.fetch('/service/serviceToken', { method: 'POST', body: '{}' })
    expect(after.status).toBe(200)
    expect(statuses).toEqual([0, 200])
  })
})
