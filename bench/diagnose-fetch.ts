/**
 * Not a scenario of `npm run bench`: a diagnostic for the fetch adapter's hot-path gap. Node's own fetch
 * (undici) runs in process against a dispatcher that answers on the next turn of the event loop, as an
 * answer from the network does, so there is no network and no server, and the CPU time per request of
 * each variant is compared in alternating blocks, each after a full collection. (A dispatcher that
 * answers within the same turn hides most of the gap the loopback scenario shows, and lets undici's
 * state pile up until the event loop turns.) Variants, from the hot-path scenario's senders (bench/clients.ts): the bare fetch
 * (token in a header, or in the body); the bare fetch doing by hand only the steps any adapter must add
 * (the reference row `fetch (steps by hand)`); the adapter with header and with body placement. Each is
 * compared with the bare fetch that places the token the same way.
 *
 * Run: `npm run build && npx node --expose-gc --import tsx bench/diagnose-fetch.ts` (Node's fetch only);
 * `BENCH_DIAGNOSE_ONLY=header` (or `body`) keeps one adapter variant, so its code sees one placement.
 */
import { senders } from './clients.js'
import type { Send } from './clients.js'
import { fixed, measureBlock, median, percentile } from './lib.js'

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

/** Drains the request body, then, on the next turn, answers 200 with a small AnyWeb JSON body. */
const instant = {
  dispatch(options: { body?: unknown }, handler: Handler): boolean {
    const answer = async (): Promise<void> => {
      const { body } = options
      if (body !== null && typeof body === 'object' && Symbol.asyncIterator in body) for await (const _ of body as AsyncIterable<unknown>);
      await new Promise((resolve) => setImmediate(resolve))
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

const origin = 'http://127.0.0.1:8080'
// The bench's own senders (bench/clients.ts), so "by hand" means what the reference row of scenario 1 does.
const fetchSenders = { header: senders('fetch', 'header', origin), body: senders('fetch', 'body', origin) }
const byHand = { header: senders('fetch (steps by hand)', 'header', origin), body: senders('fetch (steps by hand)', 'body', origin) }
const variants: Record<string, Send> = {
  'bare fetch': fetchSenders.header.baseline,
  'bare fetch, token in the body': fetchSenders.body.baseline,
  'bare fetch + the adapter’s steps by hand': byHand.header.adapter,
  'bare fetch + the adapter’s steps by hand, body': byHand.body.adapter,
  'adapter, header placement': fetchSenders.header.adapter,
  'adapter, body placement': fetchSenders.body.adapter,
}

const CONCURRENCY = 16
const BLOCK = 1_000
const ROUNDS = 30

/** CPU µs per request of one block, after a full collection. */
async function block(send: Send): Promise<number> {
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
  const bare = median(perRequest[name.includes('body') ? 'bare fetch, token in the body' : 'bare fetch']!)
  const micros = median(perRequest[name]!)
  process.stdout.write(`${name.padEnd(56)} ${fixed(micros, 1).padStart(6)} µs CPU per request, baseline ÷ this ${fixed(bare / micros, 3)}\n`)
}
// The adapter against the steps by hand of the same placement, block by block (each round measured both).
for (const name of names.filter((name) => name.startsWith('adapter'))) {
  const hand = perRequest[name.includes('body') ? 'bare fetch + the adapter’s steps by hand, body' : 'bare fetch + the adapter’s steps by hand']!
  const more = perRequest[name]!.map((micros, round) => micros - hand[round]!)
  process.stdout.write(`${name} − the steps by hand: ${fixed(median(more), 1)} µs per request (IQR ${fixed(percentile(more, 25), 1)}–${fixed(percentile(more, 75), 1)})\n`)
}
process.exit(0)
