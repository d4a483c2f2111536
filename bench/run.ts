/**
 * `npm run bench` (`tsx bench/run.ts`): runs each scenario in its own Node process (with --expose-gc, so
 * they do not disturb one another) and writes BENCHMARKS.md. `--only <name>` runs one scenario and prints
 * its section instead. `--quick` runs the hot path only, in its quick mode (a few minutes), and prints
 * its matrix and table; BENCHMARKS.md is left as it is.
 * Environment knobs for quick local runs: BENCH_ROUNDS (min 5), BENCH_HOT_REQUESTS, BENCH_HOT_CLIENTS (hot path: a comma-separated list of clients), BENCH_HERD, BENCH_MEMORY,
 * BENCH_CROSS_LIFETIMES (min 3).
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { fixed, machine, runJsonChild } from './lib.js'
import type { ScenarioResult } from './lib.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const scenarios = ['hot-path', 'herd', 'refresh-ahead', 'memory', 'cross-process', 'allocation'] as const
const quick = process.argv.includes('--quick')
const only = quick ? 'hot-path' : process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined
// The scenario children inherit it.
if (quick) process.env['BENCH_QUICK'] = '1'

/** A scenario that cannot run on this machine (cross-process without redis-server) names its targets in `skipped`: [what, wanted]. */
type Reported = ScenarioResult & { skipped?: Array<[string, string]> }

function runScenario(name: string): Promise<Reported> {
  const args = ['--expose-gc', '--import', 'tsx', fileURLToPath(new URL(`./${name}.ts`, import.meta.url))]
  return runJsonChild<Reported>(args, `scenario ${name}`, root)
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(`${root}/node_modules/${pkg}/package.json`, 'utf8')) as { version: string }).version
  } catch {
    return 'n/a'
  }
}

async function main(): Promise<void> {
  const started = performance.now()
  const results: Reported[] = []
  for (const name of scenarios) {
    if (only !== undefined && only !== name) continue
    process.stderr.write(`▶ ${name}\n`)
    const t = performance.now()
    results.push(await runScenario(name))
    process.stderr.write(`  (${fixed((performance.now() - t) / 1000, 0)} s)\n`)
  }

  const m = machine()
  const targets = results.flatMap((r) => r.targets)
  const totalSeconds = (performance.now() - started) / 1000
  const md = [
    '# Benchmarks',
    '',
    '## How to read',
    '',
    'Every figure is measured against a baseline taken **in the same run, on the same machine**, and most are given as a ratio',
    '(ours ÷ baseline): 1.00 means no difference, above 1 means more (req/s) or slower (latency) than the baseline. Each ratio is',
    'the median over several rounds (at least 5) in which the baseline and this library run back to back, in alternating order;',
    'the range shows how much rounds disagree, i.e. the noise. Absolute req/s and ms depend on the machine and are given only to',
    'make the ratios concrete. Everything runs on loopback (127.0.0.1) or in-process, with bounded loops. This is a small shared',
    `2-core virtual machine: expect a few percent of noise between runs. Regenerate with \`npm run bench\` (\`tsx bench/run.ts\`).`,
    '',
    `- Date: ${new Date().toISOString()}`,
    `- Machine: ${m.cpu}, ${m.cores} cores, ${m.memory} memory, ${process.platform} ${process.arch}`,
    `- Runtime: Node ${process.versions.node} (V8 ${process.versions.v8}, undici ${process.versions['undici'] ?? 'n/a'})`,
    `- Libraries: axios ${version('axios')}, ky ${version('ky')}, openapi-fetch ${version('openapi-fetch')}, axios-auth-refresh ${version('axios-auth-refresh')}, tsx ${version('tsx')}`,
    `- Whole run: ${fixed(totalSeconds, 0)} s`,
    '',
    '## Targets',
    '',
    '| target | wanted | measured | met |',
    '|---|---|---|---|',
    ...targets.map(([what, wanted, measured, met]) => `| ${what} | ${wanted} | ${measured} | ${met === null ? '— (informative)' : met ? '✅ yes' : '❌ no'} |`),
    ...results.flatMap((r) => (r.skipped ?? []).map(([what, wanted]) => `| ${what} | ${wanted} | skipped | — |`)),
    '',
    ...results.flatMap((r) => (r.summary === undefined ? [] : [`### ${r.title}`, '', r.summary, ''])),
    '### Where the hot-path overhead comes from (profiled, not measured in this run)',
    '',
    '- **axios (http) above 1.00**: tokened requests set `maxRedirects: 0` (redirects must not carry the token away), which',
    '  skips axios\' follow-redirects wrapper that the baseline goes through.',
    '- **fetch**: the adapter must read each small JSON answer whole to see `A108P001` before the caller gets it (AnyWeb',
    '  sends it with HTTP 200, and a response already handed on cannot be replayed). In Node it reads the answer to its',
    '  declared length and not one read further: the read that only reports the end makes undici run its end-of-body steps',
    '  (a resource-timing entry among them), about 10 µs of CPU in process and 5 % of a loopback request, which the bare',
    '  fetch pays inside `text()`. So a tokened request leaves no resource-timing entry (see the README), and its answer',
    '  costs less to read than the bare fetch\'s. The reference row `fetch (steps by hand)` is that floor with no adapter',
    '  code: the bare fetch with the token already written in, plus a copied init with redirects kept in hand, the answer',
    '  read to its declared length and looked through, and handed on in a Response of its own (the adapter\'s cheapest',
    '  kind). Against undici in process, with a dispatcher that answers on the next turn of the event loop as the network',
    '  does (bench/diagnose-fetch.ts), the adapter costs 7 µs (header) and 10 µs (body) per request more than the floor\'s',
    '  steps (paired medians of 60 blocks; 14 and 15 µs before the answer\'s first read was made inline in the exchange and',
    '  the last URL\'s origin check remembered, 2.9 and 2.2–2.5 µs of that, against an A/A difference of 0.3 µs in the same',
    '  harness). The rest is spread thin over what general code must check (the init, the small-answer checks, the',
    '  response\'s head), no step above 1 µs in a profile. Until session 7 the fetch rows read 0.91–1.03 from run to run:',
    '  the server (node:http then) was at times what limited the rate, the warm-up ended before the steady state, and each',
    '  row was one process; section 1 says how each was found and mended. Four runs on the same day with the mended',
    '  method gave fetch 0.984, 0.957, 0.976, 1.000 (header) and 0.981, 1.004, 0.953, 0.978 (body), its path unchanged',
    '  between them but for two flags more on the buffered answer: a target a point or two away is met or missed by the',
    '  run, and within one run a process ranges over 10 points (header 0.878–1.009 in the last). How fine the',
    '  method can see (session 8, 5 processes, the same build on both sides of every pair): 0.978 / 1.020, so about ±2',
    '  points. The adapter against the steps by hand directly, in the pairs of one process (7 processes): 0.959 / 0.967.',
    '  Bisected, with the request side done by hand and the adapter\'s answer handling kept: 1.007 (header); with the',
    '  answer handled by hand and the adapter\'s request side kept: 0.990 / 1.009, each against the adapter as it is:',
    '  neither half stands out from that ±2 (the request side by hand may hold a point or two). Where the 4 points go is',
    '  not located more finely.',
    '- **ky**: the adapter wraps ky\'s `fetch` from an `init` hook (response hooks would make ky clone every response);',
    '  ky hands fetch a Request with nothing to merge, so its body is read once (for the replay) and it is sent as',
    '  `url + init`, which spares undici the proxy stream it builds for a Request input. The body is read with a reader',
    '  that is then released: `arrayBuffer()` leaves the stream locked, and ky cancels every request body when done,',
    '  which on a locked stream builds a TypeError with its stack (about 30 µs, 7 % of a ky request, before this was found).',
    '- **axios (fetch)**: the token is placed in a wrapper of the request\'s adapter, which a synchronous request interceptor',
    '  installs (axios calls it inline, with no promise hop); the auth check and the replay happen in that wrapper, so',
    '  there is no response interceptor and no copy of the config. In Node, a tokened request whose body is text (or none)',
    '  and whose answer axios reads whole is sent by axios\' fetch adapter as axios builds it for an `env.fetch` of the',
    '  library\'s: axios\' Request goes to Node\'s fetch as `url + init`, its body read once (as ky\'s is: no proxy stream for',
    '  a Request input), and a small JSON answer is read to its declared length only and handed to axios as a Response',
    '  serving those bytes, whose `body` (axios looks at it for every answer) is a lazy byte stream: 4.8 µs to make where',
    '  a Response\'s took 21. Measured against the build before it (session 8: each process\'s pairs the new tokened axios',
    '  against the old one, 7 processes): 1.164 (header) and 1.182 (body) times the requests per second. The answer\'s read',
    '  alone, without the `url + init`, measured 0.976 / 1.005 in the same way: the proxy stream is where the time went.',
    '  Before, axios (fetch) sat at its targets\' edge (header 0.96–0.98, body 0.91–0.94 over three runs), the wrapper\'s',
    '  own ~8 µs of a ~430 µs call spread thin over small steps (the config kept clean for the caller, the header edits',
    '  through AxiosHeaders, the adapter looked up again), none above 1 µs in a profile.',
    '- **openapi-fetch (middleware)**: measured, with no target (0.80–0.93 in every run so far). The openapi-fetch entry',
    '  meets its targets by the route it takes itself and recommends: the wrapper as the client\'s `fetch`',
    '  (`createAnyWebClient`, or `createClient({ fetch: withServiceToken(fetch, manager) })`), row "openapi-fetch (fetch',
    '  option)", which sends openapi-fetch\'s Request as `url + init`. A middleware cannot get there, whatever it does: its',
    '  `onRequest` is handed a Request, and the token\'s body field and the replay need its body, so the body is read and a',
    '  second Request built for openapi-fetch to send, with `redirect: \'manual\'` (a Request\'s redirect mode cannot be',
    '  changed, and undici strips only `authorization` on a cross-origin redirect, not a body field); undici then extracts',
    '  that body, follows its signal and proxies its stream again: about 16 KiB and a fifth of the throughput. Returning a',
    '  Response from `onRequest` instead would skip every other middleware\'s `onResponse` (openapi-fetch 0.17). The row is',
    '  kept so that a change to it shows.',
    '',
    ...results.flatMap((r) => [`## ${r.title}`, '', r.markdown, '']),
  ].join('\n')
  if (quick) process.stdout.write(`# Hot path, quick mode (not written to BENCHMARKS.md)\n\n${results.map((r) => r.markdown).join('\n\n')}\n`)
  else if (only === undefined) writeFileSync(`${root}/BENCHMARKS.md`, md)
  else process.stdout.write(md)
  process.stderr.write(`done in ${fixed(totalSeconds, 0)} s\n`)
}

await main()
