import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { withServiceToken } from '../../adapters/fetch.js'
import { createTokenManager } from '../../src/index.js'
import { startServer } from '../helpers/http-server.js'

/** The default check skips parsing answers that cannot hold the code: it must never miss one that does. */
let server: Awaited<ReturnType<typeof startServer>>
let answers: string[] = []
beforeAll(async () => {
  server = await startServer((_request, response) => {
    const body = answers.shift() ?? '{"code":1000}'
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    response.end(body)
  })
})
afterAll(() => server.close())

function client() {
  let issued = 0
  const manager = createTokenManager({ source: async () => ({ token: `t${++issued}`, expiresIn: 60 }), baseUrl: server.url })
  const anyweb = withServiceToken(fetch, manager)
  return {
    call: async () => (await anyweb(`${server.url}/service/checkAddresses`, { method: 'POST', body: '{}' })).text(),
    issued: () => issued,
  }
}

describe('default auth-error detection on buffered answers', () => {
  it('replays on the plain code', async () => {
    const { call, issued } = client()
    answers = ['{"code":"A108P001","message":"serviceToken wrong"}', '{"code":1000,"data":"ok"}']
    expect(await call()).toBe('{"code":1000,"data":"ok"}')
    expect(issued()).toBe(2)
  })

  it('replays on a code spelled with JSON escapes', async () => {
    const { call, issued } = client()
    answers = ['{"code":"A108P\\u0030\\u0030\\u0031"}', '{"code":1000,"data":"ok"}']
    expect(await call()).toBe('{"code":1000,"data":"ok"}')
    expect(issued()).toBe(2)
  })

  it('does not replay when the text appears elsewhere than in code', async () => {
    const { call, issued } = client()
    const body = '{"code":1000,"data":{"note":"A108P001 is the token error"}}'
    answers = [body]
    expect(await call()).toBe(body)
    expect(issued()).toBe(1)
  })
})
