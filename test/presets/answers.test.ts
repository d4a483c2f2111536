import type { ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { createTokenManager } from '../../src/index.js'
import type { TokenManagerEvent, TokenManagerOptions } from '../../src/index.js'
import { dingtalk, feishu, wechat, wecom } from '../../src/presets/index.js'
import { json, startServer } from '../helpers/http-server.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

const MIB = 1 << 20

/** A token endpoint that answers `chunks` MiB of `a` with `status`, writing only as fast as the client reads. */
async function hugeAnswer(chunks: number, status = 200) {
  const state = { sent: 0 }
  const chunk = Buffer.alloc(MIB, 'a')
  const server = await startServer((_request, response: ServerResponse) => {
    response.writeHead(status, { 'content-type': 'application/json' })
    let written = 0
    const pump = (): void => {
      while (written < chunks && !response.destroyed) {
        written++
        state.sent += chunk.length
        if (!response.write(chunk)) return void response.once('drain', pump)
      }
      response.end()
    }
    pump()
  })
  cleanups.push(() => server.close())
  return { server, state }
}

function manager(options: TokenManagerOptions) {
  const made = createTokenManager({ ...options, retry: { attempts: 1 } } as TokenManagerOptions)
  cleanups.push(() => made.close())
  return made
}

describe('token answers are read within 64 KiB', () => {
  const presets: Array<[string, (baseUrl: string) => TokenManagerOptions]> = [
    ['wechat', (baseUrl) => wechat({ appid: 'wx1', secret: 'secret-1', baseUrl })],
    ['AnyWeb', (baseUrl) => ({ appid: 'app-1', secret: 'secret-1', baseUrl })],
  ]
  for (const [name, make] of presets) {
    for (const status of [200, 500]) {
      it(`${name}: a 150 MiB answer with HTTP ${status} is refused part-way, not read whole`, async () => {
        const { server, state } = await hugeAnswer(150, status)
        const error = await manager(make(server.url)).getToken().catch((caught: unknown) => caught)
        expect(error).toMatchObject({ name: 'InvalidResponseError', code: 'ERR_TOKEN_RESPONSE', status })
        expect((error as Error).message).toContain('more than 65536 bytes')
        // The client stopped reading: the server could not write much beyond its socket buffers.
        expect(state.sent).toBeLessThan(32 * MIB)
      })
    }

    it(`${name}: a small gzip answer that inflates to 8 MiB is refused by its decoded size`, async () => {
      const bomb = gzipSync(Buffer.alloc(8 * MIB, ' '))
      expect(bomb.byteLength).toBeLessThan(64 * 1024)
      const server = await startServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
        response.end(bomb)
      })
      cleanups.push(() => server.close())
      const error = await manager(make(server.url)).getToken().catch((caught: unknown) => caught)
      expect(error).toMatchObject({ code: 'ERR_TOKEN_RESPONSE' })
      expect((error as Error).message).toContain('more than 65536 bytes')
    })
  }

  it('an answer of just under 64 KiB is read whole', async () => {
    const padding = ' '.repeat(64 * 1024 - 100)
    const server = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' })
      response.end(`{"access_token":"tok-1","expires_in":7200}${padding}`)
    })
    cleanups.push(() => server.close())
    expect(await manager(wechat({ appid: 'wx1', secret: 's', baseUrl: server.url })).getToken()).toBe('tok-1')
  })
})

describe('the manager\'s clock reads the answers', () => {
  it('ERR_PLATFORM_QUOTA holds token requests back until 00:00 China time, by the injected clock', async () => {
    const server = await startServer((_request, response) => json(response, { errcode: 45009, errmsg: 'reach max api daily quota limit' }))
    cleanups.push(() => server.close())
    let clock = Date.UTC(2026, 11, 8, 3, 0, 0) // 11:00 in China: 13 h before its midnight
    const events: TokenManagerEvent[] = []
    const made = manager({ ...wechat({ appid: 'wx1', secret: 's', baseUrl: server.url }), now: () => clock, onEvent: (event) => events.push(event) })
    for (let minute = 0; minute < 10; minute++) {
      await expect(made.getToken()).rejects.toMatchObject({ code: 'ERR_PLATFORM_QUOTA', retryAfterMs: 13 * 3600_000 })
      clock += 60_000
    }
    expect(server.received).toHaveLength(1)
    const failed = events.find((event) => event.type === 'token-request-failed')
    expect(failed).toMatchObject({ final: true, retryInMs: 13 * 3600_000 })
    clock = Date.UTC(2026, 11, 8, 15, 59, 59) // 23:59:59 in China
    await expect(made.getToken()).rejects.toMatchObject({ message: expect.stringContaining('in 13.0 h') })
    expect(server.received).toHaveLength(1)
    clock = Date.UTC(2026, 11, 8, 16, 0, 0) // the next day in China
    await expect(made.getToken()).rejects.toMatchObject({ code: 'ERR_PLATFORM_QUOTA', retryAfterMs: 24 * 3600_000 })
    expect(server.received).toHaveLength(2)
  })

  it('a final error without retryAfterMs keeps the cooldown', async () => {
    const server = await startServer((_request, response) => json(response, { errcode: 40125, errmsg: 'invalid appsecret' }))
    cleanups.push(() => server.close())
    let clock = Date.UTC(2026, 11, 8, 3, 0, 0)
    const made = manager({ ...wechat({ appid: 'wx1', secret: 's', baseUrl: server.url }), now: () => clock, cooldown: 30_000 })
    await expect(made.getToken()).rejects.toMatchObject({ code: 'ERR_PLATFORM_CREDENTIALS' })
    clock += 29_999
    await expect(made.getToken()).rejects.toMatchObject({ code: 'ERR_PLATFORM_CREDENTIALS' })
    expect(server.received).toHaveLength(1)
    clock += 1
    await expect(made.getToken()).rejects.toMatchObject({ code: 'ERR_PLATFORM_CREDENTIALS' })
    expect(server.received).toHaveLength(2)
  })

  it('Retry-After as an HTTP date is read against the manager\'s clock', async () => {
    const clock = Date.UTC(2031, 0, 1, 0, 0, 0) // years away from the real clock
    const busy = (path: string) => (path.startsWith('/service/') ? { code: 'A108B001', message: 'busy' } : { errcode: -1, errmsg: 'system busy' })
    const server = await startServer((request, response) =>
      json(response, busy(request.path), 503, { 'retry-after': new Date(clock + 10_000).toUTCString() }),
    )
    cleanups.push(() => server.close())
    for (const options of [wechat({ appid: 'wx1', secret: 's', baseUrl: server.url }), { appid: 'a', secret: 's', baseUrl: server.url }]) {
      const made = manager({ ...options, now: () => clock })
      await expect(made.getToken()).rejects.toMatchObject({ retryAfterMs: 10_000 })
    }
  })
})

describe('success codes and lifetimes', () => {
  async function answering(body: unknown) {
    const server = await startServer((_request, response) => json(response, body))
    cleanups.push(() => server.close())
    return server.url
  }

  const cases: Array<[string, (baseUrl: string) => TokenManagerOptions, unknown, string]> = [
    ['wechat errcode "0"', (baseUrl) => wechat({ appid: 'wx1', secret: 's', baseUrl }), { errcode: '0', errmsg: 'ok', access_token: 'tok-1', expires_in: 7200 }, 'tok-1'],
    ['wecom errcode "0"', (baseUrl) => wecom({ corpid: 'ww1', corpsecret: 's', baseUrl }), { errcode: '0', errmsg: 'ok', access_token: 'tok-2', expires_in: 7200 }, 'tok-2'],
    ['feishu code "0"', (baseUrl) => feishu({ appId: 'cli_1', appSecret: 's', baseUrl }), { code: '0', msg: 'ok', tenant_access_token: 'tok-3', expire: 7200 }, 'tok-3'],
    ['dingtalk code 0', (baseUrl) => dingtalk({ appKey: 'k', appSecret: 's', baseUrl }), { code: 0, accessToken: 'tok-4', expireIn: 7200 }, 'tok-4'],
    ['wechat a lifetime of 1 s', (baseUrl) => wechat({ appid: 'wx1', secret: 's', baseUrl }), { access_token: 'tok-5', expires_in: 1 }, 'tok-5'],
  ]
  for (const [name, make, body, token] of cases) {
    it(`${name} is a success`, async () => {
      const made = manager({ ...make(await answering(body)), expiryMargin: 0, refreshWindow: 0 })
      expect(await made.getToken()).toBe(token)
    })
  }

  it('a lifetime under 1 s is a broken answer, for the presets and AnyWeb', async () => {
    for (const options of [
      wechat({ appid: 'wx1', secret: 's', baseUrl: await answering({ access_token: 'tok', expires_in: 0.5 }) }),
      { appid: 'a', secret: 's', baseUrl: await answering({ code: 1000, data: { serviceToken: 'tok', expiresIn: 0.5 } }) },
    ]) {
      const error = await manager(options).getToken().catch((caught: unknown) => caught)
      expect(error).toMatchObject({ code: 'ERR_TOKEN_RESPONSE', message: expect.stringContaining('at least 1') })
    }
  })

  it('a code other than 0 is still an error', async () => {
    const made = manager(dingtalk({ appKey: 'k', appSecret: 's', baseUrl: await answering({ code: '00', accessToken: 'tok', expireIn: 7200 }) }))
    await expect(made.getToken()).rejects.toMatchObject({ code: 'ERR_PLATFORM_API' })
  })
})
