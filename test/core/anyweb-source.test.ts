import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AnyWebApiError, createTokenManager, ErrorCode, InvalidResponseError, TokenRequestError } from '../../src/index.js'
import type { AnyWebManagerOptions, TokenManagerEvent } from '../../src/index.js'
import { json, startServer } from '../helpers/http-server.js'

const SECRET = 'S3CR3T-d0-n0t-l3ak'
const APPID = 'app-under-test'

let server: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  server = await startServer((_request, response) => json(response, {}))
})
afterAll(() => server.close())

function manager(extra: Partial<AnyWebManagerOptions> = {}) {
  const events: TokenManagerEvent[] = []
  const created = createTokenManager({
    appid: APPID,
    secret: SECRET,
    baseUrl: server.url,
    retry: { attempts: 1 },
    onEvent: (event) => events.push(event),
    ...extra,
  })
  return { manager: created, events }
}

/** Everything a user could print or serialise must be free of the secret. */
function expectNoSecret(...things: unknown[]): void {
  for (const thing of things) {
    const shown = inspect(thing, { depth: 10, showHidden: true }) + JSON.stringify(thing) + String(thing)
    expect(shown).not.toContain(SECRET)
  }
}

describe('AnyWeb token source against a real server on 127.0.0.1', () => {
  it('posts JSON {appid, secret} to /service/serviceToken and returns the token', async () => {
    server.handle((_request, response) =>
      json(response, { code: 1000, message: 'success', data: { serviceToken: 'jwt.a.b', expiresIn: 7200 } }),
    )
    const before = Date.now()
    const { manager: m, events } = manager()
    expect(await m.getToken()).toBe('jwt.a.b')
    const request = server.received.at(-1)!
    expect(request.method).toBe('POST')
    expect(request.path).toBe('/service/serviceToken')
    expect(request.headers['content-type']).toBe('application/json')
    expect(JSON.parse(request.body)).toEqual({ appid: APPID, secret: SECRET })
    const expiresAt = m.peek()!.expiresAt
    expect(expiresAt).toBeGreaterThanOrEqual(before + 7_200_000)
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 7_200_000)
    expectNoSecret(m, events)
  })

  it.each([
    ['A108P002', 'appid empty', 200],
    ['A108P003', 'secret empty', 200],
    ['A108P004', 'secret invalid', 200],
    ['A108P005', 'appid invalid', 200],
    ['A108P004', 'secret invalid', 401],
    ['A108P005', 'appid invalid', 400],
  ])('turns %s (%s, HTTP %i) into a final credentials error', async (code, message, status) => {
    server.handle((_request, response) => json(response, { code, message }, status))
    const { manager: m, events } = manager({ retry: { attempts: 5 } })
    const requestsBefore = server.received.length
    const error = await m.getToken().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(AnyWebApiError)
    expect(error).toMatchObject({
      code: ErrorCode.Credentials,
      serverCode: code,
      serverMessage: message,
      status,
      retryable: false,
      name: 'AnyWebApiError',
    })
    expect((error as Error).message).toContain(code)
    expect((error as Error).message).toContain(APPID)
    // Final: no retries despite five allowed attempts, and the cooldown answers the next caller.
    await expect(m.getToken()).rejects.toBe(error)
    expect(server.received.length - requestsBefore).toBe(1)
    expectNoSecret(error, events, m)
  })

  it('keeps an unknown AnyWeb code as a retryable ERR_ANYWEB_API error', async () => {
    server.handle((_request, response) => json(response, { code: 'A999X999', message: 'maintenance' }, 503, { 'retry-after': '7' }))
    const error = await manager().manager.getToken().catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: ErrorCode.Api, serverCode: 'A999X999', status: 503, retryAfterMs: 7000, retryable: true })
  })

  it('reports a 5xx without envelope as ERR_TOKEN_HTTP', async () => {
    server.handle((_request, response) => {
      response.writeHead(502, { 'content-type': 'text/plain' })
      response.end('bad gateway')
    })
    const error = await manager().manager.getToken().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(TokenRequestError)
    expect(error).toMatchObject({ code: ErrorCode.Http, status: 502, retryable: true })
  })

  it('reads Retry-After of a 429 (seconds and HTTP date)', async () => {
    server.handle((_request, response) => {
      response.writeHead(429, { 'retry-after': '3' })
      response.end()
    })
    expect(await manager().manager.getToken().catch((caught: unknown) => caught)).toMatchObject({
      code: ErrorCode.Http,
      status: 429,
      retryAfterMs: 3000,
    })
    const date = new Date(Date.now() + 60_000).toUTCString()
    server.handle((_request, response) => {
      response.writeHead(429, { 'retry-after': date })
      response.end('slow down')
    })
    const error = (await manager().manager.getToken().catch((caught: unknown) => caught)) as TokenRequestError
    expect(error.retryAfterMs).toBeGreaterThan(55_000)
    expect(error.retryAfterMs).toBeLessThanOrEqual(60_000)
  })

  it.each([
    ['truncated JSON', '{"code":1000,"message":"success","data":{"serviceTo', 'application/json'],
    ['an HTML page', '<html><body>502 Bad Gateway</body></html>', 'text/html'],
    ['an empty body', '', 'application/json'],
    ['a JSON array', '[1,2,3]', 'application/json'],
    ['a boolean code', '{"code":true,"message":"?"}', 'application/json'],
    ['code 1001', '{"code":1001,"message":"?","data":{"serviceToken":"t","expiresIn":7200}}', 'application/json'],
    ['no code at all', '{"message":"success","data":{"serviceToken":"t","expiresIn":7200}}', 'application/json'],
    ['an empty token', '{"code":1000,"message":"success","data":{"serviceToken":"","expiresIn":7200}}', 'application/json'],
    ['a missing token', '{"code":1000,"message":"success","data":{"expiresIn":7200}}', 'application/json'],
    ['no data', '{"code":1000,"message":"success"}', 'application/json'],
    ['expiresIn missing', '{"code":1000,"message":"success","data":{"serviceToken":"t"}}', 'application/json'],
    ['expiresIn 0', '{"code":1000,"message":"success","data":{"serviceToken":"t","expiresIn":0}}', 'application/json'],
    ['expiresIn negative', '{"code":1000,"message":"success","data":{"serviceToken":"t","expiresIn":-1}}', 'application/json'],
    ['expiresIn a string', '{"code":1000,"message":"success","data":{"serviceToken":"t","expiresIn":"7200"}}', 'application/json'],
    ['expiresIn huge', '{"code":1000,"message":"success","data":{"serviceToken":"t","expiresIn":1e300}}', 'application/json'],
  ])('rejects %s with HTTP 200 as ERR_TOKEN_RESPONSE', async (_name, body, type) => {
    server.handle((_request, response) => {
      response.writeHead(200, { 'content-type': type })
      response.end(body)
    })
    const error = await manager().manager.getToken().catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(InvalidResponseError)
    expect(error).toMatchObject({ code: ErrorCode.InvalidResponse, retryable: true })
  })

  it('reports a refused connection as ERR_TOKEN_NETWORK, with the cause kept', async () => {
    const closed = await startServer(() => {})
    await closed.close()
    const { manager: m, events } = manager({ baseUrl: closed.url })
    const error = await m.getToken().catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: ErrorCode.Network })
    expect((error as Error).cause).toBeDefined()
    expectNoSecret(error, events)
  })

  it('reports a connection reset as ERR_TOKEN_NETWORK', async () => {
    server.handle((_request, response) => response.socket?.destroy())
    expect(await manager().manager.getToken().catch((caught: unknown) => caught)).toMatchObject({ code: ErrorCode.Network })
  })

  it('aborts a hanging token request after `timeout` with ERR_TOKEN_TIMEOUT', async () => {
    server.handle(() => {
      // never answers
    })
    const started = Date.now()
    const error = await manager({ timeout: 200 }).manager.getToken().catch((caught: unknown) => caught)
    expect(error).toMatchObject({ code: ErrorCode.Timeout })
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('captures the fetch at creation, so a later global wrapper never sees token requests', async () => {
    server.handle((_request, response) =>
      json(response, { code: 1000, message: 'success', data: { serviceToken: 'captured', expiresIn: 60 } }),
    )
    const original = globalThis.fetch
    const { manager: m } = manager()
    let wrapped = 0
    globalThis.fetch = (...args: Parameters<typeof fetch>) => {
      wrapped++
      return original(...args)
    }
    try {
      expect(await m.getToken()).toBe('captured')
    } finally {
      globalThis.fetch = original
    }
    expect(wrapped).toBe(0)
  })

  it('recovers once the endpoint recovers', async () => {
    server.handle((_request, response) => {
      response.writeHead(503)
      response.end()
    })
    // The manager's clock stands still and its jitter is fixed (only the retry pauses run on real
    // timers), so "still inside the backoff" holds however slow the machine is between the two calls.
    let clock = Date.now()
    const { manager: m } = manager({ retry: { attempts: 3, baseDelay: 1, maxDelay: 5 }, now: () => clock, random: () => 0.5 })
    await expect(m.getToken()).rejects.toMatchObject({ code: ErrorCode.Http })
    server.handle((_request, response) =>
      json(response, { code: 1000, message: 'success', data: { serviceToken: 'back', expiresIn: 60 } }),
    )
    // Still inside the backoff: the last error, without a request.
    const requests = server.received.length
    await expect(m.getToken()).rejects.toMatchObject({ code: ErrorCode.Http })
    expect(server.received.length).toBe(requests)
    clock += 10
    expect(await m.getToken()).toBe('back')
  })
})
