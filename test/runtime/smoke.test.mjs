// The cross-runtime smoke suite: node:test + node:assert, importing the *installed* package by its name,
// so it runs unchanged under `node --test` (20 and 24), `deno test` and `bun test`.
// test/package.test.ts installs the packed tarball into a scratch project and runs this file there.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { createTokenManager, ErrorCode, isServiceTokenError } from 'anyweb-service-token'
import { createEmulator } from 'anyweb-service-token/emulator'
import { withServiceToken } from 'anyweb-service-token/fetch'
import { createAnyWebClient } from 'anyweb-service-token/openapi-fetch'

const runtime = globalThis.Deno ? 'deno' : globalThis.Bun ? 'bun' : `node ${process.version}`
const GROUP = { u1: ['cfx:mine', 'cfx:other'] }
const EXPECTED = { u1: ['cfx:other'] }

describe(`anyweb-service-token on ${runtime}`, () => {
  const emu = createEmulator({ apps: { 'smoke-app': 'smoke-secret' }, users: { u1: ['cfx:mine'] } })
  let server
  before(async () => {
    server = await emu.listen()
  })
  after(async () => {
    await server.close()
  })

  test('core: 100 concurrent callers, one token request', async () => {
    let calls = 0
    const manager = createTokenManager({
      source: async () => {
        calls++
        await new Promise((resolve) => setTimeout(resolve, 5))
        return { token: `t${calls}`, expiresIn: 60 }
      },
    })
    const tokens = await Promise.all(Array.from({ length: 100 }, () => manager.getToken()))
    assert.equal(calls, 1)
    assert.deepEqual([...new Set(tokens)], ['t1'])
    manager.close()
  })

  test('emulator listen() + AnyWeb token source', async () => {
    const manager = createTokenManager({ appid: 'smoke-app', secret: 'smoke-secret', baseUrl: server.url })
    const token = await manager.getToken()
    assert.match(token, /^eyJ/)
    manager.close()
  })

  test('fetch wrapper around the runtime global fetch, with replay after revocation', async () => {
    const manager = createTokenManager({ appid: 'smoke-app', secret: 'smoke-secret', baseUrl: server.url })
    const fetchWithToken = withServiceToken(globalThis.fetch, manager)
    const call = async () => {
      const response = await fetchWithToken(`${server.url}/service/checkAddresses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ group: GROUP }),
      })
      return response.json()
    }
    const before = emu.stats().tokensIssued
    assert.deepEqual(await call(), { code: 1000, message: 'success', data: EXPECTED })
    emu.revokeAll()
    assert.deepEqual(await call(), { code: 1000, message: 'success', data: EXPECTED })
    assert.equal(emu.stats().tokensIssued - before, 2)
    manager.close()
  })

  test("the wrapper's response, served again by the runtime's own server, keeps its status, headers and body", async () => {
    const manager = createTokenManager({ appid: 'smoke-app', secret: 'smoke-secret', baseUrl: server.url })
    const fetchWithToken = withServiceToken(globalThis.fetch, manager)
    const forward = () =>
      fetchWithToken(`${server.url}/service/checkAddresses`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ group: GROUP }),
      })
    const proxy = await serveWith(forward)
    try {
      const answer = await fetch(proxy.url)
      assert.equal(answer.status, 200)
      assert.match(answer.headers.get('content-type') ?? '', /^application\/json/)
      assert.deepEqual(await answer.json(), { code: 1000, message: 'success', data: EXPECTED })
    } finally {
      await proxy.close()
      manager.close()
    }
  })

  test('typed openapi-fetch client', async () => {
    const client = createAnyWebClient({ appid: 'smoke-app', secret: 'smoke-secret', baseUrl: server.url })
    const { data, error } = await client.POST('/service/checkAddresses', { body: { group: GROUP } })
    assert.equal(error, undefined)
    assert.deepEqual(data, { code: 1000, message: 'success', data: EXPECTED })
  })

  test('typed errors: a wrong secret is ERR_ANYWEB_CREDENTIALS', async () => {
    const manager = createTokenManager({ appid: 'smoke-app', secret: 'wrong', baseUrl: server.url })
    await assert.rejects(manager.getToken(), (error) => isServiceTokenError(error, ErrorCode.Credentials))
    manager.close()
  })
})

/** Serves `handler`'s Response with the runtime's own server (Deno.serve, Bun.serve, node:http), on 127.0.0.1. */
async function serveWith(handler) {
  if (globalThis.Deno) {
    const served = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, handler)
    return { url: `http://127.0.0.1:${served.addr.port}/`, close: () => served.shutdown() }
  }
  if (globalThis.Bun) {
    const served = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: handler })
    return { url: `http://127.0.0.1:${served.port}/`, close: () => served.stop(true) }
  }
  const { createServer } = await import('node:http')
  const served = createServer(async (_request, response) => {
    const answer = await handler()
    response.writeHead(answer.status, Object.fromEntries(answer.headers))
    response.end(Buffer.from(await answer.arrayBuffer()))
  })
  await new Promise((resolve) => served.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${served.address().port}/`, close: () => new Promise((resolve) => served.close(resolve)) }
}
