import type { ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { createTokenManager } from '../../src/index.js'
import type { TokenManagerOptions } from '../../src/index.js'
import { wechat } from '../../src/presets/index.js'
import { startServer } from '../helpers/http-server.js'

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
