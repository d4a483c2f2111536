/**
 * Scenario 7 — OpenTelemetry's cost on the hot path: requests/s through the fetch adapter with a cached
 * token (header placement, small answer), with the manager wired by `instrument()` to the real SDK
 * (a MeterProvider with a periodic reader and an in-memory exporter, a BasicTracerProvider with a
 * simple processor), against the same adapter and a manager nobody observes, in the same process; a
 * third manager nobody observes either is the control (its ratio to the first is the measure's noise).
 * Server: bench/echo-server.ts in its own process on 127.0.0.1. Blocks of the three take turns in
 * rotating order; each process gives the median of its rounds, the figure is the median over the
 * processes. Beside it, `getToken()` on a cached token alone, in process (no network): what the
 * instrumentation adds to one call, where nothing hides it.
 *
 * `BENCH_QUICK=1`: one process, fewer rounds.
 */
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { startServer } from './clients.js'
import { built, fixed, log, measureBlock, median, percentile, report, runJsonChild } from './lib.js'

const { withServiceToken } = await built<typeof import('../adapters/fetch.js')>('fetch')
const { createTokenManager } = await built<typeof import('../src/index.js')>('index')
const { instrument } = await built<typeof import('../src/otel/index.js')>('otel')

const QUICK = process.env['BENCH_QUICK'] === '1'
const PROCESSES = QUICK ? 1 : 5
const ROUNDS = QUICK ? 8 : 24
const WARM_UP = QUICK ? 4 : 6
const BLOCK = 400
const CONCURRENCY = 16
const CALLS = 200_000
const TARGET = 0.97
const TOKEN = `eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.${'x'.repeat(120)}.${'s'.repeat(43)}`
const body = JSON.stringify({ group: { u1: ['cfx:aa', 'cfx:bb'] } })

type Send = () => Promise<unknown>
interface Side {
  send: Send
  getToken: () => Promise<string>
}
interface ProcessResult {
  /** Wall time, unobserved ÷ instrumented, per round. */
  ratios: number[]
  /** The process's CPU time, unobserved ÷ instrumented. */
  cpuRatios: number[]
  /** Wall time, unobserved ÷ the other unobserved (the control). */
  controlRatios: number[]
  plain: number[]
  wired: number[]
  callRatios: number[]
  /** ns per getToken() call, unobserved and instrumented. */
  callPlain: number[]
  callWired: number[]
}

/** A manager with a cached token, and the fetch adapter's sender on it; `wire` instruments the manager. */
async function side(url: string, wire: boolean): Promise<Side> {
  const manager = createTokenManager({ source: async () => ({ token: TOKEN, expiresIn: 3600 }), baseUrl: url })
  if (wire) {
    const reader = new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 1_000 })
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new InMemorySpanExporter())] })
    instrument(manager, { meterProvider: new MeterProvider({ readers: [reader] }), tracerProvider })
  }
  await manager.getToken()
  const api = withServiceToken(fetch, manager, { placement: { in: 'header', name: 'authorization', scheme: 'Bearer' } })
  const target = `${url}/service/checkAddresses?answer=length`
  return {
    send: async () => (await api(target, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).text(),
    getToken: () => manager.getToken(),
  }
}

/** ns per call of `getToken()` on a cached token, 16 awaited at a time, after a full collection. */
async function perCall(getToken: () => Promise<string>): Promise<number> {
  ;(globalThis as { gc?: () => void }).gc?.()
  const batch = (): Array<Promise<string>> => Array.from({ length: 16 }, getToken)
  const started = performance.now()
  for (let i = 0; i < CALLS; i += 16) await Promise.all(batch())
  return ((performance.now() - started) * 1e6) / CALLS
}

async function measure(url: string): Promise<ProcessResult> {
  const plain = await side(url, false)
  const wired = await side(url, true)
  const control = await side(url, false)
  const sides = [plain, wired, control]
  for (let round = 0; round < WARM_UP; round++) {
    for (const s of sides) await measureBlock(s.send, BLOCK, CONCURRENCY)
    await perCall(plain.getToken)
    await perCall(wired.getToken)
  }
  const result: ProcessResult = { ratios: [], cpuRatios: [], controlRatios: [], plain: [], wired: [], callRatios: [], callPlain: [], callWired: [] }
  for (let round = 0; round < ROUNDS; round++) {
    // Each side takes each place in turn, forwards and backwards: none is always first or last.
    const rotated = sides.map((_, i) => sides[(i + round) % sides.length]!)
    const blocks = new Map<Side, { wall: number; cpu: number }>()
    for (const s of round % 2 === 0 ? rotated : rotated.reverse()) blocks.set(s, await measureBlock(s.send, BLOCK, CONCURRENCY))
    const [p, w, c] = [blocks.get(plain)!, blocks.get(wired)!, blocks.get(control)!]
    result.ratios.push(p.wall / w.wall)
    result.cpuRatios.push(p.cpu / w.cpu)
    result.controlRatios.push(p.wall / c.wall)
    result.plain.push(BLOCK / (p.wall / 1000))
    result.wired.push(BLOCK / (w.wall / 1000))
    const calls = new Map<Side, number>()
    for (const s of round % 2 === 0 ? [plain, wired] : [wired, plain]) calls.set(s, await perCall(s.getToken))
    result.callRatios.push(calls.get(plain)! / calls.get(wired)!)
    result.callPlain.push(calls.get(plain)!)
    result.callWired.push(calls.get(wired)!)
  }
  return result
}

/** The median over processes of each process's median, with the lowest and highest process medians. */
function acrossProcesses(results: ProcessResult[], key: 'ratios' | 'cpuRatios' | 'controlRatios' | 'callRatios'): { median: number; range: string } {
  const each = results.map((result) => median(result[key]))
  return { median: median(each), range: `${fixed(Math.min(...each), 3)}–${fixed(Math.max(...each), 3)}` }
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!
  const server = await startServer()
  const results: ProcessResult[] = []
  try {
    for (let index = 0; index < PROCESSES; index++) {
      const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--one', server.url]
      const result = await runJsonChild<ProcessResult>(args, 'otel hot path')
      results.push(result)
      log(
        `otel, process ${index + 1} of ${PROCESSES}: request ratio ${fixed(median(result.ratios), 3)} (CPU ${fixed(median(result.cpuRatios), 3)}, ` +
          `control ${fixed(median(result.controlRatios), 3)}), getToken ratio ${fixed(median(result.callRatios), 3)}`,
      )
    }
  } finally {
    server.stop()
  }
  const wall = acrossProcesses(results, 'ratios')
  const cpu = acrossProcesses(results, 'cpuRatios')
  const control = acrossProcesses(results, 'controlRatios')
  const call = acrossProcesses(results, 'callRatios')
  const pairs = results.flatMap((result) => result.ratios)
  const all = (key: 'plain' | 'wired' | 'callPlain' | 'callWired'): number => median(results.flatMap((result) => result[key]))
  const markdown = [
    ...(QUICK ? ['**Quick mode** (`BENCH_QUICK=1`): one process, fewer rounds: noisier than the full run.', ''] : []),
    `The fetch adapter (header placement, small answer with a content-length) with a cached token, ${CONCURRENCY} requests in flight, keep-alive,`,
    'against bench/echo-server.ts in its own process on 127.0.0.1; the library as built (`dist/`). Three managers in one process:',
    'one wired by `instrument()` to the real SDK (`MeterProvider` with a `PeriodicExportingMetricReader` every second into an',
    '`InMemoryMetricExporter`, `BasicTracerProvider` with a `SimpleSpanProcessor` into an `InMemorySpanExporter`), one nobody',
    'observes, and a control nobody observes either (its ratio to the other unobserved one is the noise of the measure).',
    `In each of ${PROCESSES} fresh process${PROCESSES === 1 ? '' : 'es'}, ${WARM_UP} warm-up rounds, then ${ROUNDS} rounds of one block of ${BLOCK} requests per`,
    'manager, in rotating order (forwards and backwards), each block after a full collection. Ratio = unobserved time ÷',
    'instrumented time in a round; a process gives the median of its rounds, the figure is the median over the processes.',
    'Per request the instrumentation counts a cache hit in a plain number (read by the SDK at collection, through an',
    'observable counter); spans and the other metrics come with refreshes only. The machine\'s 1-minute load average was',
    `${fixed(loadBefore, 1)} at the start and ${fixed(loadavg()[0]!, 1)} at the end (2 cores, shared with other work).`,
    '',
    '| measure | unobserved | instrumented | ratio (median of processes) | processes |',
    '|---|---:|---:|---:|---|',
    `| requests/s | ${fixed(all('plain'), 0)} | ${fixed(all('wired'), 0)} | **${fixed(wall.median, 3)}** | ${wall.range} (rounds IQR ${fixed(percentile(pairs, 25), 3)}–${fixed(percentile(pairs, 75), 3)}) |`,
    `| CPU time of the process | | | ${fixed(cpu.median, 3)} | ${cpu.range} |`,
    `| control: unobserved ÷ unobserved | | | ${fixed(control.median, 3)} | ${control.range} |`,
    `| \`getToken()\` on a cached token, in process (ns per call) | ${fixed(all('callPlain'), 0)} | ${fixed(all('callWired'), 0)} | ${fixed(call.median, 3)} | ${call.range} |`,
    '',
    'Unobserved, a manager pays one `size` check of its (empty) set of observers per cache answer, and nothing else.',
  ].join('\n')
  report({
    title: '7. OpenTelemetry instrumentation on the hot path',
    markdown,
    targets: [
      ['OTel: hot path with `instrument()` vs without (fetch adapter, cached token)', `≥ ${TARGET}`, fixed(wall.median, 3), wall.median >= TARGET],
      ['OTel: the same measure between two unobserved managers (noise)', 'none (control)', fixed(control.median, 3), null],
      ['OTel: `getToken()` on a cached token, instrumented vs not (in process)', 'none (informative)', fixed(call.median, 3), null],
    ],
  })
}

if (process.argv[2] === '--one') {
  process.stdout.write(`${JSON.stringify(await measure(process.argv[3]!))}\n`)
} else {
  await main()
}
process.exit(0)
