import axios, { AxiosError } from 'axios'
import ky, { HTTPError } from 'ky'
import createClient from 'openapi-fetch'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { attachServiceToken } from '../../adapters/axios.js'
import { withServiceToken } from '../../adapters/fetch.js'
import { serviceTokenHooks } from '../../adapters/ky.js'
import { createAnyWebClient, serviceTokenMiddleware } from '../../adapters/openapi-fetch.js'
import { createEmulator } from '../../src/emulator/index.js'
import { ConfigurationError, createTokenManager, isServiceTokenError } from '../../src/index.js'
import { json, startServer } from '../helpers/http-server.js'
import type { Received } from '../helpers/http-server.js'
import type { GetTokenOptions, TokenManager } from '../../src/index.js'
import { countingSource } from '../helpers/source.js'

const CHECK = '/service/checkAddresses'
const group = { u1: ['cfx:aa'] }
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function emulatorWorld() {
  const emu = createEmulator()
  const server = await emu.listen({ hostname: '127.0.0.1', port: 0 })
  const manager = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url })
  cleanups.push(() => server.close(), () => manager.close())
  return { emu, url: server.url, manager }
}

function tokenOf(request: Received): unknown {
  try {
    return (JSON.parse(request.body) as Record<string, unknown>)['serviceToken']
  } catch {
    return undefined
  }
}

/** Refuses token-1, accepts any other. */
async function refusingFirstToken() {
  const api = await startServer((request, response) =>
    tokenOf(request) === 'token-1'
      ? json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null }, 401)
      : json(response, { code: 1000, message: 'success', data: { echo: request.body } }),
  )
  const source = countingSource({ auto: true })
  const manager = createTokenManager({ source: source.source, baseUrl: api.url })
  cleanups.push(() => api.close(), () => manager.close())
  return { api, source, manager }
}

/** Accepts every request. */
async function acceptingWorld() {
  const api = await startServer((request, response) => json(response, { code: 1000, message: 'success', data: null }))
  const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
  cleanups.push(() => api.close(), () => manager.close())
  return { api, manager }
}

describe('fetch', () => {
  it('reads a Request body whole and lets go of it (unlocked, so a later cancel() settles at once)', async () => {
    const { url, manager } = await emulatorWorld()
    const anyweb = withServiceToken(globalThis.fetch, manager)
    for (const init of [undefined, { method: 'POST' }]) {
      // Without init: the fast path (URL + init); with a field to merge: the general path (a template).
      const request = new Request(url + CHECK, { method: 'POST', body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } })
      expect(await (await anyweb(request, init)).json()).toMatchObject({ code: 1000 })
      expect(request.bodyUsed).toBe(true)
      expect(request.body?.locked).toBe(false)
      // ky cancels every request body when it is done; on a locked stream that rejects with a TypeError.
      await expect(request.body?.cancel()).resolves.toBeUndefined()
    }
  })

  it('accepts a string, a URL and a Request with init overrides', async () => {
    const { emu, url, manager } = await emulatorWorld()
    const anyweb = withServiceToken(globalThis.fetch, manager)
    const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group }) }
    const fromString = await (await anyweb(url + CHECK, init)).json()
    const fromUrl = await (await anyweb(new URL(CHECK, url), init)).json()
    const request = new Request(url + CHECK, { method: 'PUT', body: '{"group":{}}', headers: { 'content-type': 'application/json' } })
    const fromRequest = await (await anyweb(request, { method: 'POST' })).json()
    expect([fromString, fromUrl, fromRequest]).toMatchObject([{ code: 1000 }, { code: 1000 }, { code: 1000, data: {} }])
    expect(emu.stats().authFailures).toBe(0)
  })

  it('installs globally and uninstalls; the manager keeps its own fetch so token requests never recurse', async () => {
    const { emu, url, manager } = await emulatorWorld()
    const original = globalThis.fetch
    globalThis.fetch = withServiceToken(original, manager)
    try {
      const response = await fetch(url + CHECK, { method: 'POST', body: JSON.stringify({ group }) })
      expect(await response.json()).toMatchObject({ code: 1000 })
    } finally {
      globalThis.fetch = original
    }
    const after = await fetch(url + CHECK, { method: 'POST', body: JSON.stringify({ group }) })
    expect(await after.json()).toMatchObject({ code: 'A108P001' })
    expect(emu.stats().tokensIssued).toBe(1)
  })

  it('a one-shot stream body (header placement) is sent once and its auth error returned, not replayed', async () => {
    const api = await startServer((request, response) =>
      json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null }),
    )
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const anyweb = withServiceToken(globalThis.fetch, manager, { placement: { in: 'header', name: 'x-token' } })
    const stream = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode('{"a":1}'))
          controller.close()
        },
      })
    const response = await anyweb(api.url + CHECK, { method: 'POST', body: stream(), duplex: 'half' } as RequestInit)
    expect(await response.json()).toMatchObject({ code: 'A108P001' })
    expect(api.received.map((request) => [request.body, request.headers['x-token']])).toEqual([['{"a":1}', 'token-1']])
    // Not resent, but its token goes: an upload-only service is not stuck with it until it expires.
    await vi.waitFor(() => expect(manager.peek()).toBeUndefined(), { timeout: 2_000 })
    await anyweb(api.url + CHECK, { method: 'POST', body: stream(), duplex: 'half' } as RequestInit)
    expect(api.received.map((request) => request.headers['x-token'])).toEqual(['token-1', 'token-2'])
  })

  it('a binary body cannot carry the token: ConfigurationError, nothing sent', async () => {
    const { api, manager } = await refusingFirstToken()
    const anyweb = withServiceToken(globalThis.fetch, manager)
    const sent = anyweb(api.url + CHECK, { method: 'POST', body: new Uint8Array([1, 2]), headers: { 'content-type': 'application/octet-stream' } })
    await expect(sent).rejects.toBeInstanceOf(ConfigurationError)
    expect(api.received).toHaveLength(0)
  })

  it('a custom isAuthError decides, and the caller can still read the body after the check', async () => {
    const api = await startServer((request, response) =>
      json(response, { code: tokenOf(request) === 'token-1' ? 'EXPIRED' : 'OK' }),
    )
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const seen: number[] = []
    const anyweb = withServiceToken(globalThis.fetch, manager, {
      isAuthError: async (state) => {
        seen.push(state.status)
        return ((await state.json()) as { code?: string }).code === 'EXPIRED'
      },
    })
    const response = await anyweb(api.url + CHECK, { method: 'POST', body: '{}' })
    expect(await response.json()).toEqual({ code: 'OK' })
    expect(seen).toEqual([200])
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('a plain header object: the caller’s own token header and content-length are replaced in any letter case, nothing else changes', async () => {
    const { api, manager } = await acceptingWorld()
    const asHeader = withServiceToken(globalThis.fetch, manager, { placement: { in: 'header', name: 'Authorization', scheme: 'Bearer' } })
    await asHeader(api.url + CHECK, { method: 'POST', headers: { AUTHORIZATION: 'Bearer stale', authorization: 'Bearer stale too', 'X-Trace': 'abc' }, body: '{}' })
    const asBody = withServiceToken(globalThis.fetch, manager)
    await asBody(api.url + CHECK, { method: 'POST', headers: { 'Content-Type': 'application/json', 'Content-Length': '2' }, body: '{}' })
    expect(api.received).toHaveLength(2)
    const [header, body] = api.received
    expect(header?.headers['authorization']).toBe('Bearer token-1')
    expect(header?.headers['x-trace']).toBe('abc')
    expect(body?.headers['content-type']).toBe('application/json')
    expect(body?.headers['content-length']).toBe(String(Buffer.byteLength(body?.body ?? '')))
    expect(tokenOf(body!)).toBe('token-1')
  })

  it('an empty body with a plain header object becomes JSON with the token; headers given as a Headers or pairs work alike', async () => {
    const { api, manager } = await acceptingWorld()
    const anyweb = withServiceToken(globalThis.fetch, manager)
    await anyweb(api.url + CHECK, { method: 'POST', headers: { 'x-a': '1' } })
    await anyweb(api.url + CHECK, { method: 'POST', headers: new Headers({ 'content-type': 'application/json' }), body: '{"a":1}' })
    await anyweb(api.url + CHECK, { method: 'POST', headers: [['Content-Type', 'application/x-www-form-urlencoded']], body: 'a=1' })
    expect(api.received.map((request) => [request.headers['content-type'], request.body])).toEqual([
      ['application/json', '{"serviceToken":"token-1"}'],
      ['application/json', '{"a":1,"serviceToken":"token-1"}'],
      ['application/x-www-form-urlencoded', 'a=1&serviceToken=token-1'],
    ])
  })

  it('the cached-token shortcut: any TokenManager works, a closed manager and an aborted signal reject before anything is sent', async () => {
    const { api, manager } = await acceptingWorld()
    // A TokenManager written by hand has no shortcut: the wrapper asks getToken.
    let asked = 0
    const byHand: TokenManager = { ...manager, getToken: async (options) => (asked++, manager.getToken(options)) }
    const viaHand = withServiceToken(fetch, byHand)
    expect((await (await viaHand(api.url + CHECK, { method: 'POST', body: JSON.stringify({ group }) })).json()) as unknown).toMatchObject({ code: 1000 })
    expect(asked).toBe(1)
    // Nor does one that inherits a real manager and overrides getToken.
    const inheriting = Object.create(manager, { getToken: { value: (options?: GetTokenOptions) => (asked++, manager.getToken(options)) } }) as TokenManager
    await withServiceToken(fetch, inheriting)(api.url + CHECK, { method: 'POST', body: '{}' })
    expect(asked).toBe(2)
    expect(tokenOf(api.received.at(-1)!)).toBe('token-1')

    const wrapped = withServiceToken(fetch, manager)
    await wrapped(api.url + CHECK, { method: 'POST', body: JSON.stringify({ group }) }) // token cached: the shortcut serves it
    const sent = api.received.length
    const aborted = AbortSignal.abort(new Error('caller gave up'))
    await expect(wrapped(api.url + CHECK, { method: 'POST', body: '{}', signal: aborted })).rejects.toThrow('caller gave up')
    manager.close()
    const closed = await wrapped(api.url + CHECK, { method: 'POST', body: '{}' }).catch((error: unknown) => error)
    expect(isServiceTokenError(closed, 'ERR_CLOSED')).toBe(true)
    expect(api.received.length).toBe(sent)
  })

  it('GET requests are passed through untouched with body placement', async () => {
    const { api, source, manager } = await refusingFirstToken()
    await withServiceToken(globalThis.fetch, manager)(`${api.url}/x?y=1`)
    expect(api.received[0]?.path).toBe('/x?y=1')
    expect(source.count).toBe(0)
  })
})

describe('axios', () => {
  it('replays a 401 (rejected by validateStatus) and resolves with the replay; object data keeps its keys', async () => {
    const { api, manager } = await refusingFirstToken()
    const instance = axios.create({ baseURL: api.url })
    attachServiceToken(instance, manager)
    const { data } = await instance.post<{ data: { echo: string } }>(CHECK, { z: 1, a: 2 })
    expect(data.data.echo).toBe('{"z":1,"a":2,"serviceToken":"token-2"}')
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('a replay that fails again rejects with the AxiosError of the replay', async () => {
    const api = await startServer((_request, response) => json(response, { code: 'A108P001' }, 401))
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const instance = axios.create({ baseURL: api.url })
    attachServiceToken(instance, manager)
    const error: unknown = await instance.post(CHECK, {}).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(AxiosError)
    expect((error as AxiosError).response?.status).toBe(401)
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('a redirect of a tokened request is not followed: validateStatus rejects it', async () => {
    const second = await startServer((_request, response) => json(response, {}))
    const api = await startServer((_request, response) => {
      response.writeHead(307, { location: `${second.url}/x` })
      response.end()
    })
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => second.close(), () => manager.close())
    const instance = axios.create({ baseURL: api.url })
    attachServiceToken(instance, manager)
    const error: unknown = await instance.post(CHECK, {}).catch((caught: unknown) => caught)
    expect((error as AxiosError).response?.status).toBe(307)
    expect(second.received).toHaveLength(0)
  })

  it('detach() removes the interceptor', async () => {
    const { api, source, manager } = await refusingFirstToken()
    const instance = axios.create({ baseURL: api.url })
    const detach = attachServiceToken(instance, manager)
    detach()
    detach()
    await instance.post(CHECK, { a: 1 }, { validateStatus: () => true })
    expect(api.received[0]?.body).toBe('{"a":1}')
    expect(source.count).toBe(0)
  })

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter}: a replay whose token is longer sends its whole body (the first attempt's content-length is not kept)`, async () => {
      const api = await startServer((request, response) =>
        tokenOf(request) === 'short'
          ? json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null })
          : json(response, { code: 1000, message: 'success', data: { echo: request.body, length: request.headers['content-length'] } }),
      )
      let issued = 0
      const manager = createTokenManager({
        source: async () => ({ token: ++issued === 1 ? 'short' : `a-much-longer-token-${'x'.repeat(40)}`, expiresIn: 3600 }),
        baseUrl: api.url,
      })
      cleanups.push(() => api.close(), () => manager.close())
      const instance = axios.create({ baseURL: api.url, adapter })
      attachServiceToken(instance, manager)
      const { data } = await instance.post<{ data: { echo: string; length: string } }>(CHECK, { a: 1 })
      expect(JSON.parse(data.data.echo)).toEqual({ a: 1, serviceToken: `a-much-longer-token-${'x'.repeat(40)}` })
      expect(Number(data.data.length)).toBe(Buffer.byteLength(data.data.echo))
      expect(api.received).toHaveLength(2)
    })
  }

  it('interceptors run once per call: requests without the token, and the final response after a replay', async () => {
    const { api, manager } = await refusingFirstToken()
    const instance = axios.create({ baseURL: api.url })
    const seen: unknown[] = []
    const answers: unknown[] = []
    instance.interceptors.request.use((config) => {
      seen.push(config.data)
      return config
    })
    attachServiceToken(instance, manager)
    instance.interceptors.request.use((config) => {
      seen.push(config.data)
      return config
    })
    instance.interceptors.response.use((response) => {
      answers.push(response.status)
      return response
    })
    const { data } = await instance.post<{ data: { echo: string } }>(CHECK, { a: 1 })
    expect(JSON.parse(data.data.echo)).toEqual({ a: 1, serviceToken: 'token-2' })
    expect(seen).toEqual([{ a: 1 }, { a: 1 }])
    expect(answers).toEqual([200])
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('where a request goes is judged when it is sent: an interceptor that sends it elsewhere after this one gets no token there', async () => {
    const { api, source, manager } = await refusingFirstToken()
    const elsewhere = await startServer((_request, response) => json(response, { code: 1000, message: 'success', data: null }))
    cleanups.push(() => elsewhere.close())
    const instance = axios.create({ baseURL: api.url })
    // Registered before attachServiceToken, so axios runs it after the adapter's interceptor.
    instance.interceptors.request.use((config) => {
      config.baseURL = elsewhere.url
      return config
    })
    attachServiceToken(instance, manager)
    await instance.post(CHECK, { a: 1 })
    expect(elsewhere.received.map((request) => request.body)).toEqual(['{"a":1}'])
    expect(api.received).toHaveLength(0)
    expect(source.count).toBe(0)
  })

  it('an adapter chosen for one request (or one of your own) is wrapped too', async () => {
    const { api, manager } = await refusingFirstToken()
    const instance = axios.create({ baseURL: api.url, adapter: 'http' })
    attachServiceToken(instance, manager)
    const used: string[] = []
    const fetchAdapter = axios.getAdapter('fetch')
    const mine = (config: Parameters<typeof fetchAdapter>[0]) => {
      used.push('mine')
      return fetchAdapter(config)
    }
    await instance.post(CHECK, { a: 1 }, { adapter: mine }) // refused, replayed through it
    await instance.post(CHECK, { b: 2 }, { adapter: 'fetch' })
    expect(used).toEqual(['mine', 'mine'])
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2', 'token-2'])
  })

  it("with axios' fetch adapter, axios' own fetch call sends the tokened request (each leaves its resource-timing entry, as untokened ones do); every response type gets its answer as axios gives it; an env.fetch of your own gets axios' Request", async () => {
    const answer = JSON.stringify({ code: 1000, message: 'success', data: { n: 1 } })
    const api = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(answer)) })
      response.end(answer)
    })
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const sent: unknown[] = []
    const ownFetch: typeof fetch = (input, init) => {
      sent.push(input)
      return fetch(input, init)
    }
    const instance = axios.create({ baseURL: api.url, adapter: 'fetch' })
    const withOwnFetch = axios.create({ baseURL: api.url, adapter: 'fetch', env: { fetch: ownFetch } })
    attachServiceToken(instance, manager)
    attachServiceToken(withOwnFetch, manager)
    const entries = () => performance.getEntriesByType('resource').filter((entry) => entry.name.startsWith(api.url)).length
    const settled = () => new Promise((resolve) => setTimeout(resolve, 20))
    performance.clearResourceTimings()

    // Read ahead: json (the default), text, arraybuffer, blob; a body as text and none (a GET, header placement).
    expect((await instance.post(CHECK, {})).data).toEqual(JSON.parse(answer))
    expect((await instance.post(CHECK, {}, { responseType: 'text' })).data).toBe(answer)
    expect(Buffer.from((await instance.post<ArrayBuffer>(CHECK, {}, { responseType: 'arraybuffer' })).data).toString()).toBe(answer)
    expect(await (await instance.post<Blob>(CHECK, {}, { responseType: 'blob' })).data.text()).toBe(answer)
    const inHeader = axios.create({ baseURL: api.url, adapter: 'fetch' })
    attachServiceToken(inHeader, manager, { placement: { in: 'header', name: 'x-token' } })
    expect((await inHeader.get(CHECK)).data).toEqual(JSON.parse(answer))
    await settled()
    expect(entries()).toBe(5)
    expect(api.received.map((request) => [request.method, request.body])).toEqual([
      ...Array.from({ length: 4 }, () => ['POST', '{"serviceToken":"token-1"}']),
      ['GET', ''],
    ])
    expect(api.received[4]?.headers['x-token']).toBe('token-1')

    // Your own env.fetch gets axios' Request, and its answer comes as it is.
    expect((await withOwnFetch.post(CHECK, {})).data).toEqual(JSON.parse(answer))
    expect(sent).toHaveLength(1)
    expect(sent[0]).toBeInstanceOf(Request)
    // Read by axios as it comes: a stream, or with download progress (each leaves its entry, as untokened requests do).
    const streamed = await instance.post<ReadableStream<Uint8Array>>(CHECK, {}, { responseType: 'stream' })
    expect(await new Response(streamed.data).text()).toBe(answer)
    const loaded: number[] = []
    const progressed = await instance.post(CHECK, {}, { onDownloadProgress: (event) => void loaded.push(event.loaded) })
    expect(progressed.data).toEqual(JSON.parse(answer))
    expect(loaded.at(-1)).toBe(Buffer.byteLength(answer))
    await axios.post(`${api.url}/untokened`, {}, { adapter: 'fetch' })
    await settled()
    expect(entries()).toBe(5 + 4)
    expect(api.received).toHaveLength(9)
  })

  it("with axios' fetch adapter, an A108P001 answer with HTTP 200 is replayed also with responseType 'blob', whose type is as plain axios gives it", async () => {
    const api = await startServer((request, response) =>
      tokenOf(request) === 'token-1'
        ? json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null }, 200, { 'content-type': 'Application/JSON; Charset=UTF-8' })
        : json(response, { code: 1000, message: 'success', data: null }, 200, { 'content-type': 'Application/JSON; Charset=UTF-8' }),
    )
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const instance = axios.create({ baseURL: api.url, adapter: 'fetch' })
    attachServiceToken(instance, manager)
    const { data } = await instance.post<Blob>(CHECK, {}, { responseType: 'blob' })
    expect(JSON.parse(await data.text())).toEqual({ code: 1000, message: 'success', data: null })
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
    const plain = await axios.post<Blob>(`${api.url}/untokened`, {}, { adapter: 'fetch', responseType: 'blob' })
    expect(data.type).toBe(plain.data.type)
    expect(data.type).toBe('application/json;charset=utf-8')
  })

  it("with axios' fetch adapter, maxContentLength refuses a longer declared length at once, before the body has come", async () => {
    const held: Array<import('node:http').ServerResponse> = []
    const api = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' })
      response.write('{"code":1000,')
      held.push(response) // the rest never comes
    })
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const instance = axios.create({ baseURL: api.url, adapter: 'fetch' })
    attachServiceToken(instance, manager)
    const error: unknown = await instance.post(CHECK, {}, { maxContentLength: 500, timeout: 5_000 }).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(AxiosError)
    expect((error as AxiosError).message).toBe('maxContentLength size of 500 exceeded')
    expect(held).toHaveLength(1)
  })

  it('no body with an urlencoded content type of your choice gets the field urlencoded', async () => {
    const { api, manager } = await acceptingWorld()
    const instance = axios.create({ baseURL: api.url })
    attachServiceToken(instance, manager)
    await instance.post(CHECK, undefined, { headers: { 'content-type': 'application/x-www-form-urlencoded' } })
    expect(api.received[0]?.body).toBe('serviceToken=token-1')
  })

  it('response.config and error.config hold no token afterwards: logged, or sent again elsewhere, they leak nothing', async () => {
    const { api, manager } = await refusingFirstToken()
    const elsewhere = await startServer((_request, response) => json(response, {}, 500))
    cleanups.push(() => elsewhere.close())
    for (const placement of [undefined, { in: 'header', name: 'x-token' } as const, { in: 'query', name: 'serviceToken' } as const]) {
      const instance = axios.create({ baseURL: api.url })
      attachServiceToken(instance, manager, placement === undefined ? {} : { placement })
      const { config } = await instance.post(CHECK, { a: 1 })
      const error = (await instance.request({ ...config, baseURL: elsewhere.url }).catch((caught: unknown) => caught)) as AxiosError
      expect(JSON.stringify([config.data, config.headers, config.params, error.config?.data, error.config?.headers])).not.toMatch(/token-\d/)
      expect(config.maxRedirects).toBeUndefined()
    }
    expect(elsewhere.received.map((request) => request.path + request.body + JSON.stringify(request.headers))).not.toEqual(
      expect.arrayContaining([expect.stringMatching(/token-\d/)]),
    )
    expect(elsewhere.received).toHaveLength(3)
  })

  for (const adapter of ['http', 'fetch'] as const) {
    it(`${adapter}: a content-length given by the caller is dropped with the body it measured`, async () => {
      const { api, manager } = await acceptingWorld()
      const instance = axios.create({ baseURL: api.url, adapter })
      attachServiceToken(instance, manager)
      await instance.post(CHECK, '{"a":1}', { headers: { 'content-type': 'application/json', 'content-length': '7' } })
      const [request] = api.received
      expect(JSON.parse(request?.body ?? '')).toEqual({ a: 1, serviceToken: 'token-1' })
      expect(Number(request?.headers['content-length'])).toBe(Buffer.byteLength(request?.body ?? ''))
    })
  }

  it('attached twice to one instance: one token, one replay', async () => {
    const api = await startServer((_request, response) => json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null }))
    const source = countingSource({ auto: true })
    const manager = createTokenManager({ source: source.source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const instance = axios.create({ baseURL: api.url })
    attachServiceToken(instance, manager)
    attachServiceToken(instance, manager)
    const { data } = await instance.post<{ code: string }>(CHECK, { a: 1 })
    expect(data.code).toBe('A108P001')
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('bodies axios would send in a form the field cannot go into: objects (or nothing) sent multipart, a JSON text without a content type', async () => {
    const { api, manager } = await acceptingWorld()
    const instance = axios.create({ baseURL: api.url })
    attachServiceToken(instance, manager)
    const multipart = { headers: { 'content-type': 'multipart/form-data' } }
    await instance.post(CHECK, { a: 1, list: ['x', 'y'] }, multipart)
    await instance.post(CHECK, undefined, multipart)
    await instance.post(CHECK, '{"a":1}')
    const [object, nothing, text] = api.received
    expect(object?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
    expect(object?.body).toMatch(/name="a"\r\n\r\n1\r\n[\s\S]*name="list\[\]"\r\n\r\nx\r\n[\s\S]*name="serviceToken"\r\n\r\ntoken-1\r\n/)
    expect(nothing?.body).toMatch(/name="serviceToken"\r\n\r\ntoken-1\r\n/)
    expect(text?.headers['content-type']).toMatch(/^application\/json/)
    expect(JSON.parse(text?.body ?? '')).toEqual({ a: 1, serviceToken: 'token-1' })
  })

  it('query placement keeps params given as a class instance', async () => {
    const { api, manager } = await acceptingWorld()
    const instance = axios.create({ baseURL: api.url })
    attachServiceToken(instance, manager, { placement: { in: 'query', name: 'serviceToken' } })
    class Query {
      page = 2
      q = 'x'
    }
    await instance.get('/list', { params: new Query() })
    expect(api.received[0]?.path).toBe('/list?page=2&q=x&serviceToken=token-1')
  })

  it("axios' timeout bounds the wait for a token, also before the replay: past it, axios' timeout error, and nothing more is sent", async () => {
    const api = await startServer((request, response) =>
      tokenOf(request) === 'token-1' ? json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null }) : json(response, { code: 1000 }),
    )
    const source = countingSource()
    const manager = createTokenManager({ source: source.source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const instance = axios.create({ baseURL: api.url, timeout: 50 })
    attachServiceToken(instance, manager)
    for (const expected of [0, 1]) {
      // The first call waits for token-1 (never given in time); the second gets it, is refused, and waits for token-2.
      const error = (await instance.post(CHECK, { a: 1 }).catch((caught: unknown) => caught)) as AxiosError
      expect(error).toBeInstanceOf(AxiosError)
      expect([error.code, error.message]).toEqual(['ECONNABORTED', 'timeout of 50ms exceeded'])
      expect(api.received).toHaveLength(expected)
      if (expected === 0) source.last.resolve()
    }
    source.last.resolve()
  })

  it("when no token can be had, error interceptors get an AxiosError with the request's config; the library's error is its cause", async () => {
    const { url } = await emulatorWorld()
    const manager = createTokenManager({ appid: 'demo-app', secret: 'nope', baseUrl: url, retry: { attempts: 1 } })
    cleanups.push(() => manager.close())
    const instance = axios.create({ baseURL: url })
    const logged: string[] = []
    // A logging interceptor as axios users write them: it reads error.config.url.
    instance.interceptors.response.use(undefined, (error: AxiosError) => {
      logged.push(`${error.config!.method} ${error.config!.url} ${error.code}`)
      return Promise.reject(error)
    })
    attachServiceToken(instance, manager)
    const error = (await instance.post(CHECK, { group }).catch((caught: unknown) => caught)) as AxiosError
    expect(logged).toEqual([`post ${CHECK} ERR_ANYWEB_CREDENTIALS`])
    expect(error).toBeInstanceOf(AxiosError)
    expect(axios.isAxiosError(error)).toBe(true)
    expect(isServiceTokenError(error.cause, 'ERR_ANYWEB_CREDENTIALS')).toBe(true)
    expect(error.message).toBe((error.cause as Error).message)
    expect(JSON.stringify(error.config?.data)).not.toContain('serviceToken')

    manager.close()
    const closed = (await instance.post(CHECK, { group }).catch((caught: unknown) => caught)) as AxiosError
    expect(closed).toBeInstanceOf(AxiosError)
    expect(closed.config?.url).toBe(CHECK)
    expect((closed.cause as { code?: string }).code).toBe('ERR_CLOSED')
  })

  it('when the renewal after a refused token fails, the AxiosError carries the config and the refused request', async () => {
    const api = await startServer((_request, response) => json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null }))
    let calls = 0
    const manager = createTokenManager({
      source: async () => {
        if (++calls > 1) throw new ConfigurationError('source', 'no second token')
        return { token: 'token-1', expiresIn: 60 }
      },
      baseUrl: api.url,
    })
    cleanups.push(() => api.close(), () => manager.close())
    const instance = axios.create({ baseURL: api.url })
    const urls: string[] = []
    instance.interceptors.response.use(undefined, (error: AxiosError) => {
      urls.push(error.config!.url!)
      return Promise.reject(error)
    })
    attachServiceToken(instance, manager)
    const error = (await instance.post(CHECK, { a: 1 }).catch((caught: unknown) => caught)) as AxiosError
    expect(urls).toEqual([CHECK])
    expect(error).toBeInstanceOf(AxiosError)
    expect(error.request).toBeDefined()
    expect(error.response).toBeUndefined()
    expect(isServiceTokenError(error.cause)).toBe(true)
    expect(api.received).toHaveLength(1)
  })
})

describe('ky', () => {
  it('with retry: 0 the hook replays by itself', async () => {
    const { api, manager } = await refusingFirstToken()
    const api2 = ky.create({ baseUrl: api.url, retry: 0, hooks: serviceTokenHooks(manager) })
    const result = await api2.post('service/checkAddresses', { json: { a: 1 } }).json<{ data: { echo: string } }>()
    expect(result.data.echo).toBe('{"a":1,"serviceToken":"token-2"}')
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('replays inside the wrapped fetch, using none of ky’s retries', async () => {
    const { api, manager } = await refusingFirstToken()
    const retried: string[] = []
    const client = ky.create({
      baseUrl: api.url,
      hooks: {
        ...serviceTokenHooks(manager),
        beforeRetry: [({ error }) => void retried.push(error.message)],
      },
    })
    const result = await client.post('service/checkAddresses', { json: { a: 1 } }).json<{ code: number }>()
    expect(result.code).toBe(1000)
    expect(retried).toEqual([])
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('the same hooks merged twice (ky.extend concatenates them) still replay at most once', async () => {
    // Refuses every token: a fetch wrapped twice would replay twice.
    const api = await startServer((_request, response) => json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null }))
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => manager.close())
    const hooks = serviceTokenHooks(manager)
    const client = ky.create({ baseUrl: api.url, retry: 0, hooks }).extend({ hooks })
    const result = await client.post('service/checkAddresses', { json: { a: 1 } }).json<{ code: string }>()
    expect(result.code).toBe('A108P001')
    expect(api.received.map(tokenOf)).toEqual(['token-1', 'token-2'])
  })

  it('a foreign redirect becomes ky’s HTTPError, unfollowed', async () => {
    const second = await startServer((_request, response) => json(response, {}))
    const api = await startServer((_request, response) => {
      response.writeHead(308, { location: `${second.url}/x` })
      response.end()
    })
    const manager = createTokenManager({ source: countingSource({ auto: true }).source, baseUrl: api.url })
    cleanups.push(() => api.close(), () => second.close(), () => manager.close())
    const client = ky.create({ baseUrl: api.url, hooks: serviceTokenHooks(manager) })
    await expect(client.post('service/checkAddresses', { json: {} })).rejects.toBeInstanceOf(HTTPError)
    expect(second.received).toHaveLength(0)
  })
})

describe('openapi-fetch: createAnyWebClient', () => {
  it('the middleware lets go of the Request body it read (a middleware before it still owns that Request)', async () => {
    const { url, manager } = await emulatorWorld()
    const client = createClient<Record<string, Record<string, unknown>>>({ baseUrl: url })
    let seen: Request | undefined
    client.use({ onRequest: ({ request }) => void (seen = request) })
    client.use(serviceTokenMiddleware(manager))
    const { data } = await client.POST(CHECK as never, { body: { group } } as never)
    expect(data).toMatchObject({ code: 1000 })
    expect(seen?.bodyUsed).toBe(true)
    expect(seen?.body?.locked).toBe(false)
  })

  it('with credentials: creates its manager and sends typed requests against the emulator', async () => {
    const emu = createEmulator({ users: { u1: ['cfx:aa'] } })
    const server = await emu.listen({ hostname: '127.0.0.1', port: 0 })
    const client = createAnyWebClient({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url })
    cleanups.push(() => server.close(), () => client.manager.close())
    const { data } = await client.POST('/service/checkAddresses', { body: { group: { u1: ['cfx:aa', 'cfx:bb'] } } })
    expect(data).toEqual({ code: 1000, message: 'success', data: { u1: ['cfx:bb'] } })
    emu.revokeAll()
    const again = await client.POST('/service/checkAddresses', { body: { group } })
    expect(again.data).toMatchObject({ code: 1000 })
    expect(emu.stats().tokensIssued).toBe(2)
  })

  it('the token goes in at the fetch, after your middleware: it sees no token, and the answer after a replay', async () => {
    const { emu, manager } = await emulatorWorld()
    const client = createAnyWebClient({ manager })
    const seen: Array<{ body: string; code: unknown }> = []
    client.use({
      async onRequest({ request }) {
        seen.push({ body: await request.clone().text(), code: undefined })
        return undefined
      },
      async onResponse({ response }) {
        seen.at(-1)!.code = ((await response.clone().json()) as { code: unknown }).code
        return undefined
      },
    })
    await client.POST('/service/checkAddresses', { body: { group } })
    emu.revokeAll()
    await client.POST('/service/checkAddresses', { body: { group } })
    expect(seen).toEqual([
      { body: JSON.stringify({ group }), code: 1000 },
      { body: JSON.stringify({ group }), code: 1000 },
    ])
    expect(emu.stats().tokensIssued).toBe(2)
  })

  it('with a manager: manager errors reject the call', async () => {
    const { url } = await emulatorWorld()
    const manager = createTokenManager({ appid: 'demo-app', secret: 'nope', baseUrl: url, retry: { attempts: 1 } })
    cleanups.push(() => manager.close())
    const client = createAnyWebClient({ manager })
    const error: unknown = await client.POST('/service/checkAddresses', { body: { group } }).catch((caught: unknown) => caught)
    expect(isServiceTokenError(error, 'ERR_ANYWEB_CREDENTIALS')).toBe(true)
  })
})

describe('options', () => {
  it.each([
    [{ placement: { in: 'cookie' } }, 'placement'],
    [{ placement: { in: 'header', name: 'bad header' } }, 'placement'],
    [{ placement: { in: 'body', field: '' } }, 'placement'],
    [{ origins: ['not a url'] }, 'origins[0]'],
    [{ origins: 'http://127.0.0.1' }, 'origins'],
    [{ isAuthError: 401 }, 'isAuthError'],
  ])('%j is rejected at creation', (options, option) => {
    const manager = createTokenManager({ source: async () => ({ token: 't', expiresIn: 60 }), baseUrl: 'http://127.0.0.1:1' })
    cleanups.push(() => manager.close())
    expect(() => withServiceToken(globalThis.fetch, manager, options as never)).toThrowError(
      expect.objectContaining({ name: 'ConfigurationError', option }),
    )
  })
})
