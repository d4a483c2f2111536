/**
 * Not a scenario of `npm run bench`: a diagnostic for the fetch adapter's hot-path gap. Node's own fetch
 * (undici) runs in process against a dispatcher that answers at once, so there is no network and no
 * server, and the CPU time per request of each variant is compared in alternating blocks, each after a
 * full collection. Variants: the bare fetch (token in a header, or in the body); the bare fetch doing by
 * hand each step the adapter adds (redirect 'manual', a copied init and header object, reading the bytes,
 * a Response subclass, header look-ups), also with the answer read one async call down as the adapter
 * does; the adapter with header and with body placement, each compared with the bare fetch that places
 * the token the same way.
 *
 * Run: `npm run build && npx node --expose-gc --import tsx bench/diagnose-fetch.ts` (Node's fetch only);
 * `BENCH_DIAGNOSE_ONLY=header` (or `body`) keeps one adapter variant, so its code sees one placement.
 */
import { built, fixed, measureBlock, median } from './lib.js'

const { withServiceToken } = await built<typeof import('../adapters/fetch.js')>('fetch')
const { createTokenManager } = await built<typeof import('../src/index.js')>('index')

const ANSWER = Buffer.from('{"code":1000,"message":"success","data":{"u1":["cfx:bb"]}}')
const RAW_HEADERS = ['content-type', 'application/json; charset=utf-8', 'content-length', String(ANSWER.length)].map((text) => Buffer.from(text))

/** The part of undici's dispatch-handler interface this dispatcher calls. */
interface Handler {
  onConnect?(abort: () => void): void
  onHeaders?(status: number, headers: Buffer[], resume: () => void, statusText: string): boolean
  onData?(chunk: Buffer): boolean
  onComplete?(trailers: Buffer[]): void
  onError?(error: unknown): void
}

/** Drains the request body, then answers 200 with a small AnyWeb JSON body. */
const instant = {
  dispatch(options: { body?: unknown }, handler: Handler): boolean {
    const answer = async (): Promise<void> => {
      const { body } = options
      if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) for await (const _ of body as AsyncIterable<unknown>);
      handler.onConnect?.(() => undefined)
      handler.onHeaders?.(200, RAW_HEADERS, () => undefined, 'OK')
      handler.onData?.(ANSWER)
      handler.onComplete?.([])
    }
    answer().catch((error: unknown) => handler.onError?.(error))
    return true
  },
  close: async () => undefined,
  destroy: async () => undefined,
}
;(globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')] = instant

const TOKEN = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${'x'.repeat(120)}.${'s'.repeat(43)}`
const origin = 'http://127.0.0.1:8080'
const url = `${origin}/service/checkAddresses`
const group = { u1: ['cfx:aa', 'cfx:bb'] }
const manager = createTokenManager({ source: async () => ({ token: TOKEN, expiresIn: 3600 }), baseUrl: origin })
await manager.getToken()
const asHeader = withServiceToken(fetch, manager, { placement: { in: 'header', name: 'authorization', scheme: 'Bearer' } })
const asBody = withServiceToken(fetch, manager)
const byHand = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }
const decoder = new TextDecoder()
class Subclass extends Response {
  readonly #bytes: Uint8Array
  constructor(bytes: Uint8Array) {
    super(undefined, undefined)
    this.#bytes = bytes
  }
  override async text(): Promise<string> {
    return decoder.decode(this.#bytes)
  }
}

const jsonOnly = { 'content-type': 'application/json' }
const variants: Record<string, () => Promise<string>> = {
  'bare fetch': async () => (await fetch(url, { method: 'POST', headers: byHand, body: JSON.stringify({ group }) })).text(),
  'bare fetch, token in the body': async () =>
    (await fetch(url, { method: 'POST', headers: jsonOnly, body: JSON.stringify({ group, serviceToken: TOKEN }) })).text(),
  'bare fetch + the adapter’s steps by hand': async () => {
    const init: RequestInit = { method: 'POST', headers: { ...byHand }, body: JSON.stringify({ group }) }
    const response = await fetch(url, { ...init, redirect: 'manual' })
    if (response.body === null || response.bodyUsed || response.headers.get('content-length') === null) throw new Error('unexpected')
    response.headers.get('content-type')
    // As the adapter reads it: bytes() where the runtime has it.
    const bytes = typeof response.bytes === 'function' ? await response.bytes() : new Uint8Array(await response.arrayBuffer())
    return new Subclass(bytes).text()
  },
  'steps by hand, answer read in a nested async function': async () => {
    // The shape of the adapter's replayIfRefused: the answer is awaited and read one async call down.
    const read = async (pending: Promise<Response>): Promise<Response> => {
      const response = await pending
      if (response.body === null || response.bodyUsed || response.headers.get('content-length') === null) throw new Error('unexpected')
      response.headers.get('content-type')
      return new Subclass(typeof response.bytes === 'function' ? await response.bytes() : new Uint8Array(await response.arrayBuffer()))
    }
    return (await read(fetch(url, { method: 'POST', headers: { ...jsonOnly }, body: JSON.stringify({ group, serviceToken: TOKEN }), redirect: 'manual' }))).text()
  },
  'adapter, header placement': async () =>
    (await asHeader(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group }) })).text(),
  'adapter, body placement': async () =>
    (await asBody(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group }) })).text(),
}

const CONCURRENCY = 16
const BLOCK = 1_000
const ROUNDS = 16

/** CPU µs per request of one block, after a full collection. */
async function block(send: () => Promise<string>): Promise<number> {
  return ((await measureBlock(send, BLOCK, CONCURRENCY)).cpu * 1000) / BLOCK
}

// BENCH_DIAGNOSE_ONLY=header (or body): only the bare fetch, the steps by hand and that adapter variant,
// so the adapter's code sees one placement only, as in an application.
const only = process.env['BENCH_DIAGNOSE_ONLY']
const names = Object.keys(variants).filter((name) => only === undefined || !name.startsWith('adapter') || name.includes(only))
if (!names.includes('bare fetch, token in the body')) throw new Error('the body baseline is missing')
for (const name of names) for (let warm = 0; warm < 5; warm++) await block(variants[name]!)
const perRequest: Record<string, number[]> = {}
for (let round = 0; round < ROUNDS; round++) {
  for (const name of round % 2 === 0 ? names : [...names].reverse()) (perRequest[name] ??= []).push(await block(variants[name]!))
}
for (const name of names) {
  // Each variant against the bare fetch that places the token the same way.
  const bare = median(perRequest[name.includes('body') || name.includes('nested') ? 'bare fetch, token in the body' : 'bare fetch']!)
  const micros = median(perRequest[name]!)
  process.stdout.write(`${name.padEnd(56)} ${fixed(micros, 1).padStart(6)} µs CPU per request, baseline ÷ this ${fixed(bare / micros, 3)}\n`)
}
manager.close()
process.exit(0)
