/**
 * One client and placement of scenario 6: how much the baseline and the adapter allocate per request,
 * from the number of young-generation collections with a fixed 1 MiB semi-space (the parent starts this
 * process with `--min-semi-space-size=1 --max-semi-space-size=1`). Prints one JSON line.
 * Usage: allocation-worker.ts <client> <placement> <server url>
 */
import { PerformanceObserver, constants } from 'node:perf_hooks'
import { senders } from './clients.js'
import type { Placement, Send } from './clients.js'
import { pool } from './lib.js'

const [client, placement, url] = process.argv.slice(2) as [string, Placement, string]
const REQUESTS = Number(process.env['BENCH_ALLOCATION_REQUESTS'] ?? 5_000)
const { baseline, adapter } = senders(client, placement, url)

let collections = 0
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) if ((entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) collections++
}).observe({ entryTypes: ['gc'] })

/** Young-generation collections while `send` makes `REQUESTS` requests, 16 in flight. */
async function collectionsDuring(send: Send): Promise<number> {
  const before = collections
  await pool(REQUESTS, 16, send)
  // GC entries are delivered asynchronously: let them arrive.
  await new Promise((resolve) => setTimeout(resolve, 20))
  return collections - before
}

await pool(1_000, 16, baseline)
await pool(1_000, 16, adapter)
const counts = { baseline: 0, adapter: 0 }
for (let round = 0; round < 2; round++) {
  counts.baseline += await collectionsDuring(baseline)
  counts.adapter += await collectionsDuring(adapter)
}
const kib = (n: number): number => (n * 1024) / (2 * REQUESTS)
process.stdout.write(`${JSON.stringify({ client, placement, baseline: kib(counts.baseline), adapter: kib(counts.adapter) })}\n`)
process.exit(0)
