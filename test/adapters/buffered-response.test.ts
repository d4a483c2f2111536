import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withServiceToken } from '../../adapters/fetch.js'
import { createEmulator } from '../../src/emulator/index.js'
import type { EmulatorServer } from '../../src/emulator/index.js'
import { createTokenManager } from '../../src/index.js'

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

  it('blob keeps the content type', async () => {
    const blob = await (await call()).blob()
    expect(blob.type).toContain('application/json')
  })

  it('answers every member of Response itself (in Node it is built without undici’s inner state)', async () => {
    const response = await call()
    const own = Object.getPrototypeOf(response) as object
    const members = Object.getOwnPropertyNames(Response.prototype).filter((name) => name !== 'constructor')
    expect(members.length).toBeGreaterThan(10)
    // A member added to Response one day would reach the missing inner state and throw: it must be overridden.
    expect(members.filter((name) => !Object.hasOwn(own, name))).toEqual([])
    expect(Object.prototype.toString.call(response)).toBe('[object Response]')
    const shown = inspect(response)
    expect(shown).toContain('status: 200')
    expect(shown).toContain('application/json')
    expect(await response.json()).toEqual(EXPECTED)
  })
})
