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
const scenarios = ['hot-path', 'herd', 'refresh-ahead', 'memory', 'cross-process', 'allocation', 'otel'] as const
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
    `2-core virtual machine: expect a few percent of noise between runs. Regenerate with \`npm run bench\` (\`tsx bench/run.ts\`;`,
    'about an hour, most of it the hot path\'s 70 processes of 35-55 s each). `npm run bench -- --quick` prints the hot path\'s',
    'matrix alone, one process per client and placement, in 3-4 minutes on this machine, noisier, and leaves this file as it is.',
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
    '### Where the hot-path overhead comes from (what each adapter does per request)',
    '',
    '- **fetch, ky, openapi-fetch (fetch option)**: one exchange per tokened request (src/http/exchange.ts). The request is',
    '  kept as URL + init (ky and openapi-fetch hand fetch a Request: its body is read once, so that it can be sent again,',
    '  and it goes to fetch as URL + init, which spares undici the proxy stream of a Request input); the token is placed',
    '  (a header set, or the `serviceToken` member written into the JSON text); redirects go `manual`, so that the exchange',
    '  follows only allowed ones. Then the answer is looked at (src/http/answer.ts): a JSON answer is read with a reader,',
    '  each read raced against a timer (`answerTimeout`) and the caller\'s abort, up to 64 KiB of decoded bytes; the text',
    '  is searched for `A108P001`, and the caller gets a Response made by Response\'s own constructor, with fetch\'s head',
    '  and a byte stream of the chunks read as its body, which its `text()` / `json()` reads again. A longer answer (200 KB) is',
    '  handed on after its first 64 KiB as a stream of what was read followed by the rest, one pull per chunk. Against the',
    '  bare fetch that is a second body (a Response built and read) per request, a timer, and for small answers the extra',
    '  turns of a read loop; the reference row `fetch (steps by hand)` does just these steps, and nothing else, by hand.',
    '- **axios (http), axios (fetch)**: a synchronous request interceptor wraps the request\'s adapter. The wrapper places',
    '  the token in the config axios hands its own adapter (a header set in AxiosHeaders, or the field written into the',
    '  JSON text `transformRequest` made), sets `maxRedirects: 0`, calls axios\' adapter, judges the answer from the data',
    '  axios decoded (a text scan for `A108P001`) and puts the config back as it came. It never reads the answer itself,',
    '  so neither the framing nor the size of the answer changes its cost. `maxRedirects: 0` makes the http adapter skip',
    '  the follow-redirects wrapper the baseline goes through: ratios above 1.00 for axios (http).',
    '- **openapi-fetch (middleware)**: measured, with no target. The openapi-fetch entry meets its targets by the route',
    '  it takes itself and recommends: the wrapper as the client\'s `fetch` (`createAnyWebClient`, or',
    '  `createClient({ fetch: withServiceToken(fetch, manager) })`), row "openapi-fetch (fetch option)". A middleware cannot',
    '  get there: its `onRequest` is handed a Request, and the body field and the resend need its body, so the body is read',
    '  and a second Request built for openapi-fetch to send, with `redirect: \'manual\'` (a Request\'s redirect mode cannot',
    '  be changed, and undici strips only `authorization` on a cross-origin redirect, not a body field); undici then takes',
    '  that Request apart again; `onResponse` looks at the answer as the exchange does. Returning a Response from',
    '  `onRequest` instead would skip every other middleware\'s `onResponse` (openapi-fetch 0.17).',
    '',
    ...results.flatMap((r) => [`## ${r.title}`, '', r.markdown, '']),
  ].join('\n')
  if (quick) process.stdout.write(`# Hot path, quick mode (not written to BENCHMARKS.md)\n\n${results.map((r) => r.markdown).join('\n\n')}\n`)
  else if (only === undefined) writeFileSync(`${root}/BENCHMARKS.md`, md)
  else process.stdout.write(md)
  process.stderr.write(`done in ${fixed(totalSeconds, 0)} s\n`)
}

await main()
