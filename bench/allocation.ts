/**
 * Scenario 6 — allocation per request: what each adapter allocates beyond its baseline, the same
 * requests as scenario 1. Allocation drives garbage collection, which is where much of the hot-path gap
 * that the adapters' own code does not explain goes; unlike req/s it hardly varies between runs, so it
 * shows small changes that throughput noise hides.
 */
import { fileURLToPath } from 'node:url'
import { CLIENTS, startServer } from './clients.js'
import { fixed, log, report, runJsonChild } from './lib.js'

interface Row {
  client: string
  placement: string
  baseline: number
  adapter: number
}

function measure(client: string, placement: string, url: string): Promise<Row> {
  const worker = fileURLToPath(new URL('./allocation-worker.ts', import.meta.url))
  const args = ['--min-semi-space-size=1', '--max-semi-space-size=1', '--import', 'tsx', worker, client, placement, url]
  return runJsonChild<Row>(args, `allocation worker ${client}/${placement}`)
}

async function main(): Promise<void> {
  const server = await startServer()
  const rows: string[] = []
  try {
    for (const placement of ['header', 'body']) {
      for (const client of CLIENTS) {
        const row = await measure(client, placement, server.url)
        const added = row.adapter - row.baseline
        log(`${placement} ${client}: baseline ${fixed(row.baseline, 1)} KiB, adapter ${fixed(row.adapter, 1)} KiB per request`)
        rows.push(`| ${placement} | ${client} | ${fixed(row.baseline, 1)} | ${fixed(row.adapter, 1)} | ${added >= 0 ? '+' : ''}${fixed(added, 1)} | ${fixed(row.adapter / row.baseline, 2)} |`)
      }
    }
  } finally {
    server.stop()
  }
  const markdown = [
    'The requests of scenario 1 (same clients, server and placements), counted differently: each client runs in its own',
    'process with a fixed 1 MiB young generation, and the number of young-generation collections during 2 × 5,000',
    'requests, times 1 MiB, gives the memory allocated per request. An estimate (objects that survive a collection take',
    'room from the next), and steadier than req/s: it moves by 1–2 KiB between runs. No target:',
    'it shows where the adapters’ cost goes and whether a change made it smaller.',
    '',
    '| placement | client | baseline KiB/request | adapter KiB/request | added | ratio |',
    '|---|---|---:|---:|---:|---:|',
    ...rows,
  ].join('\n')
  report({ title: '6. Allocation per request', markdown, targets: [] })
}

await main()
process.exit(0)
