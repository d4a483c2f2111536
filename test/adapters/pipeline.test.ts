import type { ServerResponse } from 'node:http'
import { brotliCompressSync, constants as zlib } from 'node:zlib'
import ky from 'ky'
import { afterEach, describe, expect, it } from 'vitest'
import { withServiceToken } from '../../adapters/fetch.js'
import { serviceTokenHooks } from '../../adapters/ky.js'
import { createAnyWebClient } from '../../adapters/openapi-fetch.js'
import { createTokenManager } from '../../src/index.js'
import type { TokenManager } from '../../src/index.js'
import { drivers } from '../helpers/adapter-drivers.js'
import { json, startServer } from '../helpers/http-server.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A real server on 127.0.0.1 and a manager whose tokens come from a counting source. */
async function world(handler: Parameters<typeof startServer>[0]) {
  const api = await startServer(handler)
  let issued = 0
  const manager = createTokenManager({ source: async () => ({ token: `token-${++issued}`, expiresIn: 3600 }), baseUrl: api.url })
  cleanups.push(() => api.close(), () => manager.close())
  return { api, manager, issued: () => issued }
}

const REFUSED = { code: 'A108P001', message: 'serviceToken wrong', data: null }
const OK = { code: 1000, message: 'success', data: null }

/** Answers with a JSON head and a body that trickles a byte every 20 ms and never ends (until the socket closes). */
function trickle(response: ServerResponse): void {
  response.writeHead(200, { 'content-type': 'application/json' })
  response.write('{"code":1000,"items":[')
  const timer = setInterval(() => response.write('1,'), 20)
  response.on('close', () => clearInterval(timer))
}

/** The fetch-shaped clients whose answers reach the caller as a Response. */
function responseClients(manager: TokenManager, answerTimeout?: number) {
  const options = answerTimeout === undefined ? {} : { answerTimeout }
  const wrapped = withServiceToken(fetch, manager, options)
  const kyApi = ky.create({ hooks: serviceTokenHooks(manager, options), throwHttpErrors: false, timeout: false, retry: 0 })
  const client = createAnyWebClient({ manager, ...options })
  return {
    fetch: (url: string, init: RequestInit) => wrapped(url, init),
    ky: (url: string, init: RequestInit) => kyApi(url, init as never) as Promise<Response>,
    'createAnyWebClient (parseAs: stream)': async (url: string, init: RequestInit) => {
      const { response } = await client.POST(new URL(url).pathname as never, { parseAs: 'stream', body: {}, signal: init.signal } as never)
      return response
    },
  }
}

const POST = (signal?: AbortSignal): RequestInit => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', ...(signal ? { signal } : {}) })

describe('inspection is bounded in time and bytes', () => {
  for (const name of ['fetch', 'ky', 'createAnyWebClient (parseAs: stream)'] as const) {
    it(`${name}: a JSON answer that trickles on is handed on, streaming, once answerTimeout has passed`, async () => {
      const { api, manager } = await world((_request, response) => trickle(response))
      const send = responseClients(manager, 100)[name]
      const response = await send(`${api.url}/service/checkAddresses`, POST())
      const reader = response.body!.getReader()
      let text = ''
      // What was read before the hand-over, then more of the stream as it comes.
      while (!text.includes('1,1,1,1,1,1,1,1,1,1,1,1')) text += new TextDecoder().decode((await reader.read()).value)
      expect(text.startsWith('{"code":1000,"items":[')).toBe(true)
      await reader.cancel()
    })
  }

  it('the default answerTimeout hands a trickling answer on within 2 s', async () => {
    const { api, manager } = await world((_request, response) => trickle(response))
    const started = performance.now()
    const response = await withServiceToken(fetch, manager)(`${api.url}/service/checkAddresses`, POST())
    expect(performance.now() - started).toBeLessThan(2_000)
    await response.body!.cancel()
  })

  for (const name of ['fetch', 'ky', 'createAnyWebClient (parseAs: stream)'] as const) {
    it(`${name}: the caller's abort while the answer is being read rejects the call with signal.reason`, async () => {
      const { api, manager } = await world((_request, response) => trickle(response))
      const send = responseClients(manager, 60_000)[name]
      const controller = new AbortController()
      const reason = new Error('caller gave up')
      setTimeout(() => controller.abort(reason), 150)
      await expect(send(`${api.url}/service/checkAddresses`, POST(controller.signal))).rejects.toBe(reason)
    })
  }

  it('a compressed answer that expands past 64 KiB is handed on unjudged, its body streaming (not read whole)', async () => {
    // 256 MiB of JSON in under a kilobyte of brotli.
    const huge = Buffer.alloc(256 * 1024 * 1024, 0x20)
    huge.write('{"code":"A108P001","pad":"', 0)
    huge.write('"}', huge.length - 2)
    const bomb = brotliCompressSync(huge, { params: { [zlib.BROTLI_PARAM_QUALITY]: 5 } })
    expect(bomb.length).toBeLessThan(64 * 1024)
    const { api, manager, issued } = await world((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'br', 'content-length': bomb.length })
      response.end(bomb)
    })
    const before = process.memoryUsage().rss
    let looked = 0
    const response = await withServiceToken(fetch, manager, {
      isAuthError: async (state) => {
        looked++
        return (await state.json()) !== undefined
      },
    })(`${api.url}/service/checkAddresses`, POST())
    // Judged without a body (undefined), so not refused: one token, one request, and far less than the whole read.
    expect(looked).toBe(1)
    expect(issued()).toBe(1)
    expect(api.received).toHaveLength(1)
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024)
    const first = await response.body!.getReader().read()
    expect(new TextDecoder().decode(first.value).startsWith('{"code":"A108P001"')).toBe(true)
  })

  it('an A108P001 that arrives in pieces within the time is still seen, and the call replayed', async () => {
    const { api, manager } = await world((request, response) => {
      const body = JSON.stringify(request.body.includes('token-1') ? REFUSED : OK)
      response.writeHead(200, { 'content-type': 'application/json' })
      response.write(body.slice(0, 10))
      setTimeout(() => response.end(body.slice(10)), 30)
    })
    const response = await withServiceToken(fetch, manager)(`${api.url}/service/checkAddresses`, POST())
    expect(await response.json()).toEqual(OK)
    expect(api.received.map((request) => JSON.parse(request.body).serviceToken)).toEqual(['token-1', 'token-2'])
  })
})

describe('the caller gets real Responses', () => {
  it('a judged answer is a Response for Response’s own methods, with fetch’s url, redirected, status, statusText and headers', async () => {
    const { api, manager } = await world((request, response) => {
      if (request.path === '/old') {
        response.writeHead(307, { location: '/service/checkAddresses' })
        response.end()
        return
      }
      response.writeHead(201, 'Made', { 'content-type': 'application/json', 'x-answer': 'yes' })
      response.end(JSON.stringify(OK))
    })
    const wrapped = withServiceToken(fetch, manager)
    const direct = await wrapped(`${api.url}/service/checkAddresses`, POST())
    const bare = await fetch(`${api.url}/service/checkAddresses`, POST())
    for (const key of ['url', 'redirected', 'status', 'statusText', 'ok', 'type'] as const) expect(direct[key], key).toEqual(bare[key])
    expect(direct.headers.get('x-answer')).toBe('yes')
    expect(direct).toBeInstanceOf(Response)
    expect(await Response.prototype.text.call(direct)).toBe(JSON.stringify(OK))
    await bare.text()

    const moved = await wrapped(`${api.url}/old`, POST())
    const bareMoved = await fetch(`${api.url}/old`, POST())
    for (const key of ['url', 'redirected', 'status', 'statusText'] as const) expect(moved[key], key).toEqual(bareMoved[key])
    expect(moved.redirected).toBe(true)
    expect(moved.clone().url).toBe(bareMoved.url)
    expect(await Response.prototype.json.call(moved.clone())).toEqual(OK)
    await bareMoved.text()
  })
})

/** A server that is also the token endpoint (exact path only), and an AnyWeb manager for it. */
async function anywebWorld(handler: Parameters<typeof startServer>[0]) {
  const api = await startServer((request, response) => {
    if (request.body.includes('"secret"')) json(response, { code: 1000, message: 'success', data: { serviceToken: 'token-1', expiresIn: 3600 } })
    else handler(request, response)
  })
  const manager = createTokenManager({ appid: 'app', secret: 'shh', baseUrl: api.url })
  cleanups.push(() => api.close(), () => manager.close())
  const calls = () => api.received.filter((request) => !request.body.includes('"secret"'))
  return { api, manager, calls }
}

describe.each(drivers)('$name: lossless placement and the token endpoint under every spelling', (driver) => {
  it('a JSON body that already holds serviceToken: only its value changes, every other byte kept', async () => {
    const { api, manager } = await world((_request, response) => json(response, OK))
    const send = driver.client(manager)
    const body = '{ "amount": 12345678901234567890, "price": 1.50,\n  "serviceToken": "placeholder", "x": "\\u00e9" }'
    await send({ url: `${api.url}/service/checkAddresses`, body, headers: { 'content-type': 'application/json' } })
    expect(api.received[0]!.body).toBe(body.replace('"placeholder"', '"token-1"'))
  })

  it('a form that holds the field: only that pair changes, every other pair kept as written', async () => {
    const { api, manager } = await world((_request, response) => json(response, OK))
    const send = driver.client(manager)
    const body = 'a=%E9&b=%zz&serviceToken=old&c=x+y'
    await send({ url: `${api.url}/service/checkAddresses`, body, headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(api.received[0]!.body).toBe('a=%E9&b=%zz&serviceToken=token-1&c=x+y')
  })

  const spellings = ['/service/serviceToken/', '/SERVICE/SERVICETOKEN', '/service//serviceToken', '/service/%73erviceToken', '/service/./serviceToken', '/x/../service/serviceToken', '/service/serviceToken;a=b', '/service/%2573erviceToken']
  it('the token endpoint never gets the token, however its path is spelled', async () => {
    const { api, manager, calls } = await anywebWorld((_request, response) => json(response, OK))
    const send = driver.client(manager)
    await send({ url: `${api.url}/service/checkAddresses`, body: '{}', headers: { 'content-type': 'application/json' } })
    for (const path of spellings) await send({ url: `${api.url}${path}`, body: '{"appid":"a"}', headers: { 'content-type': 'application/json' } })
    // The first call shows the token is at hand; none of the others carries it.
    expect(calls().map((request) => request.body)).toEqual(['{"serviceToken":"token-1"}', ...spellings.map(() => '{"appid":"a"}')])
    expect(calls().every((request) => !JSON.stringify(request.headers).includes('token-'))).toBe(true)
  })

  it('nor by a same-origin redirect to it', async () => {
    const { api, manager, calls } = await anywebWorld((request, response) => {
      if (request.path === '/service/checkAddresses') {
        response.writeHead(307, { location: '/SERVICE/serviceToken/' })
        response.end()
        return
      }
      json(response, OK)
    })
    const send = driver.client(manager)
    const outcome = await send({ url: `${api.url}/service/checkAddresses`, body: '{}', headers: { 'content-type': 'application/json' } })
    expect(outcome.status).toBe(307)
    expect(calls().map((request) => request.path)).toEqual(['/service/checkAddresses'])
  })
})

describe('arguments every entry point checks', () => {
  it('swapped or missing arguments are ConfigurationErrors that name the argument, never plain TypeErrors', async () => {
    const { attachServiceToken } = await import('../../adapters/axios.js')
    const { isServiceTokenError } = await import('../../src/index.js')
    const manager = createTokenManager({ source: async () => ({ token: 't', expiresIn: 60 }), baseUrl: 'http://127.0.0.1:9' })
    cleanups.push(() => manager.close())
    const attempts: Array<[string, () => unknown]> = [
      ['fetch', () => withServiceToken(manager as never, fetch as never)],
      ['instance', () => attachServiceToken(manager as never, {} as never)],
      ['options', () => (createAnyWebClient as (options?: unknown) => unknown)()],
      ['origins', () => withServiceToken(fetch, manager, { origin: ['http://127.0.0.1:9'] } as never)],
    ]
    for (const [option, attempt] of attempts) {
      let caught: unknown
      try {
        attempt()
      } catch (error) {
        caught = error
      }
      expect(isServiceTokenError(caught, 'ERR_INVALID_OPTION'), option).toBe(true)
      expect((caught as Error).message).not.toMatch(/\[object|undefined is not/)
    }
  })

  it('createAnyWebClient refuses a baseUrl the token may not go to (it would only ever be answered A108P001)', () => {
    const manager = createTokenManager({ source: async () => ({ token: 't', expiresIn: 60 }), baseUrl: 'http://127.0.0.1:8787' })
    cleanups.push(() => manager.close())
    expect(() => createAnyWebClient({ manager, baseUrl: 'http://localhost:8787' })).toThrow(/may not be sent there \(allowed: http:\/\/127\.0\.0\.1:8787\).*origins/)
    expect(() => createAnyWebClient({ manager, baseUrl: 'http://localhost:8787', origins: ['http://localhost:8787'] })).not.toThrow()
    expect(() => createAnyWebClient({ manager })).not.toThrow()
  })
})

describe.each(drivers)('$name: a request to an origin the token may not go to', (driver) => {
  it('that comes back refused is reported once per origin (origin-not-allowed), naming the allowed ones', async () => {
    const api = await startServer((request, response) =>
      request.path === '/ok' ? json(response, OK) : request.path === '/401' ? json(response, { message: 'no' }, 401) : json(response, REFUSED),
    )
    const events: unknown[] = []
    const manager = createTokenManager({
      source: async () => ({ token: 'token-1', expiresIn: 3600 }),
      baseUrl: api.url,
      onEvent: (event) => {
        if (event.type === 'origin-not-allowed') events.push(event)
      },
    })
    cleanups.push(() => api.close(), () => manager.close())
    const send = driver.client(manager)
    const elsewhere = api.url.replace('127.0.0.1', 'localhost')
    await send({ url: `${elsewhere}/ok`, body: '{}', headers: { 'content-type': 'application/json' } })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(events).toEqual([])
    for (let round = 0; round < 2; round++) await send({ url: `${elsewhere}/service/checkAddresses`, body: '{}', headers: { 'content-type': 'application/json' } })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(events).toEqual([{ type: 'origin-not-allowed', origin: new URL(elsewhere).origin, allowed: [api.url], status: 200 }])
    // A 401 from another origin, on its own.
    const other = api.url.replace('http://127.0.0.1', 'http://[::ffff:127.0.0.1]')
    await send({ url: `${other}/401`, body: '{}', headers: { 'content-type': 'application/json' } }).catch(() => undefined)
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(events).toHaveLength(2)
    expect(events[1]).toMatchObject({ origin: new URL(other).origin, status: 401 })
    expect(api.received.every((request) => !request.body.includes('token-1'))).toBe(true)
  })
})

describe.each(drivers.filter((driver) => driver.followsAllowedRedirects))('$name: redirects that change the method', (driver) => {
  it('a POST answered 303 (or 302) within the allowed origin is followed as a GET without a body, as fetch does', async () => {
    const { api, manager } = await world((request, response) => {
      if (request.path.startsWith('/start')) {
        response.writeHead(request.path.endsWith('302') ? 302 : 303, { location: '/next' })
        response.end()
        return
      }
      json(response, OK)
    })
    const send = driver.client(manager)
    for (const path of ['/start', '/start302']) {
      const outcome = await send({ url: `${api.url}${path}`, body: '{"a":1}', headers: { 'content-type': 'application/json' } })
      expect(outcome.status).toBe(200)
      expect(outcome.json).toEqual(OK)
    }
    expect(api.received.map((request) => [request.method, request.path, request.body])).toEqual([
      ['POST', '/start', '{"a":1,"serviceToken":"token-1"}'],
      ['GET', '/next', ''],
      ['POST', '/start302', '{"a":1,"serviceToken":"token-1"}'],
      ['GET', '/next', ''],
    ])
  })
})

describe('answers from origins the token may not go to', () => {
  it('are not read past what the caller reads: an endless JSON answer without a declared length is cancelled at once', async () => {
    const { api: other } = await world((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.write('{"items":[')
      const timer = setInterval(() => response.write('1,'.repeat(1024)), 5)
      response.on('close', () => clearInterval(timer))
    })
    const { manager } = await world((_request, response) => json(response, OK))
    const response = await withServiceToken(fetch, manager)(`${other.url.replace('127.0.0.1', 'localhost')}/service/checkAddresses`, POST())
    const reader = response.body!.getReader()
    await reader.read()
    const cancelled = await Promise.race([reader.cancel().then(() => 'cancelled'), new Promise((resolve) => setTimeout(resolve, 1_000, 'pending'))])
    expect(cancelled).toBe('cancelled')
  })
})

describe('a body given as bytes', () => {
  it('is placed into as written or refused: a BOM or bad UTF-8 is never silently rewritten', async () => {
    const { api, manager } = await world((_request, response) => json(response, OK))
    const send = (bytes: number[]) =>
      withServiceToken(fetch, manager)(`${api.url}/service/checkAddresses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: new Uint8Array(bytes) })
    const json1 = [...new TextEncoder().encode('{"a":1}')]
    await expect(send([0xef, 0xbb, 0xbf, ...json1])).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'placement' })
    await expect(send([...new TextEncoder().encode('{"a":"'), 0xff, 0x22, 0x7d])).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', option: 'placement' })
    expect(await (await send(json1)).json()).toEqual(OK)
    expect(api.received.map((request) => request.body)).toEqual(['{"a":1,"serviceToken":"token-1"}'])
  })
})
