import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { randomUUID } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { createEmulator } from '../../src/emulator/index.js'
import { createTokenManager } from '../../src/index.js'
import { instrument } from '../../src/otel/index.js'
import { errorType } from '../../src/otel/error-type.js'
import { dingtalk, wechat } from '../../src/presets/index.js'
import { attributeSets, createSdk } from './sdk.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

describe('error.type: low cardinality whatever the server answers', () => {
  it.each([
    ['A108P004', 'ERR_ANYWEB_CREDENTIALS', 'A108P004'],
    ['40013', 'ERR_PLATFORM_CREDENTIALS', '40013'],
    ['-1', 'ERR_PLATFORM_API', '-1'],
    ['999999999', 'ERR_PLATFORM_API', '999999999'],
    ['1234567890', 'ERR_PLATFORM_API', 'ERR_PLATFORM_API'], // 10 digits: no platform's errcode
    ['gw-288c8b35-4f1e', 'ERR_PLATFORM_API', 'ERR_PLATFORM_API'], // a gateway's request id
    ['invalidClientIdOrSecret', 'ERR_PLATFORM_CREDENTIALS', 'ERR_PLATFORM_CREDENTIALS'],
    ['A108P004x', 'ERR_ANYWEB_API', 'ERR_ANYWEB_API'],
  ])('serverCode %s, code %s: %s', (serverCode, code, expected) => {
    expect(errorType({ serverCode, code })).toBe(expected)
  })

  it('a client code when there is no server code; _OTHER for anything else', () => {
    expect(errorType({ code: 'ECONNREFUSED' })).toBe('ECONNREFUSED')
    expect(errorType({ code: 'a message with spaces' })).toBe('_OTHER')
    expect(errorType(new Error('x'))).toBe('_OTHER')
    expect(errorType('x')).toBe('_OTHER')
  })

  it('a gateway answering a new id as `code` to each token request (loopback server, DingTalk preset): one series, ERR_PLATFORM_API', async () => {
    let answered = 0
    const server = createServer((request, response) => {
      request.resume()
      answered++
      response.writeHead(503, { 'content-type': 'application/json' })
      response.end(JSON.stringify({ code: `gw-${randomUUID()}`, message: 'upstream busy' }))
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    cleanups.push(() => new Promise((resolve) => server.close(resolve)))
    const { port } = server.address() as AddressInfo
    const otel = createSdk()
    cleanups.push(() => otel.shutdown())
    const manager = createTokenManager({
      ...dingtalk({ appKey: 'ding-key', appSecret: 'ding-secret-5c1e', baseUrl: `http://127.0.0.1:${port}` }),
      retry: { attempts: 5, baseDelay: 1, maxDelay: 2 },
    })
    cleanups.push(() => manager.close())
    cleanups.push(instrument(manager, { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider }))
    await expect(manager.getToken()).rejects.toMatchObject({ code: 'ERR_PLATFORM_API' })
    expect(answered).toBe(5)
    expect(attributeSets(await otel.metrics(), 'anyweb.token.requests')).toEqual([{ 'anyweb.token.outcome': 'failure', 'error.type': 'ERR_PLATFORM_API' }])
    expect(new Set(otel.spans().map((span) => span.attributes['error.type']))).toEqual(new Set(['ERR_PLATFORM_API']))
  })

  it("WeChat's errcode is kept (emulator, wrong secret): 40001", async () => {
    const emu = createEmulator({ profile: 'wechat', apps: { wx1: 'wx-secret-right' } })
    const otel = createSdk()
    cleanups.push(() => otel.shutdown())
    const server = await emu.listen()
    cleanups.push(() => server.close())
    const manager = createTokenManager(wechat({ appid: 'wx1', secret: 'wx-secret-wrong', baseUrl: server.url }))
    cleanups.push(() => manager.close())
    cleanups.push(instrument(manager, { meterProvider: otel.meterProvider, tracerProvider: otel.tracerProvider }))
    await expect(manager.getToken()).rejects.toMatchObject({ serverCode: '40001' })
    expect(attributeSets(await otel.metrics(), 'anyweb.token.requests')).toEqual([{ 'anyweb.token.outcome': 'failure', 'error.type': '40001' }])
  })
})
