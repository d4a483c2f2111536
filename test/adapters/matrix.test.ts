import type { ServerResponse } from 'node:http'
import axios from 'axios'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createEmulator } from '../../src/emulator/index.js'
import type { Emulator, EmulatorOptions } from '../../src/emulator/index.js'
import { createTokenManager, isServiceTokenError } from '../../src/index.js'
import type { TokenManager } from '../../src/index.js'
import { drivers, libraryErrorOf } from '../helpers/adapter-drivers.js'
import { json, startServer } from '../helpers/http-server.js'
import type { Received } from '../helpers/http-server.js'
import { countingSource } from '../helpers/source.js'

const CHECK = '/service/checkAddresses'
const group = { u1: ['cfx:aa', 'cfx:bb'] }

type Server = Awaited<ReturnType<typeof startServer>>

/** Closes what a test opened, whatever happened. */
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function emulatorWorld(options: EmulatorOptions = {}, secret = 'demo-secret') {
  const emu: Emulator = createEmulator(options)
  const server = await emu.listen({ hostname: '127.0.0.1', port: 0 })
  const manager = createTokenManager({ appid: 'demo-app', secret, baseUrl: server.url, retry: { attempts: 1 } })
  cleanups.push(() => server.close(), () => manager.close())
  return { emu, url: server.url, manager }
}

/** A recording API origin whose answers the test scripts, with tokens token-1, token-2, … from a counting source. */
async function recordingWorld(handler: (request: Received, response: ServerResponse) => void = ok) {
  const api = await startServer(handler)
  const source = countingSource({ auto: true })
  const manager = createTokenManager({ source: source.source, baseUrl: api.url })
  cleanups.push(() => api.close(), () => manager.close())
  return { api, source, manager }
}

function ok(_request: Received, response: ServerResponse): void {
  json(response, { code: 1000, message: 'success', data: {} })
}

/** The token a recorded request carried in its JSON body, if any. */
function bodyToken(request: Received): unknown {
  try {
    return (JSON.parse(request.body) as Record<string, unknown>)['serviceToken']
  } catch {
    return undefined
  }
}

function carriesAnyToken(request: Received): boolean {
  return /token-\d/.test(request.body + request.path + JSON.stringify(request.headers))
}

describe.each(drivers)('$name', (driver) => {
  describe('against the emulator', () => {
    it('cold start: 1,000 concurrent requests make exactly one token request, and all succeed', async () => {
      const { emu, url, manager } = await emulatorWorld()
      const call = driver.client(manager)
      const outcomes = await Promise.all(
        Array.from({ length: 1000 }, () =>
          call({ url: url + CHECK, body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } }),
        ),
      )
      expect(emu.stats().tokensIssued).toBe(1)
      expect(outcomes.every((outcome) => outcome.status === 200 && (outcome.json as { code: unknown }).code === 1000)).toBe(true)
      expect(emu.stats().requests.checkAddresses).toBe(1000)
    })

    it('tokens revoked under load: one refresh, every request succeeds', async () => {
      const { emu, url, manager } = await emulatorWorld()
      const call = driver.client(manager)
      const send = () => call({ url: url + CHECK, body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } })
      expect((await send()).json).toMatchObject({ code: 1000 })
      emu.revokeAll()
      const outcomes = await Promise.all(Array.from({ length: 200 }, send))
      expect(outcomes.map((outcome) => (outcome.json as { code: unknown }).code)).toEqual(Array(200).fill(1000))
      expect(emu.stats().tokensIssued).toBe(2)
      expect(emu.stats().authFailures).toBe(200)
    })

    it('a permanent A108P001: each request is replayed exactly once, then the failure is returned', async () => {
      const { emu, url, manager } = await emulatorWorld()
      const call = driver.client(manager)
      emu.inject('checkAddresses', { type: 'api-error', code: 'A108P001', status: 200 })
      const outcomes = await Promise.all(
        Array.from({ length: 10 }, () =>
          call({ url: url + CHECK, body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } }),
        ),
      )
      expect(outcomes.map((outcome) => (outcome.json as { code: unknown }).code)).toEqual(Array(10).fill('A108P001'))
      expect(emu.stats().requests.checkAddresses).toBe(20)
      // The first failures invalidate token 1; replays that fail again invalidate nothing more.
      expect(emu.stats().tokensIssued).toBe(2)
    })

    it('when the API refuses fresh tokens too, a request refused with the token the manager keeps is not sent again', async () => {
      const { emu, url, manager } = await emulatorWorld()
      const call = driver.client(manager)
      emu.inject('checkAddresses', { type: 'api-error', code: 'A108P001', status: 200 })
      const send = () => call({ url: url + CHECK, body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } })
      expect((await send()).json).toMatchObject({ code: 'A108P001' })
      expect(emu.stats().requests.checkAddresses).toBe(2)
      // Token 2 was refused within refusalBackoff (1 s) of replacing a refused token: the manager keeps it,
      // so the refusal is the answer, with no second request carrying the same token.
      expect((await send()).json).toMatchObject({ code: 'A108P001' })
      expect(emu.stats().requests.checkAddresses).toBe(3)
      expect(emu.stats().tokensIssued).toBe(2)
    })

    it('a 401 without a body counts as an auth error too', async () => {
      const { emu, url, manager } = await emulatorWorld()
      const call = driver.client(manager)
      emu.inject('checkAddresses', { type: 'status', status: 401, body: 'text' }, { times: 1 })
      const outcome = await call({ url: url + CHECK, body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } })
      expect(outcome.json).toMatchObject({ code: 1000 })
      expect(emu.stats().requests.checkAddresses).toBe(2)
    })

    it('header placement (Authorization: Bearer)', async () => {
      const { emu, url, manager } = await emulatorWorld({ tokenFrom: ['header'] })
      const call = driver.client(manager, { placement: { in: 'header', name: 'authorization', scheme: 'Bearer' } })
      const outcome = await call({ url: url + CHECK, body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } })
      expect(outcome.json).toMatchObject({ code: 1000, data: group })
      expect(emu.stats().authFailures).toBe(0)
    })

    it('query placement', async () => {
      const { emu, url, manager } = await emulatorWorld({ tokenFrom: ['query'] })
      const call = driver.client(manager, { placement: { in: 'query', name: 'serviceToken' } })
      const outcome = await call({ url: `${url + CHECK}?x=1`, body: JSON.stringify({ group }), headers: { 'content-type': 'application/json' } })
      expect(outcome.json).toMatchObject({ code: 1000, data: group })
      expect(emu.stats().authFailures).toBe(0)
    })

    it('manager errors surface through the host error path with the typed error', async () => {
      const { emu, url, manager } = await emulatorWorld({}, 'wrong-secret')
      const call = driver.client(manager)
      const error: unknown = await call({ url: url + CHECK, body: JSON.stringify({ group }) }).then(
        () => undefined,
        (caught: unknown) => caught,
      )
      expect(isServiceTokenError(libraryErrorOf(error), 'ERR_ANYWEB_CREDENTIALS')).toBe(true)
      expect(emu.stats().requests.checkAddresses).toBe(0)
    })

    it('requests to the token endpoint are never touched', async () => {
      const { emu, url, manager } = await emulatorWorld()
      const call = driver.client(manager)
      const outcome = await call({
        url: `${url}/service/serviceToken`,
        body: JSON.stringify({ appid: 'demo-app', secret: 'demo-secret' }),
        headers: { 'content-type': 'application/json' },
      })
      expect(outcome.json).toMatchObject({ code: 1000 })
      // Had the adapter wrapped it, it would have fetched a token first.
      expect(emu.stats().tokensIssued).toBe(1)
    })
  })

  describe('on the wire', () => {
    let second: Server
    beforeEach(async () => {
      second = await startServer(ok)
      cleanups.push(() => second.close())
    })

    it('JSON bodies keep their fields, order, formatting and content type', async () => {
      const { api, manager } = await recordingWorld()
      const call = driver.client(manager)
      const body = '{ "z": 1, "a": [1, 2], "big": 12345678901234567890 }'
      await call({ url: api.url + CHECK, body, headers: { 'content-type': 'application/json; charset=utf-8' } })
      const [request] = api.received
      expect(request?.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(request?.body).toBe('{ "z": 1, "a": [1, 2], "big": 12345678901234567890 ,"serviceToken":"token-1"}')
    })

    it('a serviceToken the caller put in the body is overwritten', async () => {
      const { api, manager } = await recordingWorld()
      const call = driver.client(manager)
      await call({ url: api.url + CHECK, body: '{"serviceToken":"mine","a":1}', headers: { 'content-type': 'application/json' } })
      expect(api.received[0]?.body).toBe('{"serviceToken":"token-1","a":1}')
    })

    it('a query parameter of the token\'s name already in the URL (as WeChat\'s docs print theirs) gets the token, in place and once', async () => {
      const { api, manager } = await recordingWorld()
      const call = driver.client(manager, { placement: { in: 'query', name: 'access_token' } })
      await call({ url: `${api.url}/cgi-bin/message/custom/send?access_token=ACCESS_TOKEN&x=1`, body: '{}', headers: { 'content-type': 'application/json' } })
      expect(api.received[0]?.path).toBe('/cgi-bin/message/custom/send?access_token=token-1&x=1')
    })

    it('urlencoded bodies keep their fields, order and content type', async () => {
      const { api, manager } = await recordingWorld()
      const call = driver.client(manager)
      await call({
        url: api.url + CHECK,
        body: 'b=2&a=1&a=x%20y',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      })
      const [request] = api.received
      expect(request?.headers['content-type']).toMatch(/^application\/x-www-form-urlencoded/)
      expect(request?.body).toBe('b=2&a=1&a=x%20y&serviceToken=token-1')
    })

    it('multipart bodies keep their fields, order, files and content type', async () => {
      const { api, manager } = await recordingWorld()
      const makeForm = () => {
        const form = new FormData()
        form.append('group', JSON.stringify(group))
        form.append('file', new Blob(['file-content'], { type: 'text/x-test' }), 'a.txt')
        form.append('note', 'n')
        return form
      }
      // What the host sends without the adapter: axios' fetch adapter labels FormData urlencoded by itself.
      await driver.client(manager, { origins: ['http://127.0.0.1:1'] })({ url: api.url + CHECK, body: makeForm() })
      await driver.client(manager)({ url: api.url + CHECK, body: makeForm() })
      const [baseline, request] = api.received
      const essence = (value: string | undefined) => value?.split(';')[0]
      expect(essence(request?.headers['content-type'])).toBe(essence(baseline?.headers['content-type']))
      const boundary = request?.body.split('\r\n', 1)[0]?.slice(2) ?? ''
      const parsed = await new Response(request?.body, { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }).formData()
      expect([...parsed.keys()]).toEqual(['group', 'file', 'note', 'serviceToken'])
      expect(parsed.get('serviceToken')).toBe('token-1')
      const file = parsed.get('file') as File
      expect([file.name, file.type, await file.text()]).toEqual(['a.txt', 'text/x-test', 'file-content'])
    })

    it('an empty body becomes {"serviceToken": …} as JSON', async () => {
      const { api, manager } = await recordingWorld()
      const call = driver.client(manager)
      await call({ url: api.url + CHECK })
      const [request] = api.received
      expect(request?.headers['content-type']).toMatch(/^application\/json/)
      expect(JSON.parse(request?.body ?? '')).toEqual({ serviceToken: 'token-1' })
    })

    it('header placement leaves the body byte-for-byte alone', async () => {
      const { api, manager } = await recordingWorld()
      const call = driver.client(manager, { placement: { in: 'header', name: 'x-service-token' } })
      await call({ url: api.url + CHECK, body: '{"a":1}', headers: { 'content-type': 'application/json' } })
      const [request] = api.received
      expect(request?.headers['x-service-token']).toBe('token-1')
      expect(request?.body).toBe('{"a":1}')
    })

    it('requests to another origin pass through untouched and never trigger a token request', async () => {
      const { source, manager } = await recordingWorld()
      const call = driver.client(manager)
      await call({ url: `${second.url}/anything?q=1`, body: '{"a":1}', headers: { 'content-type': 'application/json' } })
      expect(second.received).toHaveLength(1)
      expect(second.received[0]?.body).toBe('{"a":1}')
      expect(second.received[0]?.path).toBe('/anything?q=1')
      expect(carriesAnyToken(second.received[0]!)).toBe(false)
      expect(source.count).toBe(0)
    })

    it('one client alternating between the API and another origin: the token goes to the API only', async () => {
      const { api, manager } = await recordingWorld()
      const call = driver.client(manager)
      const json = { 'content-type': 'application/json' }
      for (const url of [api.url + CHECK, `${second.url}/anything`, api.url + CHECK, `${second.url}/anything`]) {
        await call({ url, body: '{"a":1}', headers: json })
      }
      expect(api.received.map(carriesAnyToken)).toEqual([true, true])
      expect(second.received.map(carriesAnyToken)).toEqual([false, false])
    })

    it.each([301, 302, 303, 307, 308])('a %i redirect to another origin never carries the token there', async (status) => {
      const { api, manager } = await recordingWorld((_request, response) => {
        response.writeHead(status, { location: `${second.url}/stolen` })
        response.end()
      })
      for (const placement of [undefined, { in: 'header', name: 'x-token' } as const, { in: 'query', name: 'serviceToken' } as const]) {
        const call = driver.client(manager, placement === undefined ? {} : { placement })
        const outcome = await call({ url: api.url + CHECK, body: '{"a":1}', headers: { 'content-type': 'application/json' } })
        // Not followed: the caller gets the redirect itself.
        expect(outcome.status).toBe(status)
        expect(outcome.location).toBe(`${second.url}/stolen`)
      }
      expect(second.received).toHaveLength(0)
      expect(api.received.length).toBe(3)
    })

    it('a 307 redirect within the allowed origin keeps the token (followed, or returned by axios)', async () => {
      const { api, manager } = await recordingWorld((request, response) => {
        if (request.path === CHECK) {
          response.writeHead(307, { location: '/moved' })
          response.end()
        } else ok(request, response)
      })
      const call = driver.client(manager)
      const outcome = await call({ url: api.url + CHECK, body: '{"a":1}', headers: { 'content-type': 'application/json' } })
      if (driver.followsAllowedRedirects) {
        expect(outcome.status).toBe(200)
        expect(api.received.map((request) => [request.path, request.body])).toEqual([
          [CHECK, '{"a":1,"serviceToken":"token-1"}'],
          ['/moved', '{"a":1,"serviceToken":"token-1"}'],
        ])
      } else {
        expect(outcome.status).toBe(307)
        expect(api.received).toHaveLength(1)
      }
    })

    it('a stale-token failure arriving after a refresh replays with the current token and fetches none', async () => {
      let releaseLate!: () => void
      const lateReleased = new Promise<void>((resolve) => (releaseLate = resolve))
      let seen = 0
      const { api, source, manager } = await recordingWorld((request, response) => {
        const token = bodyToken(request)
        if (token === 'token-1') {
          const refuse = () => json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null })
          // The second token-1 request is answered only once a token-2 request has succeeded.
          if (++seen === 1) refuse()
          else void lateReleased.then(refuse)
          return
        }
        json(response, { code: 1000, message: 'success', data: {} })
        releaseLate()
      })
      await manager.getToken()
      const call = driver.client(manager)
      const send = () => call({ url: api.url + CHECK, body: '{"a":1}', headers: { 'content-type': 'application/json' } })
      const outcomes = await Promise.all([send(), send()])
      expect(outcomes.map((outcome) => (outcome.json as { code: unknown }).code)).toEqual([1000, 1000])
      expect(source.count).toBe(2)
      expect(api.received.map(bodyToken).sort()).toEqual(['token-1', 'token-1', 'token-2', 'token-2'])
    })

    it('an abort while waiting for the token rejects (with the reason; axios: a CanceledError) and sends nothing', async () => {
      const api = await startServer(ok)
      const source = countingSource()
      const manager = createTokenManager({ source: source.source, baseUrl: api.url })
      cleanups.push(() => api.close(), () => manager.close())
      const call = driver.client(manager)
      const controller = new AbortController()
      const pending = call({ url: api.url + CHECK, body: '{}', signal: controller.signal })
      await expect.poll(() => source.count).toBe(1)
      const reason = new Error('caller gave up')
      controller.abort(reason)
      const error: unknown = await pending.catch((caught: unknown) => caught)
      if (driver.abortsWith === 'reason') expect(error).toBe(reason)
      else expect(axios.isCancel(error)).toBe(true)
      source.last.resolve()
      expect(api.received).toHaveLength(0)
    })

    it.each([
      ['with a declared length', true],
      ['chunked', false],
    ])('a refusal labelled text/plain (as some WeChat endpoints send theirs), %s, is seen and replayed', async (_label, declared) => {
      const { api, manager } = await recordingWorld((request, response) => {
        const text = JSON.stringify(bodyToken(request) === 'token-1' ? { code: 'A108P001', message: 'serviceToken wrong', data: null } : { code: 1000 })
        response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', ...(declared ? { 'content-length': Buffer.byteLength(text) } : {}) })
        response.end(text)
      })
      const outcome = await driver.client(manager)({ url: api.url + CHECK, body: '{}', headers: { 'content-type': 'application/json' } })
      expect(outcome.json).toEqual({ code: 1000 })
      expect(api.received.map(bodyToken)).toEqual(['token-1', 'token-2'])
    })

    it('an abort during the replay rejects', async () => {
      let replayArrived!: () => void
      const arrived = new Promise<void>((resolve) => (replayArrived = resolve))
      const { api, manager } = await recordingWorld((request, response) => {
        if (bodyToken(request) === 'token-1') json(response, { code: 'A108P001', message: 'serviceToken wrong', data: null })
        else replayArrived() // never answered: only the abort can end it
      })
      const call = driver.client(manager)
      const controller = new AbortController()
      const pending = call({ url: api.url + CHECK, body: '{}', signal: controller.signal })
      const settled = pending.then(
        () => 'resolved',
        () => 'rejected',
      )
      await arrived
      controller.abort(new Error('stop'))
      expect(await settled).toBe('rejected')
    })
  })
})

describe('adapter creation', () => {
  it.each(drivers)('$name: a manager without baseUrl and no origins is a ConfigurationError', (driver) => {
    const manager: TokenManager = createTokenManager({ source: async () => ({ token: 't', expiresIn: 60 }) })
    cleanups.push(() => manager.close())
    expect(() => driver.client(manager)).toThrowError(expect.objectContaining({ name: 'ConfigurationError', option: 'origins' }))
    expect(() => driver.client(manager, { origins: ['http://127.0.0.1:1'] })).not.toThrow()
  })
})
