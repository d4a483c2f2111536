/**
 * The clients the hot-path and allocation benchmarks drive: for each, a baseline that writes the token
 * in by hand and the same client with the adapter; and the echo server they send to.
 */
import { spawn } from 'node:child_process'
import { Agent } from 'node:http'
import { fileURLToPath } from 'node:url'
import axios from 'axios'
import ky from 'ky'
import createClient from 'openapi-fetch'
import type { TokenPlacement } from '../src/http/place.js'
import { built } from './lib.js'

const { attachServiceToken } = await built<typeof import('../adapters/axios.js')>('axios')
const { withServiceToken } = await built<typeof import('../adapters/fetch.js')>('fetch')
const { serviceTokenHooks } = await built<typeof import('../adapters/ky.js')>('ky')
const { serviceTokenMiddleware } = await built<typeof import('../adapters/openapi-fetch.js')>('openapi-fetch')
const { createTokenManager } = await built<typeof import('../src/index.js')>('index')

const PATH = '/service/checkAddresses'
/** A JWT-sized token. */
const TOKEN = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${'x'.repeat(120)}.${'s'.repeat(43)}`
const group = { u1: ['cfx:aa', 'cfx:bb'] }

async function startServer(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./echo-server.ts', import.meta.url))], {
    stdio: ['pipe', 'pipe', 'inherit'],
  })
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (chunk: Buffer) => resolve(chunk.toString().trim()))
    child.once('error', reject)
  })
  return { url: `http://127.0.0.1:${port}`, stop: () => child.kill() }
}

type Send = () => Promise<void>

const decoder = new TextDecoder()
/** Response.prototype without undici's constructor (the cheapest Response subclass known, as the adapter's). */
function Unbuilt(): void {}
Unbuilt.prototype = Response.prototype
/** The Response a by-hand adapter hands on: the original's head, the text it read (decoded once). */
class HandedOn extends (Unbuilt as unknown as typeof Response) {
  readonly #original: Response
  readonly #text: string
  constructor(original: Response, text: string) {
    super()
    this.#original = original
    this.#text = text
  }
  override get status(): number {
    return this.#original.status
  }
  override async text(): Promise<string> {
    return this.#text
  }
}
type Placement = 'header' | 'body'

/** A body read up to its declared length, not a read further (as the adapter reads a small answer). */
async function declared(body: ReadableStream<Uint8Array>, length: number): Promise<Uint8Array> {
  const reader = body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  while (size < length) {
    const { done, value } = await reader.read()
    if (done) break
    chunks.push(value)
    size += value.byteLength
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)
}

/** The baseline (token by hand) and the adapter's sender for one client and placement. */
function senders(client: string, placement: Placement, url: string, fetch: typeof globalThis.fetch = globalThis.fetch): { baseline: Send; adapter: Send } {
  const manager = createTokenManager({ source: async () => ({ token: TOKEN, expiresIn: 3600 }), baseUrl: url })
  const adapterPlacement: TokenPlacement =
    placement === 'header' ? { in: 'header', name: 'authorization', scheme: 'Bearer' } : { in: 'body', field: 'serviceToken' }
  const byHandHeaders: Record<string, string> =
    placement === 'header' ? { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } : { 'content-type': 'application/json' }
  const byHandBody = placement === 'header' ? { group } : { group, serviceToken: TOKEN }
  const options = { placement: adapterPlacement }
  void manager.getToken() // cached before the first measured request
  switch (client) {
    case 'fetch': {
      const wrapped = withServiceToken(fetch, manager, options)
      return {
        baseline: async () => {
          await (await fetch(url + PATH, { method: 'POST', headers: byHandHeaders, body: JSON.stringify(byHandBody) })).text()
        },
        adapter: async () => {
          await (await wrapped(url + PATH, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group }) })).text()
        },
      }
    }
    case 'fetch (steps by hand)': {
      // Not an adapter: the steps any adapter must add to see A108P001 in a 200 answer before the caller
      // does, written inline around the bare fetch with the token already in place — a copied init with
      // redirects kept in hand, the small JSON answer read whole (to its declared length, as the adapter
      // reads it) and looked through, and handed on in a Response of its own. The floor under every
      // fetch-based adapter's ratio, measured in the same way.
      return {
        baseline: async () => {
          await (await fetch(url + PATH, { method: 'POST', headers: byHandHeaders, body: JSON.stringify(byHandBody) })).text()
        },
        adapter: async () => {
          const init: RequestInit = { method: 'POST', headers: { ...byHandHeaders }, body: JSON.stringify(byHandBody) }
          const response = await fetch(url + PATH, { ...init, redirect: 'manual' })
          const length = response.headers.get('content-length')
          if (length === null || Number(length) > 65_536 || response.body === null || !response.headers.get('content-type')?.includes('json')) {
            throw new Error('not a small JSON answer')
          }
          const text = decoder.decode(await declared(response.body, Number(length)))
          if (response.status === 401 || text.includes('A108P001') || text.includes('\\')) throw new Error('refused')
          await new HandedOn(response, text).text()
        },
      }
    }
    case 'axios (http)':
    case 'axios (fetch)': {
      const adapter = client === 'axios (http)' ? 'http' : 'fetch'
      const agent = new Agent({ keepAlive: true })
      const plain = axios.create({ baseURL: url, adapter, httpAgent: agent })
      const tokened = axios.create({ baseURL: url, adapter, httpAgent: agent })
      attachServiceToken(tokened, manager, options)
      return {
        baseline: async () => {
          await plain.post(PATH, byHandBody, placement === 'header' ? { headers: { authorization: `Bearer ${TOKEN}` } } : {})
        },
        adapter: async () => {
          await tokened.post(PATH, { group })
        },
      }
    }
    case 'ky': {
      const plain = ky.create({ baseUrl: url, retry: 0 })
      const tokened = ky.create({ baseUrl: url, retry: 0, hooks: serviceTokenHooks(manager, options) })
      return {
        baseline: async () => {
          await plain.post(PATH.slice(1), { json: byHandBody, ...(placement === 'header' ? { headers: { authorization: `Bearer ${TOKEN}` } } : {}) }).text()
        },
        adapter: async () => {
          await tokened.post(PATH.slice(1), { json: { group } }).text()
        },
      }
    }
    case 'openapi-fetch (middleware)':
    case 'openapi-fetch (fetch option)': {
      type Paths = Record<string, Record<string, unknown>>
      const plain = createClient<Paths>({ baseUrl: url, fetch })
      // The middleware, or the fetch wrapper as the client's fetch (what createAnyWebClient does).
      const tokened =
        client === 'openapi-fetch (middleware)'
          ? createClient<Paths>({ baseUrl: url, fetch })
          : createClient<Paths>({ baseUrl: url, fetch: withServiceToken(fetch, manager, options) })
      if (client === 'openapi-fetch (middleware)') tokened.use(serviceTokenMiddleware(manager, options))
      const post = (c: typeof plain, body: unknown, headers?: Record<string, string>) =>
        c.POST(PATH as never, { body, ...(headers === undefined ? {} : { headers }) } as never) as Promise<unknown>
      return {
        baseline: async () => {
          await post(plain, byHandBody, placement === 'header' ? { authorization: `Bearer ${TOKEN}` } : undefined)
        },
        adapter: async () => {
          await post(tokened, { group })
        },
      }
    }
    default:
      throw new Error(`unknown client ${client}`)
  }
}

const CLIENTS = ['fetch', 'axios (http)', 'axios (fetch)', 'ky', 'openapi-fetch (fetch option)', 'openapi-fetch (middleware)'] as const
/**
 * Measured with no target: openapi-fetch's middleware contract hands `onRequest` a Request whose body
 * must be read and which must be built again with the token (see BENCHMARKS.md). The openapi-fetch
 * entry's own route, what `createAnyWebClient` uses and the README recommends, is the fetch option.
 */
const INFORMATIVE = 'openapi-fetch (middleware)'
/** Measured beside the clients, with no target: the floor of a fetch-based adapter (see its sender). */
const REFERENCE = 'fetch (steps by hand)'

export { CLIENTS, INFORMATIVE, REFERENCE, senders, startServer }
export type { Placement, Send }
