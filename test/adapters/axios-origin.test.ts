import axios from 'axios'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { attachServiceToken } from '../../adapters/axios.js'
import { createTokenManager } from '../../src/index.js'
import { json, startServer } from '../helpers/http-server.js'

/** axios decides where a request goes from baseURL + url; the adapter must decide the same way. */
let api: Awaited<ReturnType<typeof startServer>>
let other: Awaited<ReturnType<typeof startServer>>
beforeAll(async () => {
  api = await startServer((_request, response) => json(response, { code: 1000, message: 'success', data: {} }))
  other = await startServer((_request, response) => json(response, { code: 1000, message: 'success', data: {} }))
})
afterAll(async () => {
  await api.close()
  await other.close()
})

function client() {
  const manager = createTokenManager({ source: async () => ({ token: 'TOKEN-XYZ', expiresIn: 60 }), baseUrl: api.url })
  const instance = axios.create({ baseURL: api.url })
  attachServiceToken(instance, manager)
  return instance
}
const lastBody = (server: typeof api) => server.received.at(-1)?.body ?? ''

describe('axios adapter: which URL gets the token', () => {
  it('adds it to a relative url under the allowed baseURL', async () => {
    await client().post('/service/checkAddresses', { group: {} })
    expect(JSON.parse(lastBody(api))).toEqual({ group: {}, serviceToken: 'TOKEN-XYZ' })
  })

  it('never to an absolute url on another origin', async () => {
    await client().post(`${other.url}/service/checkAddresses`, { group: {} })
    expect(lastBody(other)).toBe('{"group":{}}')
  })

  it('never to a protocol-relative url', async () => {
    const host = other.url.replace('http:', '')
    const seen = [api.received.length, other.received.length] as const
    await client().post(`${host}/x`, { group: {} }).catch(() => undefined)
    const sent = [...api.received.slice(seen[0]), ...other.received.slice(seen[1])]
    expect(sent.map((entry) => entry.body).join()).not.toContain('TOKEN-XYZ')
  })

  it('to an absolute url under the base when allowAbsoluteUrls is false (axios sends it to the base)', async () => {
    const before = api.received.length
    await client().post(`${other.url}/y`, { group: {} }, { allowAbsoluteUrls: false }).catch(() => undefined)
    expect(api.received.length).toBe(before + 1)
    expect(lastBody(api)).toContain('TOKEN-XYZ')
    expect(lastBody(other)).not.toContain('TOKEN-XYZ')
  })
})
