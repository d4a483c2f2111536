/**
 * Scenario 1 — hot-path overhead: requests/s through each adapter with a cached token, against the same
 * client sending the same request with the token written in by hand, for each answer framing the server
 * offers (bench/answers.ts). Server: bench/echo-server.ts in its own process on 127.0.0.1. Each client
 * and placement is measured in fresh processes; in each, short blocks of baseline and adapter alternate
 * (ABBA) for every framing in turn, and each framing gives the median of its per-pair ratios; a cell's
 * figure is the median over the processes.
 *
 * `BENCH_QUICK=1` (`npm run bench -- --quick`): one process per client and placement, fewer and shorter
 * blocks, no reference row and no self-cost section: the matrix in a few minutes, noisier.
 */
import { loadavg } from 'node:os'
import { fileURLToPath } from 'node:url'
import { FRAMING_LABELS, FRAMING_NAMES, FRAMINGS } from './answers.js'
import type { Framing } from './answers.js'
import { answerLength, CLIENTS, INFORMATIVE, REFERENCE, senders, startServer } from './clients.js'
import type { Placement, Send } from './clients.js'
import { fixed, log, measureBlock, median, percentile, report, rounds, runJsonChild } from './lib.js'
import type { ScenarioResult } from './lib.js'

const QUICK = process.env['BENCH_QUICK'] === '1'
/** Pairs of blocks per framing in a process. */
const PAIRS = QUICK ? 4 : 2 * Math.ceil(rounds(6) / 2)
/** Requests per block of a small answer. */
const BLOCK = Number(process.env['BENCH_HOT_REQUESTS'] ?? (QUICK ? 300 : 600))
/** A 200 KB answer takes several times a small one's time: its blocks are shorter so that every framing weighs alike. */
const BLOCK_SHARE: Record<Framing, number> = { length: 1, chunked: 1, gzip: 1, '20k': 1, '200k': 0.15 }
/**
 * One process is one draw of what the engine makes of the code (what it inlines, where the heap lies):
 * fresh processes running the same code give medians several points apart, while the pairs within one
 * process agree far better. So a cell is measured in several processes, not in more pairs of one.
 */
const PROCESSES = QUICK ? 1 : Math.max(1, Number(process.env['BENCH_HOT_PROCESSES'] ?? 5))
/** Rounds over every framing run before the measure in each process, and not counted. */
const WARM_UP_ROUNDS = QUICK ? 2 : 3
const CONCURRENCY = 16
/** `BENCH_HOT_CLIENTS=fetch,ky` measures only those clients (to look at one closely; BENCHMARKS.md wants them all). */
const ONLY_CLIENTS = process.env['BENCH_HOT_CLIENTS']?.split(',').map((name) => name.trim())

const TARGET: Record<Placement, number> = { header: 0.97, body: 0.95 }
/** Where BENCHMARKS.md says why the {@link INFORMATIVE} row has no target. */
const WHY_NO_TARGET = '"Where the hot-path overhead comes from"'

type Block = { wall: number; cpu: number }
type PairResult = { ratios: number[]; cpuRatios: number[]; base: number[]; ours: number[] }
/** What one process measured: one {@link PairResult} per framing. */
type ProcessResult = Record<Framing, PairResult>

const blockOf = (framing: Framing): number => Math.max(20, Math.round(BLOCK * BLOCK_SHARE[framing]))

/**
 * One client and placement, every framing: warm-up rounds (JIT, connections, the cached token), then
 * {@link PAIRS} rounds in which each framing gets one pair of blocks, baseline and adapter alternating
 * (ABBA: A B in even rounds, B A in odd ones), so that whatever slows the machine for a moment (GC, the
 * other process, the host) hits both sides and every framing alike.
 */
async function measure(client: string, placement: Placement, url: string): Promise<ProcessResult> {
  const sides = Object.fromEntries(FRAMING_NAMES.map((framing) => [framing, senders(client, placement, url, framing)])) as Record<
    Framing,
    { baseline: Send; adapter: Send }
  >
  // Each side must get the answer its framing asks for, whole (a lost query would measure the wrong cell).
  for (const framing of FRAMING_NAMES) {
    for (const side of ['baseline', 'adapter'] as const) {
      const length = answerLength(await sides[framing][side]())
      if (length !== FRAMINGS[framing].json.length) throw new Error(`${client}/${placement}/${framing} ${side}: an answer of ${length} characters, not ${FRAMINGS[framing].json.length}`)
    }
  }
  const block = (send: Send, framing: Framing): Promise<Block> => measureBlock(send, blockOf(framing), CONCURRENCY)
  // Warm-up as the measure itself: throughput still climbs over the first 10,000 or so requests of a
  // process (the engine optimising, the young generation growing), and a pair measured on that slope
  // says how far up it each side was, not what it costs.
  for (let round = 0; round < WARM_UP_ROUNDS; round++) {
    for (const framing of FRAMING_NAMES) {
      await block(sides[framing].baseline, framing)
      await block(sides[framing].adapter, framing)
    }
  }
  const result = Object.fromEntries(FRAMING_NAMES.map((framing): [Framing, PairResult] => [framing, { ratios: [], cpuRatios: [], base: [], ours: [] }])) as ProcessResult
  for (let pair = 0; pair < PAIRS; pair++) {
    for (const framing of FRAMING_NAMES) {
      const { baseline, adapter } = sides[framing]
      let b: Block
      let a: Block
      if (pair % 2 === 0) {
        b = await block(baseline, framing)
        a = await block(adapter, framing)
      } else {
        a = await block(adapter, framing)
        b = await block(baseline, framing)
      }
      const into = result[framing]
      const total = blockOf(framing)
      into.base.push(total / (b.wall / 1000))
      into.ours.push(total / (a.wall / 1000))
      into.ratios.push(b.wall / a.wall)
      into.cpuRatios.push(b.cpu / a.cpu)
    }
  }
  return result
}

/**
 * What the fetch adapter itself adds to a request, in µs of CPU: the same calls as above, 16 in flight,
 * against a fetch that answers on the next turn of the event loop (as an answer from the network does),
 * in process, so no network and no server; each round after a full collection and against the bare
 * fetch just before it; the median over rounds.
 */
async function selfCost(placement: Placement): Promise<number> {
  const answer = new TextEncoder().encode(FRAMINGS.length.json)
  const head = { 'content-type': 'application/json; charset=utf-8', 'content-length': String(answer.byteLength) }
  const nextTurn = async (_input: RequestInfo | URL, _init?: RequestInit): Promise<Response> => {
    await new Promise((resolve) => setImmediate(resolve))
    return new Response(answer, { headers: head })
  }
  const { baseline, adapter } = senders('fetch', placement, 'http://127.0.0.1:9', 'length', nextTurn)
  const calls = 4_000
  const cpuPerCall = async (send: Send): Promise<number> => ((await measureBlock(send, calls, CONCURRENCY)).cpu * 1000) / calls
  const added: number[] = []
  for (let round = 0; round < 25; round++) {
    const bare = await cpuPerCall(baseline)
    added.push((await cpuPerCall(adapter)) - bare)
  }
  return median(added.slice(5))
}

/**
 * {@link measure} in a fresh process (this file with `--one`): what one client leaves behind (the
 * engine's type feedback for the shared adapter code, the heap) does not slow the next one down.
 */
function inOwnProcess(client: string, placement: Placement, url: string): Promise<ProcessResult> {
  const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--one', client, placement, url]
  return runJsonChild<ProcessResult>(args, `hot path ${client}/${placement}`)
}

interface Cell {
  ratio: number
  cpu: number
  perProcess: number[]
  pairs: number[]
  cpuPairs: number[]
  base: number
  ours: number
}

/** A cell's figures from its processes: each process gives the median of its pairs; the cell, their median. */
function summarise(results: readonly PairResult[]): Cell {
  const perProcess = results.map((result) => median(result.ratios))
  return {
    ratio: median(perProcess),
    cpu: median(results.map((result) => median(result.cpuRatios))),
    perProcess,
    pairs: results.flatMap((result) => result.ratios),
    cpuPairs: results.flatMap((result) => result.cpuRatios),
    base: median(results.flatMap((result) => result.base)),
    ours: median(results.flatMap((result) => result.ours)),
  }
}

/** A matrix cell: the ratio, and for a row with a target whether it is met. */
function mark(client: string, placement: Placement, ratio: number): string {
  const figure = fixed(ratio, 3)
  if (client === REFERENCE || client === INFORMATIVE) return figure
  return `${figure} ${ratio >= TARGET[placement] ? '✅' : '❌'}`
}

async function main(): Promise<void> {
  const started = performance.now()
  const loadBefore = loadavg()[0]!
  const server = await startServer()
  const rows = (['header', 'body'] as const).flatMap((placement) =>
    [...CLIENTS, ...(QUICK ? [] : [REFERENCE])].filter((client) => ONLY_CLIENTS === undefined || ONLY_CLIENTS.includes(client)).map((client) => ({ placement, client })),
  )
  const results = rows.map((): ProcessResult[] => [])
  try {
    // Processes of all rows take turns, so a slow stretch of the machine falls on every row alike.
    for (let round = 0; round < PROCESSES; round++) {
      for (const [index, { client, placement }] of rows.entries()) {
        const result = await inOwnProcess(client, placement, server.url)
        results[index]!.push(result)
        const each = FRAMING_NAMES.map((framing) => `${framing} ${fixed(median(result[framing].ratios), 3)}`).join(', ')
        log(`${placement} ${client}, process ${round + 1} of ${PROCESSES}: ${each}`)
      }
    }
  } finally {
    server.stop()
  }

  const cells = new Map<string, Cell>()
  const key = (client: string, placement: Placement, framing: Framing): string => `${client}|${placement}|${framing}`
  const detail: string[] = []
  const targets: ScenarioResult['targets'] = []
  for (const [index, { client, placement }] of rows.entries()) {
    const lowest = { ratio: Number.POSITIVE_INFINITY, framing: FRAMING_NAMES[0]! }
    for (const framing of FRAMING_NAMES) {
      const cell = summarise(results[index]!.map((result) => result[framing]))
      cells.set(key(client, placement, framing), cell)
      if (cell.ratio < lowest.ratio) Object.assign(lowest, { ratio: cell.ratio, framing })
      const spread = `${fixed(Math.min(...cell.perProcess), 3)}–${fixed(Math.max(...cell.perProcess), 3)}`
      detail.push(
        `| ${placement} | ${client} | ${FRAMING_LABELS[framing]} | ${fixed(cell.base, 0)} | ${fixed(cell.ours, 0)} | **${fixed(cell.ratio, 3)}** | ${spread} | ${fixed(percentile(cell.pairs, 25), 3)}–${fixed(percentile(cell.pairs, 75), 3)} | ${fixed(cell.cpu, 3)} (${fixed(percentile(cell.cpuPairs, 25), 3)}–${fixed(percentile(cell.cpuPairs, 75), 3)}) |`,
      )
    }
    const what = `hot path, ${placement} placement, ${client}: each of ${FRAMING_NAMES.length} answer framings`
    const measured = `lowest ${fixed(lowest.ratio, 3)} (${FRAMING_LABELS[lowest.framing]})`
    if (client === INFORMATIVE) targets.push([what, `none (see ${WHY_NO_TARGET})`, measured, null])
    else if (client !== REFERENCE) targets.push([what, `≥ ${TARGET[placement]}`, measured, lowest.ratio >= TARGET[placement]])
  }

  const clients = [...new Set(rows.map((row) => row.client))]
  const matrix = [
    `Ratio library ÷ by hand, **header / body** placement (targets ≥ ${TARGET.header} / ≥ ${TARGET.body}; ✅ met, ❌ not met; no mark: no target).`,
    '',
    `| client | ${FRAMING_NAMES.map((framing) => FRAMING_LABELS[framing]).join(' | ')} |`,
    `|---|${FRAMING_NAMES.map(() => '---|').join('')}`,
    ...clients.map((client) => {
      const pair = (framing: Framing): string =>
        (['header', 'body'] as const)
          .map((placement) => {
            const cell = cells.get(key(client, placement, framing))
            return cell === undefined ? '—' : mark(client, placement, cell.ratio)
          })
          .join(' / ')
      const name = client === INFORMATIVE ? `${client} (no target)` : client === REFERENCE ? `${client} (reference)` : client
      return `| ${name} | ${FRAMING_NAMES.map(pair).join(' | ')} |`
    }),
  ].join('\n')

  const selfRows: string[] = []
  if (!QUICK && (ONLY_CLIENTS === undefined || ONLY_CLIENTS.includes('fetch'))) {
    for (const placement of ['header', 'body'] as const) {
      const micros = await selfCost(placement)
      const loopback = 1e6 / (cells.get(key('fetch', placement, 'length'))?.base ?? Number.NaN)
      log(`self-cost ${placement}: ${fixed(micros, 2)} µs per request`)
      selfRows.push(`| ${placement} | ${fixed(micros, 1)} µs | ${fixed(loopback, 0)} µs | ${fixed(loopback / (loopback + micros), 3)} |`)
    }
  }
  const seconds = (performance.now() - started) / 1000
  const loadAfter = loadavg()[0]!
  const markdown = [
    ...(QUICK
      ? ['**Quick mode** (`--quick`): one process per client and placement, fewer and shorter blocks, no reference row: several points noisier than the full run.', '']
      : []),
    `Each client and placement is measured in ${PROCESSES} fresh process${PROCESSES === 1 ? '' : 'es'}, the processes of all rows taking turns (${fixed(seconds, 0)} s in all; the`,
    `machine's 1-minute load average ${fixed(loadBefore, 1)} at the start, ${fixed(loadAfter, 1)} at the end: above its 2 cores, other work shared them). The server`,
    'answers every request with an AnyWeb JSON framed as the request asks: small (58 bytes) with a content-length, small',
    'chunked, small gzip + chunked, about 20 KB with a content-length, about 200 KB chunked in 16 KiB chunks (bench/answers.ts,',
    'each made once at start-up; bench/echo-server.ts, HTTP/1.1 by hand in its own process on 127.0.0.1). In each process,',
    `${WARM_UP_ROUNDS} rounds over every framing not counted, then ${PAIRS} rounds in which each framing gets a pair of alternating blocks (ABBA)`,
    `of ${BLOCK.toLocaleString('en')} POST requests (200 KB: ${blockOf('200k')}), for the baseline and for the adapter, ${CONCURRENCY} in flight, keep-alive; the library as`,
    'built (`dist/`, what users run). Baseline: the same client sending the same request with the token written in by hand',
    '(header `authorization: Bearer …`, or `serviceToken` in the JSON object), reading the answer whole as the client does',
    '(`text()` for fetch and ky, the parsed JSON for axios and openapi-fetch). Adapter: the client with the adapter and a',
    'manager whose token is cached, reading the answer the same way. Ratio = baseline time ÷ adapter time of a block pair; a',
    'process gives the median of its pairs, and the figure is the median over the processes. Each block starts after a full',
    'collection.',
    '',
    'Why this way, each measured on this machine: the server must never be what limits the rate (with node:http, whose work',
    'per request is about the client\'s, the same fetch adapter measured 0.92 in one run and 1.01 in the next); the warm-up',
    'must reach the steady state (throughput climbs over the first 10,000 or so requests of a process, and the side with',
    'more code to optimise, the adapter, climbs later); one process is one draw of what the engine makes of the code',
    '(processes running the same code disagree by several points, pairs in one process by about one).',
    '',
    `\`${REFERENCE}\` is no adapter: the bare fetch with the token written in, plus only the steps the exchange cannot skip to see`,
    '`A108P001` in a 200 answer before the caller does: the init copied with redirects kept in hand, the JSON answer read',
    'with a reader to its end (or to 64 KiB, then handed on as what was read followed by the rest), a timer armed and',
    'cleared around the read, the bytes looked through, and a `new Response(bytes, { status, statusText, headers })` handed',
    'to the caller: the floor of the fetch-based rows.',
    '',
    matrix,
    '',
    '"Processes" gives the lowest and the highest process median, "pairs IQR" the interquartile range of all pairs. CPU',
    'ratio: baseline CPU time ÷ adapter CPU time of the process (all threads, GC included), the median over processes of their',
    'pairs\' median: the client\'s cost without the time it waited for the server or the machine.',
    '',
    '| placement | client | answer | baseline req/s (median) | adapter req/s (median) | ratio (median of processes) | processes | pairs IQR | CPU ratio (median, pairs IQR) |',
    '|---|---|---|---:|---:|---:|---|---|---|',
    ...detail,
    ...(selfRows.length === 0
      ? []
      : [
          '',
          'The fetch adapter’s own work per request, measured apart from the network: CPU time of the same calls (small answer',
          'with a content-length), 16 in flight, against a fetch in process that answers on the next turn of the event loop',
          '(medians of 20 rounds of 4,000 calls, each after a full collection, each against the bare fetch just before it). Set',
          'against the loopback request of the fetch baseline above (its client is CPU-bound, so 1e6 ÷ its req/s is the work of',
          'one request), it bounds the ratio the adapter could reach if nothing but its own work differed.',
          '',
          '| placement | adapter work per request | one loopback request (fetch baseline) | ratio bound |',
          '|---|---:|---:|---:|',
          ...selfRows,
        ]),
  ].join('\n')
  report({ title: '1. Hot-path overhead (cached token)', markdown, targets, summary: matrix })
}

if (process.argv[2] === '--one') {
  const [client, placement, url] = process.argv.slice(3) as [string, Placement, string]
  process.stdout.write(`${JSON.stringify(await measure(client, placement, url))}\n`)
} else {
  await main()
}
process.exit(0)
