import type { ServerResponse } from 'node:http'
import { inspect } from 'node:util'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withServiceToken } from '../../adapters/fetch.js'
import { createEmulator } from '../../src/emulator/index.js'
import type { EmulatorServer } from '../../src/emulator/index.js'
import { createTokenManager } from '../../src/index.js'
import { startServer } from '../helpers/http-server.js'

/**
 * A small JSON answer is read once to look for A108P001 and handed on as a buffered Response. Whatever
 * way the caller reads it, it must behave as the response fetch returned.
 */
const emu = createEmulator({ users: { u1: ['cfx:mine'] } })
let server: EmulatorServer
let call: () => Promise<Response>
const EXPECTED = { code: 1000, message: 'success', data: { u1: ['cfx:other'] } }

beforeAll(async () => {
  server = await emu.listen()
  const anyweb = withServiceToken(fetch, createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url }))
  call = () =>
    anyweb(`${server.url}/service/checkAddresses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ group: { u1: ['cfx:mine', 'cfx:other'] } }),
    })
})
afterAll(() => server.close())

describe('the response handed on after the auth-error check', () => {
  it('keeps status, headers, url and type', async () => {
    const plain = await fetch(`${server.url}/service/checkAddresses`, { method: 'POST', body: '{}' })
    const response = await call()
    expect(response).toBeInstanceOf(Response)
    expect(response.status).toBe(200)
    expect(response.ok).toBe(true)
    expect(response.statusText).toBe(plain.statusText)
    expect(response.url).toBe(`${server.url}/service/checkAddresses`)
    expect(response.redirected).toBe(false)
    expect(response.headers.get('content-type')).toBe(plain.headers.get('content-type'))
    expect([...response.headers.keys()]).toEqual([...plain.headers.keys()])
    expect(response.type).toBe(plain.type)
    await plain.body?.cancel()
  })

  it.each([
    ['json', (r: Response) => r.json()],
    ['text', async (r: Response) => JSON.parse(await r.text()) as unknown],
    ['arrayBuffer', async (r: Response) => JSON.parse(new TextDecoder().decode(await r.arrayBuffer())) as unknown],
    ['bytes', async (r: Response) => JSON.parse(new TextDecoder().decode(await r.bytes())) as unknown],
    ['blob', async (r: Response) => JSON.parse(await (await r.blob()).text()) as unknown],
    ['body stream', async (r: Response) => JSON.parse(await new Response(r.body).text()) as unknown],
  ])('reads fully with %s, once', async (_name, read) => {
    const response = await call()
    expect(response.bodyUsed).toBe(false)
    expect(await read(response)).toEqual(EXPECTED)
    expect(response.bodyUsed).toBe(true)
    await expect(response.text()).rejects.toThrow(TypeError)
    expect(() => response.clone()).toThrow(TypeError)
  })

  it('clones, before and after the stream was taken', async () => {
    const response = await call()
    const copy = response.clone()
    expect(await copy.json()).toEqual(EXPECTED)
    expect(await response.json()).toEqual(EXPECTED)
    // After `body` was looked at, clone() tees it, as fetch's own responses do: `body` is the new branch.
    const plain = await fetch(`${server.url}/__emulator/stats`)
    const streamed = await call()
    for (const response of [plain, streamed]) {
      expect(response.body).not.toBeNull()
      const twin = response.clone()
      expect(JSON.parse(await new Response(response.body).text())).toEqual(await twin.json())
      expect(response.bodyUsed).toBe(true)
    }
  })

  it('once read, its body is locked and a second read fails, as with fetch’s own response, also after body was looked at', async () => {
    const plain = await fetch(`${server.url}/__emulator/stats`)
    const response = await call()
    for (const read of [plain, response]) {
      await read.text()
      expect(read.bodyUsed).toBe(true)
      expect(read.body?.locked).toBe(true)
      await expect(read.text()).rejects.toThrow(TypeError)
      await expect(read.arrayBuffer()).rejects.toThrow(TypeError)
    }
  })

  it('body looked at, then read with a body method: the bytes, then the stream locked and the body used, as with fetch’s own response', async () => {
    const plain = await fetch(`${server.url}/__emulator/stats`)
    const response = await call()
    for (const read of [plain, response]) {
      const stream = read.body
      expect(stream).not.toBeNull()
      expect(read.bodyUsed).toBe(false)
      expect(stream?.locked).toBe(false)
      expect(await read.json()).toBeTypeOf('object')
      expect(read.body).toBe(stream)
      expect(read.bodyUsed).toBe(true)
      expect(stream?.locked).toBe(true)
      await expect(read.text()).rejects.toThrow(TypeError)
    }
  })

  it('its stream read in part and let go: used, and a body method fails, as with fetch’s own response', async () => {
    const plain = await fetch(`${server.url}/__emulator/stats`)
    const response = await call()
    for (const read of [plain, response]) {
      const reader = read.body!.getReader()
      expect((await reader.read()).done).toBe(false)
      reader.releaseLock()
      expect(read.bodyUsed).toBe(true)
      await expect(read.text()).rejects.toThrow(TypeError)
      expect(() => read.clone()).toThrow(TypeError)
    }
  })

  it('its stream cancelled: used, and a body method fails, as with fetch’s own response', async () => {
    const plain = await fetch(`${server.url}/__emulator/stats`)
    const response = await call()
    for (const read of [plain, response]) {
      await read.body!.cancel()
      expect(read.bodyUsed).toBe(true)
      await expect(read.text()).rejects.toThrow(TypeError)
    }
  })

  it('its stream is a byte stream: a BYOB reader gets the bytes in a buffer of its own size', async () => {
    const response = await call()
    const reader = response.body!.getReader({ mode: 'byob' })
    const parts: Uint8Array[] = []
    for (;;) {
      const { done, value } = await reader.read(new Uint8Array(16))
      if (done) break
      expect(value.byteLength).toBeLessThanOrEqual(16)
      parts.push(value)
    }
    expect(parts.length).toBeGreaterThan(1)
    expect(JSON.parse(Buffer.concat(parts).toString())).toEqual(EXPECTED)
  })

  it('a clone made after body was looked at: either may be read first', async () => {
    for (const first of ['twin', 'original'] as const) {
      const response = await call()
      expect(response.body).not.toBeNull()
      const twin = response.clone()
      const [a, b] = first === 'twin' ? [twin, response] : [response, twin]
      expect(await a.json()).toEqual(EXPECTED)
      expect(b.bodyUsed).toBe(false)
      expect(await b.json()).toEqual(EXPECTED)
    }
  })

  it('a clone made after body was looked at keeps the head (url, type, status)', async () => {
    const response = await call()
    expect(response.body).not.toBeNull()
    const twin = response.clone()
    expect(twin.url).toBe(response.url)
    expect(twin.type).toBe(response.type)
    expect(twin.status).toBe(200)
    expect(twin.headers.get('content-type')).toBe(response.headers.get('content-type'))
    expect(await twin.json()).toEqual(EXPECTED)
    expect(await response.json()).toEqual(EXPECTED)
  })

  it('blob has the content type as fetch’s own response gives it', async () => {
    const plain = await fetch(`${server.url}/service/checkAddresses`, { method: 'POST', body: '{}' })
    const blob = await (await call()).blob()
    expect(blob.type).toContain('application/json')
    expect(blob.type).toBe((await plain.blob()).type)
  })

  it('is a Response to every member of Response.prototype itself', async () => {
    const response = await call()
    const members = Object.getOwnPropertyNames(Response.prototype).filter((name) => name !== 'constructor')
    expect(members.length).toBeGreaterThan(10)
    for (const name of members) {
      const { get, value } = Object.getOwnPropertyDescriptor(Response.prototype, name)!
      // Each getter and each body method of Response itself, on a clone (a body is read once).
      if (get !== undefined) expect(() => get.call(response), name).not.toThrow()
      // A JSON body is no form, on fetch's own response too.
      else if (name === 'formData') await expect((value as (this: Response) => Promise<FormData>).call(response.clone())).rejects.toThrow(/Content-Type/)
      else await expect(Promise.resolve((value as (this: Response) => unknown).call(response.clone())), name).resolves.not.toThrow()
    }
    expect(Object.prototype.toString.call(response)).toBe('[object Response]')
    const shown = inspect(response)
    expect(shown).toContain('status: 200')
    expect(shown).toContain('application/json')
    expect(await response.json()).toEqual(EXPECTED)
  })
})

describe('reading a JSON answer for the check (Node’s own fetch)', () => {
  const GROUP = { group: { u1: ['cfx:mine'] } }
  const WHOLE = { code: 1000, message: 'success', data: { list: Array.from({ length: 2_000 }, (_, index) => `cfx:address-${index}`) } }

  /** A real server on 127.0.0.1 that answers the n-th request (from 0) with `answer(n)`, and a wrapped fetch for it. */
  async function scripted(answer: (index: number, response: ServerResponse) => void) {
    const api = await startServer((_request, response) => answer(api.received.length - 1, response))
    const manager = createTokenManager({ source: async () => ({ token: 't', expiresIn: 3600 }), baseUrl: api.url })
    const anyweb = withServiceToken(fetch, manager)
    const post = () => anyweb(`${api.url}/service/checkAddresses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(GROUP) })
    const close = async () => {
      manager.close()
      await api.close()
    }
    return { url: api.url, post, close, connections: api.connections }
  }

  it('an answer in several chunks arrives whole, and the connection is used again', async () => {
    const text = JSON.stringify(WHOLE)
    expect(text.length).toBeLessThan(64 * 1024)
    let release: (() => void) | undefined
    const world = await scripted((_index, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      // The rest is held back until the client has read the first part: it sees the body in two chunks.
      response.write(text.slice(0, 5_000))
      release = () => response.end(text.slice(5_000))
    })
    const chunksOf = async (response: Response) => {
      let chunks = 0
      for await (const _ of response.body!) chunks++
      return chunks
    }
    const turn = () => new Promise((resolve) => setImmediate(resolve))
    const twoParts = async <T>(send: () => Promise<T>): Promise<T> => {
      const pending = send()
      // Until the server has the request, then a few turns for the client to read the first part.
      for (let turns = 0; release === undefined && turns < 100_000; turns++) await turn()
      for (let turns = 0; turns < 20; turns++) await turn()
      release?.()
      release = undefined
      return pending
    }
    try {
      // The scene itself: the bare fetch sees more than one chunk.
      expect(await twoParts(async () => chunksOf(await fetch(`${world.url}/`, { method: 'POST', body: '{}' })))).toBeGreaterThan(1)
      for (let round = 0; round < 5; round++) expect(await twoParts(async () => (await world.post()).json())).toEqual(WHOLE)
      // The second connection is the bare fetch's; an answer that kept its connection would make one per request.
      expect(world.connections()).toBeLessThanOrEqual(2)
    } finally {
      await world.close()
    }
  })

  it('a compressed answer (its declared length is not that of the JSON) is read to its end, and its A108P001 seen', async () => {
    const world = await scripted((index, response) => {
      const body = gzipSync(JSON.stringify(index === 0 ? { code: 'A108P001', message: 'serviceToken wrong', data: null } : WHOLE))
      response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip', 'content-length': body.byteLength })
      response.end(body)
    })
    try {
      // Refused (index 0), replayed (index 1); then answered at once (index 2), its JSON several times its declared length.
      expect(await (await world.post()).json()).toEqual(WHOLE)
      const response = await world.post()
      expect(Number(response.headers.get('content-length'))).toBeLessThan(JSON.stringify(WHOLE).length / 4)
      expect(await response.json()).toEqual(WHOLE)
    } finally {
      await world.close()
    }
  })

  it('a declared length shorter than the body a dispatcher delivers: read to the end, and its A108P001 seen', async () => {
    // Real HTTP/1.1 cannot do this (the parser holds the body to its length), but a mock or a rewriting
    // dispatcher can: the read must not stop at the declared length when more has come.
    const answers = [{ code: 'A108P001', message: 'serviceToken wrong', data: null }, WHOLE]
    const tokens: unknown[] = []
    const dispatcher = {
      dispatch(options: { body?: unknown }, handler: Record<string, (...args: unknown[]) => unknown>): boolean {
        void (async () => {
          let sent = ''
          for await (const chunk of options.body as AsyncIterable<Uint8Array>) sent += Buffer.from(chunk).toString()
          tokens.push((JSON.parse(sent) as Record<string, unknown>)['serviceToken'])
          const body = Buffer.from(JSON.stringify(answers[tokens.length - 1]))
          await new Promise((resolve) => setImmediate(resolve))
          handler['onConnect']?.(() => undefined)
          const head = ['content-type', 'application/json', 'content-length', '10'].map((text) => Buffer.from(text))
          handler['onHeaders']?.(200, head, () => undefined, 'OK')
          // In three parts a turn apart, so that the reader sees them as separate chunks.
          for (const part of [body.subarray(0, 19), body.subarray(19, 30), body.subarray(30)]) {
            handler['onData']?.(part)
            await new Promise((resolve) => setImmediate(resolve))
          }
          handler['onComplete']?.([])
        })()
        return true
      },
      close: async () => undefined,
      destroy: async () => undefined,
    }
    const origin = 'http://127.0.0.1:8787' // never contacted: the dispatcher answers
    let issued = 0
    const manager = createTokenManager({ source: async () => ({ token: `token-${++issued}`, expiresIn: 3600 }), baseUrl: origin })
    try {
      const init = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(GROUP), dispatcher }
      const response = await withServiceToken(fetch, manager)(`${origin}/service/checkAddresses`, init as RequestInit)
      expect(await response.json()).toEqual(WHOLE)
      expect(tokens).toEqual(['token-1', 'token-2'])
    } finally {
      manager.close()
    }
  })

  it('does not keep the response it read: held answers cost no more than the bare fetch’s', async () => {
    const text = JSON.stringify(WHOLE)
    const world = await scripted((_index, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      response.end(text)
    })
    // The original holds undici's fetch state (about 17 KiB): a held answer must not keep it.
    const originals: Array<WeakRef<Response>> = []
    const manager = createTokenManager({ source: async () => ({ token: 't', expiresIn: 3600 }), baseUrl: world.url })
    const watched = withServiceToken(async (input: RequestInfo | URL, init?: RequestInit) => {
      const response = await fetch(input, init)
      originals.push(new WeakRef(response))
      return response
    }, manager)
    try {
      const held = await watched(`${world.url}/service/checkAddresses`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
      expect(await held.json()).toEqual(WHOLE)
      expect(held.url).toBe(`${world.url}/service/checkAddresses`)
      expect(held.headers.get('content-length')).toBe(String(Buffer.byteLength(text)))
      setFlagsFromString('--expose-gc')
      const collect = runInNewContext('gc') as () => void
      for (let round = 0; round < 3; round++) {
        await new Promise((resolve) => setImmediate(resolve))
        collect()
      }
      expect(originals).toHaveLength(1)
      expect(originals[0]!.deref()).toBeUndefined()
      expect(held.status).toBe(200)
    } finally {
      manager.close()
      await world.close()
    }
  })

  it('leaves its resource-timing entry as the bare fetch does (the answer is read to its end, through fetch itself)', async () => {
    const text = JSON.stringify(WHOLE)
    const world = await scripted((_index, response) => {
      response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
      response.end(text)
    })
    const entries = async (send: () => Promise<Response>) => {
      performance.clearResourceTimings()
      expect(await (await send()).json()).toEqual(WHOLE)
      // The entry is written a few turns after the body ends.
      for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve))
      return performance.getEntriesByType('resource').length
    }
    try {
      expect(await entries(() => fetch(`${world.url}/service/checkAddresses`, { method: 'POST', body: '{}' }))).toBe(1)
      expect(await entries(world.post)).toBe(1)
    } finally {
      await world.close()
    }
  })
})
