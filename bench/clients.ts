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
import type { Framing } from './answers.js'
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

/** Sends one request and resolves with the answer's body, read whole as its client reads it. */
type Send = () => Promise<unknown>

type Placement = 'header' | 'body'

/** At most this many bytes of a JSON answer are looked at (the pipeline's limit). */
const LOOK_LIMIT = 64 * 1024
const AUTH_CODE = Buffer.from('A108P001')

/**
 * The steps the exchange cannot skip for a JSON answer, written inline: its body read to its end
 * within a time bound (or to 64 KiB, then handed on as what was read followed by the rest), looked
 * through for `A108P001`, and handed on as a real Response with the original's head.
 */
async function lookedAt(response: Response): Promise<Response> {
  const reader = response.body!.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  const timer = setTimeout(() => undefined, 1_000)
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      chunks.push(value)
      size += value.byteLength
      if (size > LOOK_LIMIT) {
        let next = 0
        const rest = new ReadableStream<Uint8Array>(
          {
            async pull(controller) {
              if (next < chunks.length) return controller.enqueue(chunks[next++]!)
              const read = await reader.read()
              if (read.done) controller.close()
              else controller.enqueue(read.value)
            },
          },
          { highWaterMark: 0 },
        )
        return new Response(rest, { status: response.status, statusText: response.statusText, headers: response.headers })
      }
    }
  } finally {
    clearTimeout(timer)
  }
  const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
  if (response.status === 401 || Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(AUTH_CODE)) throw new Error('refused')
  return new Response(bytes as Uint8Array<ArrayBuffer>, { status: response.status, statusText: response.statusText, headers: response.headers })
}

/**
 * The baseline (token by hand) and the adapter's sender for one client, placement and answer framing.
 * Each resolves with the answer's body as its client gives it (text or parsed JSON), read whole.
 */
function senders(
  client: string,
  placement: Placement,
  url: string,
  framing: Framing = 'length',
  fetch: typeof globalThis.fetch = globalThis.fetch,
): { baseline: Send; adapter: Send } {
  const manager = createTokenManager({ source: async () => ({ token: TOKEN, expiresIn: 3600 }), baseUrl: url })
  const adapterPlacement: TokenPlacement =
    placement === 'header' ? { in: 'header', name: 'authorization', scheme: 'Bearer' } : { in: 'body', field: 'serviceToken' }
  const byHandHeaders: Record<string, string> =
    placement === 'header' ? { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` } : { 'content-type': 'application/json' }
  const byHandBody = placement === 'header' ? { group } : { group, serviceToken: TOKEN }
  const options = { placement: adapterPlacement }
  const path = `${PATH}?answer=${framing}`
  const target = url + path
  void manager.getToken() // cached before the first measured request
  switch (client) {
    case 'fetch': {
      const wrapped = withServiceToken(fetch, manager, options)
      return {
        baseline: async () => (await fetch(target, { method: 'POST', headers: byHandHeaders, body: JSON.stringify(byHandBody) })).text(),
        adapter: async () =>
          (await wrapped(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group }) })).text(),
      }
    }
    case REFERENCE: {
      // Not an adapter: the bare fetch with the token already written in, plus the steps the exchange
      // cannot skip to see A108P001 in a 200 answer before the caller does — the init copied with
      // redirects kept in hand, and the answer looked at as {@link lookedAt} does. The floor under every
      // fetch-based adapter's ratio, measured in the same way.
      return {
        baseline: async () => (await fetch(target, { method: 'POST', headers: byHandHeaders, body: JSON.stringify(byHandBody) })).text(),
        adapter: async () => {
          const init: RequestInit = { method: 'POST', headers: { ...byHandHeaders }, body: JSON.stringify(byHandBody) }
          return (await lookedAt(await fetch(target, { ...init, redirect: 'manual' }))).text()
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
        baseline: async () => (await plain.post(path, byHandBody, placement === 'header' ? { headers: { authorization: `Bearer ${TOKEN}` } } : {})).data,
        adapter: async () => (await tokened.post(path, { group })).data,
      }
    }
    case 'ky': {
      const plain = ky.create({ baseUrl: url, retry: 0 })
      const tokened = ky.create({ baseUrl: url, retry: 0, hooks: serviceTokenHooks(manager, options) })
      return {
        baseline: () => plain.post(path.slice(1), { json: byHandBody, ...(placement === 'header' ? { headers: { authorization: `Bearer ${TOKEN}` } } : {}) }).text(),
        adapter: () => tokened.post(path.slice(1), { json: { group } }).text(),
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
      const post = async (c: typeof plain, body: unknown, headers?: Record<string, string>): Promise<unknown> =>
        ((await c.POST(PATH as never, { body, params: { query: { answer: framing } }, ...(headers === undefined ? {} : { headers }) } as never)) as { data: unknown }).data
      return {
        baseline: () => post(plain, byHandBody, placement === 'header' ? { authorization: `Bearer ${TOKEN}` } : undefined),
        adapter: () => post(tokened, { group }),
      }
    }
    default:
      throw new Error(`unknown client ${client}`)
  }
}

/** The length of the JSON text a sender resolved with (its client's text, or the JSON it parsed), to check the framing asked for is the one served. */
function answerLength(body: unknown): number {
  return typeof body === 'string' ? body.length : JSON.stringify(body).length
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

export { answerLength, CLIENTS, INFORMATIVE, REFERENCE, senders, startServer }
export type { Placement, Send }
