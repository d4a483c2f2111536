/**
 * Hardening of the core (issue 17): the secret and the token go nowhere else, nothing wedges, and an API
 * that refuses every token cannot make the manager storm the token endpoint. Every case runs against
 * real servers on 127.0.0.1.
 */
import { inspect } from 'node:util'
import { afterEach, describe, expect, it } from 'vitest'
import { withServiceToken } from '../../adapters/fetch.js'
import { createEmulator } from '../../src/emulator/index.js'
import { wechat } from '../../src/presets/index.js'
import { ConfigurationError, createTokenManager, ErrorCode, memoryStore } from '../../src/index.js'
import type { AnyWebManagerOptions, TokenManager, TokenManagerEvent, TokenStore } from '../../src/index.js'
import { redisStore } from '../../src/redis-store.js'
import { json, startServer } from '../helpers/http-server.js'

const APPID = 'hardening-app'
/** Quotes, a slash, a space, non-ASCII, `+`, `&` and `%`: every way of quoting it gives a different text. */
const SECRET = 'Hx7/"echo" ü+&=%-S3CRET'
/** How a server may quote the secret when it echoes a request. */
const QUOTED = [
  SECRET,
  JSON.stringify(SECRET).slice(1, -1),
  JSON.stringify(SECRET).slice(1, -1).replaceAll('/', '\\/'),
  JSON.stringify(SECRET).slice(1, -1).replace('ü', '\\u00fc'),
  JSON.stringify(SECRET).slice(1, -1).replace('ü', '\\u00FC'),
  encodeURIComponent(SECRET),
  encodeURIComponent(SECRET).toLowerCase(),
  new URLSearchParams({ v: SECRET }).toString().slice(2),
]

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function server(handler: Parameters<typeof startServer>[0]) {
  const started = await startServer(handler)
  cleanups.push(() => started.close())
  return started
}

function manager(options: Partial<AnyWebManagerOptions> & { baseUrl: string }) {
  const events: TokenManagerEvent[] = []
  const created = createTokenManager({
    appid: APPID,
    secret: SECRET,
    retry: { attempts: 1 },
    onEvent: (event) => events.push(event),
    ...options,
  })
  cleanups.push(() => created.close())
  return { manager: created, events }
}

/** What a user could print or serialise, none of it holding the secret however quoted. */
function expectSecretNowhere(...things: unknown[]): void {
  for (const thing of things) {
    const shown = [inspect(thing, { depth: 10, showHidden: true }), JSON.stringify(thing), String(thing)].join('\n')
    for (const quoted of QUOTED) expect(shown.toLowerCase()).not.toContain(quoted.toLowerCase())
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  return promise.then(
    () => {
      throw new Error('expected a rejection')
    },
    (error: unknown) => error as Error & Record<string, unknown>,
  )
}

/** Settles with the promise's outcome, or with 'pending' after `ms` (a bounded wait, not a sleep). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: ReturnType<typeof setTimeout>
  const deadline = new Promise<'pending'>((resolve) => {
    timer = setTimeout(() => resolve('pending'), ms)
  })
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer))
}

const grant = (serviceToken: unknown) => ({ code: 1000, message: 'success', data: { serviceToken, expiresIn: 7200 } })

describe('token requests never follow redirects', () => {
  it.each([301, 302, 303, 307, 308])('HTTP %i: a final ERR_TOKEN_REDIRECT naming the status and the target origin only', async (status) => {
    const elsewhere = await server((_request, response) => json(response, grant('token-from-elsewhere')))
    const api = await server((_request, response) => {
      response.writeHead(status, { location: `${elsewhere.url}/steal?x=1`, 'content-type': 'text/plain' })
      response.end('BODY-MARKER moved')
    })
    const { manager: m, events } = manager({ baseUrl: api.url })
    const error = await rejection(m.getToken())
    expect(error).toMatchObject({ code: ErrorCode.Redirect, status, retryable: false })
    expect(error.message).toContain(`HTTP ${status}`)
    expect(error.message).toContain(elsewhere.url)
    expect(error.message).toContain('`baseUrl`')
    expect(error.message).not.toContain('/steal')
    expect(error.message).not.toContain('BODY-MARKER')
    expect(elsewhere.received).toHaveLength(0)
    // Final: the cooldown answers the next caller without a new request.
    await expect(m.getToken()).rejects.toMatchObject({ code: ErrorCode.Redirect })
    expect(api.received).toHaveLength(1)
    expect(m.peek()).toBeUndefined()
    expectSecretNowhere(error, events)
  })

  it('also through a custom fetch, and when that fetch follows anyway', async () => {
    const elsewhere = await server((_request, response) => json(response, grant('token-from-elsewhere')))
    const api = await server((_request, response) => {
      response.writeHead(308, { location: elsewhere.url })
      response.end()
    })
    const polite = manager({ baseUrl: api.url, fetch: (input, init) => globalThis.fetch(input, init) })
    await expect(polite.manager.getToken()).rejects.toMatchObject({ code: ErrorCode.Redirect, status: 308 })
    expect(elsewhere.received).toHaveLength(0)
    // A fetch that ignores `redirect: 'manual'`: the secret may have gone, but its token is not taken.
    const follower = manager({
      baseUrl: api.url,
      fetch: (input) => globalThis.fetch(new Request(input as Request, { redirect: 'follow' })),
    })
    const error = await rejection(follower.manager.getToken())
    expect(error).toMatchObject({ code: ErrorCode.Redirect, retryable: false })
    expect(error.message).toContain(elsewhere.url)
    expect(follower.manager.peek()).toBeUndefined()
  })
})

describe('the secret never appears in anything the library emits', () => {
  /** A token endpoint (or a proxy) that reflects the request in its answer, quoted every way. */
  const echo = (status: number, code: string) =>
    server((request, response) => {
      const body = request.body
      const message = `bad request: ${body} | ${encodeURIComponent(body)} | ${JSON.stringify(body)} | ${body.replaceAll('/', '\\/')}`
      json(response, { code: code === 'echo' ? `${code}:${SECRET}` : code, message }, status)
    })

  it.each([
    [200, 'A108P004'],
    [200, 'A108B999'],
    [500, 'A108B999'],
    [400, 'echo'],
  ])('HTTP %i with %s echoing the body: not in the message, serverMessage, inspect, JSON or events', async (status, code) => {
    const api = await echo(status, code)
    const { manager: m, events } = manager({ baseUrl: api.url })
    const error = await rejection(m.getToken())
    expect(api.received[0]!.body).toContain(JSON.stringify(SECRET))
    expect(error.code).toMatch(/^ERR_ANYWEB_/)
    expect(String(error.serverMessage)).toContain('[redacted]')
    expectSecretNowhere(error, error.message, error.serverMessage, error.serverCode, events)
  })

  it('nor in the error of a custom fetch that puts the request into its error', async () => {
    const api = await server((_request, response) => json(response, grant('t')))
    const { manager: m, events } = manager({
      baseUrl: api.url,
      fetch: async (input) => {
        const body = await (input as Request).text()
        throw new TypeError(`proxy refused ${body}`, { cause: new Error(`upstream said ${encodeURIComponent(body)}`) })
      },
    })
    const error = await rejection(m.getToken())
    expect(error.code).toBe(ErrorCode.Network)
    expectSecretNowhere(error, events)
  })

  // Places no scan of strings reaches: a URL, a Request, a Map, a cause chain deeper than any scan goes.
  it.each([
    ['a URL', (url: string) => Object.assign(new Error('boom'), { url: new URL(url) })],
    ['a Request', (url: string) => Object.assign(new Error('boom'), { request: new Request(url) })],
    ['a Map', (url: string) => Object.assign(new Error('boom'), { meta: new Map([['url', url]]) })],
    ['a cause six deep', (url: string) => Array.from({ length: 6 }).reduce<Error>((inner, _, i) => new Error(`wrap ${i}`, { cause: inner }), new Error(url))],
  ])('nor in a network error that holds the request in %s (the secret in the query, as WeChat wants it)', async (_label, make) => {
    const api = await server((_request, response) => json(response, grant('t')))
    const events: TokenManagerEvent[] = []
    const fetch = async (input: RequestInfo | URL): Promise<Response> => {
      throw make(String(input))
    }
    const preset = wechat({ appid: APPID, secret: SECRET, baseUrl: api.url, fetch })
    const w = createTokenManager({ ...preset, onEvent: (event) => events.push(event), retry: { attempts: 1 } })
    const error = await rejection(w.getToken())
    w.close()
    expect(error.code).toBe(ErrorCode.Network)
    expect(error.cause).toBeInstanceOf(Error)
    expectSecretNowhere(error, events)
  })
})

describe('configuration errors quote no value that may be secret', () => {
  it('neither a number given as secret nor a secret given as baseUrl', () => {
    const thrown = (options: object): ConfigurationError => {
      try {
        createTokenManager(options as never)
      } catch (error) {
        return error as ConfigurationError
      }
      throw new Error('expected a ConfigurationError')
    }
    const numeric = thrown({ appid: APPID, secret: 80_417_226_913 })
    expect(numeric).toMatchObject({ code: ErrorCode.InvalidOption, option: 'secret' })
    expect(numeric.message).not.toContain('80417226913')
    for (const baseUrl of [SECRET, 'sk:8f3a9c7e1b', 'https://host name/x']) {
      const error = thrown({ appid: APPID, secret: 's', baseUrl })
      expect(error.option).toBe('baseUrl')
      expect(error.message).not.toContain(baseUrl)
      expect(error.message).not.toContain('8f3a9c7e1b')
    }
  })

  it('refuses a baseUrl with userinfo at construction, without the password, before any request', async () => {
    const api = await server((_request, response) => json(response, grant('t')))
    const withUserinfo = api.url.replace('http://', 'http://ops:pa55-w0rd@')
    let error: unknown
    try {
      createTokenManager({ appid: APPID, secret: SECRET, baseUrl: withUserinfo })
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as ConfigurationError).option).toBe('baseUrl')
    expect(String(error) + inspect(error)).not.toContain('pa55-w0rd')
    expect(api.received).toHaveLength(0)
  })
})

describe('tokens are checked where they enter', () => {
  const bad: Array<[string, unknown]> = [
    ['CR/LF', 'abc\r\nx-injected: 1'],
    ['a space', 'abc def'],
    ['non-Latin-1', 'токен'],
    ['Latin-1 beyond ASCII', 'tökén'],
    ['9,000 characters', 'a'.repeat(9_000)],
    ['an empty string', ''],
  ]

  it.each(bad)('from AnyWeb: %s is ERR_TOKEN_RESPONSE, not cached, not quoted', async (_what, token) => {
    const api = await server((_request, response) => json(response, grant(token)))
    const { manager: m } = manager({ baseUrl: api.url })
    const error = await rejection(m.getToken())
    expect(error.code).toBe(ErrorCode.InvalidResponse)
    if (typeof token === 'string' && token !== '') expect(error.message).not.toContain(token.slice(0, 3))
    expect(m.peek()).toBeUndefined()
  })

  it('from a custom source (fetching from a loopback server): ERR_TOKEN_RESPONSE', async () => {
    const api = await server((_request, response) => json(response, { token: 'abc\r\nx-injected: 1' }))
    const created = createTokenManager({
      source: async ({ signal }) => {
        const body = (await (await fetch(api.url, { signal })).json()) as { token: string }
        return { token: body.token, expiresIn: 60 }
      },
      retry: { attempts: 1 },
    })
    cleanups.push(() => created.close())
    const error = await rejection(created.getToken())
    expect(error.code).toBe(ErrorCode.InvalidResponse)
    expect(error.message).not.toContain('x-injected')
  })

  it('from a store: a bad stored token is a store-error (ERR_TOKEN_RESPONSE) and a real one is fetched', async () => {
    const emu = createEmulator({ apps: { [APPID]: SECRET } })
    const listening = await emu.listen()
    cleanups.push(() => listening.close())
    for (const token of ['', 'abc\r\ndef', 'tökén']) {
      const store: TokenStore = {
        get: () => ({ token, expiresAt: Date.now() + 3_600_000, issuedAt: Date.now() }),
        set: () => {},
        delete: () => true,
      }
      const { manager: m, events } = manager({ baseUrl: listening.url, store })
      const served = await m.getToken()
      expect(served).toMatch(/^eyJ/)
      const errors = events.filter((event) => event.type === 'store-error')
      expect(errors).toMatchObject([{ operation: 'get', error: { code: ErrorCode.InvalidResponse } }])
      if (token !== '') expect(inspect(errors)).not.toContain(token)
    }
  })
})

describe('every store call is bounded', () => {
  async function emulator() {
    const emu = createEmulator({ apps: { [APPID]: SECRET } })
    const listening = await emu.listen()
    cleanups.push(() => listening.close())
    return { emu, url: listening.url }
  }

  /** A store whose calls hang while `hanging` is set, and work from memory otherwise. */
  function hangingStore() {
    const inner = memoryStore()
    const state = { hanging: true }
    const never = new Promise<never>(() => {})
    const store: TokenStore = {
      get: (key) => (state.hanging ? never : inner.get(key)),
      set: (key, value) => (state.hanging ? never : inner.set(key, value)),
      delete: (key, token) => (state.hanging ? never : inner.delete(key, token)),
    }
    return { store, state, inner }
  }

  it('a hanging get: the manager goes on alone with one store-error, and recovers when the store answers', async () => {
    const { emu, url } = await emulator()
    const { store, state, inner } = hangingStore()
    const { manager: m, events } = manager({ baseUrl: url, store, storeTimeout: 50, refusalBackoff: { baseDelay: 0 } })
    const first = await within(m.getToken(), 2_000)
    expect(first).toMatch(/^eyJ/)
    expect(emu.stats().tokensIssued).toBe(1)
    m.invalidate(first as string)
    expect(await within(m.getToken(), 2_000)).toMatch(/^eyJ/)
    const storeEvents = () => events.filter((event) => event.type.startsWith('store-'))
    expect(storeEvents()).toMatchObject([{ type: 'store-error', operation: 'get', error: { code: 'ERR_STORE_TIMEOUT' } }])
    state.hanging = false
    m.invalidate(m.peek()!.token)
    const third = await within(m.getToken(), 2_000)
    await new Promise((resolve) => setTimeout(resolve, 10))
    expect(storeEvents().map((event) => event.type)).toEqual(['store-error', 'store-recovered'])
    expect(inner.get(`anyweb:${url}:${APPID}`)).toMatchObject({ token: third })
  })

  it('close() releases every waiter with ERR_CLOSED while the store hangs', async () => {
    const { url } = await emulator()
    const { store } = hangingStore()
    const { manager: m } = manager({ baseUrl: url, store, storeTimeout: 60_000 })
    const waiting = Array.from({ length: 5 }, () => m.getToken().catch((error: unknown) => error))
    await new Promise((resolve) => setTimeout(resolve, 20))
    m.close()
    const settled = await within(Promise.all(waiting), 1_000)
    expect(settled).not.toBe('pending')
    for (const error of settled as unknown[]) expect(error).toMatchObject({ code: ErrorCode.Closed })
  })

  it('a hanging store.refresh is bounded too, and the manager fetches alone', async () => {
    const { emu, url } = await emulator()
    const store: TokenStore = { ...memoryStore(), refresh: () => new Promise(() => {}) }
    // refresh gets storeTimeout plus the longest token request: 50 + 1 × 50 ms here.
    const { manager: m, events } = manager({ baseUrl: url, store, storeTimeout: 50, timeout: 50 })
    expect(await within(m.getToken(), 2_000)).toMatch(/^eyJ/)
    expect(emu.stats().tokensIssued).toBe(1)
    expect(events.filter((event) => event.type === 'store-error')).toMatchObject([{ operation: 'refresh' }])
  })
})

describe('every duration option is within what timers can do', () => {
  const durations = [
    'timeout',
    'refreshWindow',
    'expiryMargin',
    'minRefreshInterval',
    'cooldown',
    'storeTimeout',
    'retry.baseDelay',
    'retry.maxDelay',
    'refusalBackoff.baseDelay',
    'refusalBackoff.maxDelay',
  ]
  const option = (path: string, value: number): object => {
    const [head, tail] = path.split('.') as [string, string | undefined]
    return tail === undefined ? { [head]: value } : { [head]: { [tail]: value } }
  }

  it.each(durations)('%s: 2**31 is a ConfigurationError, 2**31 - 1 is accepted', (path) => {
    const base = { appid: APPID, secret: SECRET, baseUrl: 'http://127.0.0.1:1' }
    expect(() => createTokenManager({ ...base, ...option(path, 2 ** 31) })).toThrow(ConfigurationError)
    expect(() => createTokenManager({ ...base, ...option(path, 2 ** 31) })).toThrow(`\`${path}\``)
    createTokenManager({ ...base, ...option(path, 2 ** 31 - 1) }).close()
  })

  it('timeout: 2**31 no longer fires at once against a slow endpoint', async () => {
    const api = await server((_request, response) => {
      setTimeout(() => json(response, grant('slow-token')), 30)
    })
    expect(() => createTokenManager({ appid: APPID, secret: SECRET, baseUrl: api.url, timeout: 2 ** 31 })).toThrow(
      ConfigurationError,
    )
    expect(api.received).toHaveLength(0)
  })

  it('the Redis store refuses them too', () => {
    const client = { call: async () => null }
    for (const name of ['lockTtl', 'pollInterval', 'commandTimeout']) {
      expect(() => redisStore(client, { [name]: 2 ** 31 })).toThrow(ConfigurationError)
    }
  })
})

describe('the worst case is stated', () => {
  it('a hanging endpoint: the error says how many attempts over how long', async () => {
    const api = await server(() => {
      // Never answers.
    })
    const { manager: m } = manager({ baseUrl: api.url, timeout: 60, retry: { attempts: 3, baseDelay: 0, maxDelay: 0 } })
    const error = await rejection(m.getToken())
    expect(error.code).toBe(ErrorCode.Timeout)
    expect(error.message).toContain('60 ms')
    expect(error.message).toMatch(/attempt 3 of 3 .*, \d+ ms since the first/)
    expect(Number(/(\d+) ms since the first/.exec(error.message)![1])).toBeGreaterThanOrEqual(120)
    expect(api.received).toHaveLength(3)
  })
})

describe('a 404 from the token endpoint is a configuration error', () => {
  it('final, naming the URL tried and that baseUrl is an origin', async () => {
    const api = await server((_request, response) => {
      response.writeHead(404, { 'content-type': 'text/html' })
      response.end('<h1>Not Found</h1>')
    })
    const { manager: m, events } = manager({ baseUrl: `${api.url}/v1`, retry: { attempts: 3, baseDelay: 0 } })
    const error = await rejection(m.getToken())
    expect(error).toBeInstanceOf(ConfigurationError)
    expect(error).toMatchObject({ code: ErrorCode.InvalidOption, option: 'baseUrl', retryable: false })
    expect(error.message).toContain(`${api.url}/v1/service/serviceToken`)
    expect(error.message).toContain('origin')
    expect(error.message).toContain('https://api.anyweb.cc')
    await expect(m.getToken()).rejects.toBe(error)
    expect(api.received).toHaveLength(1)
    expectSecretNowhere(error, events)
  })
})

describe('a refusing API cannot make the manager storm the token endpoint', () => {
  async function refusingApi(status: 200 | 401) {
    const emu = createEmulator({ apps: { [APPID]: SECRET } })
    emu.inject('checkAddresses', { type: 'api-error', code: 'A108P001', status })
    const listening = await emu.listen()
    cleanups.push(() => listening.close())
    return { emu, url: listening.url }
  }

  function client(m: TokenManager, url: string) {
    const api = withServiceToken(globalThis.fetch, m)
    return async () => {
      const response = await api(`${url}/service/checkAddresses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ group: { u1: ['cfx:aa'] } }),
      })
      return (await response.json()) as { code: unknown }
    }
  }

  it.each([200, 401] as const)('50 sequential calls (HTTP %i A108P001) make at most 10 token requests, each replayed at most once', async (status) => {
    const { emu, url } = await refusingApi(status)
    const { manager: m, events } = manager({ baseUrl: url })
    const call = client(m, url)
    for (let i = 0; i < 50; i++) expect((await call()).code).toBe('A108P001')
    const { requests } = emu.stats()
    console.log(`50 sequential calls refused with HTTP ${status}:`, requests)
    expect(requests.serviceToken).toBeLessThanOrEqual(10)
    expect(requests.checkAddresses).toBeLessThanOrEqual(100)
    expect(events.filter((event) => event.type === 'fresh-token-refused')).toMatchObject([{ refusals: 2 }])
  })

  it('with a clock that moves one second per call, still at most 10 token requests for 50 calls', async () => {
    const { emu, url } = await refusingApi(200)
    let skew = 0
    const { manager: m, events } = manager({ baseUrl: url, now: () => Date.now() + skew })
    const call = client(m, url)
    for (let i = 0; i < 50; i++) {
      expect((await call()).code).toBe('A108P001')
      skew += 1_000
    }
    console.log('50 refused calls, one a second:', emu.stats().requests)
    expect(emu.stats().requests.serviceToken).toBeLessThanOrEqual(10)
    // One event per refusal in a row, each run longer than the last.
    const runs = events.flatMap((event) => (event.type === 'fresh-token-refused' ? [event.refusals] : []))
    expect(runs.length).toBeGreaterThan(1)
    expect(runs).toEqual(runs.map((_, i) => runs[0]! + i))
  })

  it('concurrent callers still collapse to one token request', async () => {
    const { emu, url } = await refusingApi(200)
    const { manager: m } = manager({ baseUrl: url })
    const call = client(m, url)
    await Promise.all(Array.from({ length: 20 }, call))
    // One for the cold start, one after the first refusal.
    expect(emu.stats().requests.serviceToken).toBe(2)
    await Promise.all(Array.from({ length: 20 }, call))
    expect(emu.stats().requests.serviceToken).toBe(2)
    // 20 + 20 replays, then 20 refused with the token the manager keeps: handed back, not resent.
    expect(emu.stats().requests.checkAddresses).toBe(60)
  })

  it('a token revoked once is still replaced at once, and one revoked again later too', async () => {
    const emu = createEmulator({ apps: { [APPID]: SECRET }, users: { u1: ['cfx:aa'] } })
    const listening = await emu.listen()
    cleanups.push(() => listening.close())
    let skew = 0
    const { manager: m } = manager({ baseUrl: listening.url, now: () => Date.now() + skew })
    const call = client(m, listening.url)
    expect((await call()).code).toBe(1000)
    emu.revokeAll()
    expect((await call()).code).toBe(1000)
    skew += 5_000
    emu.revokeAll()
    expect((await call()).code).toBe(1000)
    expect(emu.stats().requests.serviceToken).toBe(3)
  })
})
