/** Shared helpers of the benchmarks: statistics, timing, and the result format each scenario prints. */
import { spawn } from 'node:child_process'
import { cpus, totalmem } from 'node:os'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/** What a scenario child prints on its last stdout line: markdown sections for BENCHMARKS.md. */
interface ScenarioResult {
  title: string
  markdown: string
  /** One line per target: [what, target, measured, met]; `met` null for a figure measured with no target (JSON has no undefined). */
  targets: Array<[string, string, string, boolean | null]>
  /** Markdown shown under the targets table (the hot path's matrix of ratios). */
  summary?: string
}

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

/** Nearest-rank percentile (p in 0–100). */
function percentile(values: readonly number[] | Float64Array, p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = Float64Array.from(values).sort()
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank]!
}

function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a'
}

function machine(): { cpu: string; cores: number; memory: string } {
  const list = cpus()
  return { cpu: list[0]?.model.trim() ?? 'unknown', cores: list.length, memory: `${(totalmem() / 2 ** 30).toFixed(1)} GiB` }
}

/** Runs `task` with at most `concurrency` in flight until `total` are done. */
async function pool(total: number, concurrency: number, task: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < total) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker))
}

/**
 * Sends `total` requests with `send`, `concurrency` in flight, starting from a collected heap (when the
 * process runs with `--expose-gc`): the block pays for its own garbage, not for what ran before it.
 * Returns the wall time and the CPU time of this process (all its threads, GC included), in ms.
 */
async function measureBlock(send: () => Promise<unknown>, total: number, concurrency: number): Promise<{ wall: number; cpu: number }> {
  ;(globalThis as { gc?: () => void }).gc?.()
  const cpu = process.cpuUsage()
  const started = performance.now()
  await pool(total, concurrency, send)
  const used = process.cpuUsage(cpu)
  return { wall: performance.now() - started, cpu: (used.user + used.system) / 1000 }
}

function log(message: string): void {
  process.stderr.write(`  ${message}\n`)
}

/** Prints the result for the parent (bench/run.ts) on stdout, as the last line. */
function report(result: ScenarioResult): void {
  process.stdout.write(`\n${JSON.stringify(result)}\n`)
}

/**
 * An entry of the library as built in `dist/`, which is what users run (`npm run bench` builds first),
 * typed by its source. Running the sources through tsx instead would measure esbuild's `keepNames`
 * wrappers too. `BENCH_DIST=<folder>` measures another build instead (a copy of `dist/` with one change,
 * to weigh that change against the same baseline, or a snapshot that a rebuild cannot change under a
 * run). A folder outside this checkout needs what a build imports: a `node_modules` link to this one's
 * and a `package.json` of `{"type":"module"}`.
 */
function built<T>(entry: 'index' | 'fetch' | 'axios' | 'ky' | 'openapi-fetch' | 'emulator' | 'redis' | 'otel'): Promise<T> {
  const folder = process.env['BENCH_DIST']
  const url = folder === undefined ? new URL(`../dist/${entry}.js`, import.meta.url) : pathToFileURL(resolve(folder, `${entry}.js`))
  return import(url.href) as Promise<T>
}

/**
 * Runs `node <args>` (this Node) and resolves with the JSON on the last line of its stdout; rejects,
 * with what it printed, when it exits non-zero or that line is not JSON. Its stderr goes to ours.
 */
function runJsonChild<T>(args: readonly string[], what: string, cwd?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], ...(cwd === undefined ? {} : { cwd }) })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.on('error', reject)
    child.on('exit', (code) => {
      try {
        if (code !== 0) throw new Error(`exit code ${code}`)
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '') as T)
      } catch (error) {
        reject(new Error(`${what} failed: ${String(error)}\n${out}`))
      }
    })
  })
}

const rounds = (fallback: number): number => Math.max(5, Number(process.env['BENCH_ROUNDS'] ?? fallback))

export { built, fixed, log, machine, measureBlock, median, percentile, pool, report, rounds, runJsonChild }
export type { ScenarioResult }
