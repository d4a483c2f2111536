/**
 * Scenario 5 — cross-process with the Redis store: how many token requests 8 separate Node processes
 * make per token lifetime when they share one token through a real redis-server, against the same 8
 * processes and load with the default memory store (the baseline: every process fetches its own), and
 * one process alone (the reference: what refresh-ahead costs a single consumer at this lifetime).
 *
 * Each process (bench/cross-process-worker.ts, run with `--import tsx`) has its own token manager
 * (default options), its own ioredis connection and the fetch adapter (default options: body placement),
 * and sends steady, paced load to `/service/checkAddresses` of one emulator listening on 127.0.0.1 in
 * this process, for 10 lifetimes of a 2 s token. redis-server is started for the run on a free loopback
 * port without persistence (test/helpers/redis.ts) and killed by its pid afterwards. Without
 * redis-server the scenario reports itself skipped instead of failing the whole bench.
 *
 * Waiter latency: the same 8 processes with the Redis store force a refresh together, round after round
 * (a 150 ms token request, as over a real network): one fetches, the others wait for its token. Measured
 * from the holder having its token to each other process having it, and the Redis commands per refresh
 * (`INFO commandstats` deltas). `BENCH_CROSS_ONLY=wake-ups` runs this part alone.
 */
import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { hasRedisServer, startRedis } from '../test/helpers/redis.js'
import type { RefreshAnswer, WorkerConfig, WorkerResult } from './cross-process-worker.js'
import { built, fixed, log, percentile, report } from './lib.js'
import type { ScenarioResult } from './lib.js'

const { createEmulator } = await built<typeof import('../src/emulator/index.js')>('emulator')

const PROCESSES = 8
const LANES = 4
/** Per process: enough to keep every manager asking for tokens all the time, little enough that nine processes share two cores without starving. */
const RATE_PER_SECOND = 100
const TTL_S = 2
const TTL_MS = TTL_S * 1000
const LIFETIMES = Math.max(3, Number(process.env['BENCH_CROSS_LIFETIMES'] ?? 10))
const DURATION_MS = LIFETIMES * TTL_MS
const MAX_REQUESTS = Math.ceil((RATE_PER_SECOND * DURATION_MS) / 1000) * 2
/** Eight TypeScript loaders starting at once on a small machine take a few seconds; a minute means something is wrong. */
const READY_MS = 60_000
/** After the load ends: time for the last answers and the report line. */
const RESULT_GRACE_MS = 30_000
/**
 * No manager refreshes a token before half its lifetime (the soft window is at most lifetime/2), so a
 * token request sooner than that after the previous one fetched a token while a fresh one existed. The
 * 20 ms allow for the event timestamp being taken a moment before the manager's own send time.
 */
const DUPLICATE_WITHIN_MS = TTL_MS / 2 - 20

/** Forced refreshes of the 8 processes together, for waiter latency and Redis commands per refresh. */
const WAKE_ROUNDS = 40
/** The token request of each round: long enough that waiters that polled would ask Redis all along. */
const WAKE_TOKEN_MS = 150
const ONLY_WAKE_UPS = process.env['BENCH_CROSS_ONLY'] === 'wake-ups'

const TITLE = '5. Cross-process with the Redis store'
const TARGET_PER_LIFETIME = `cross-process with the Redis store: token requests per lifetime (${PROCESSES} processes)`
const TARGET_FAILED = 'cross-process with the Redis store: failed requests'
const TARGET_WAKE = `cross-process with the Redis store: waiter latency p50 / p99 (${PROCESSES} processes)`
const TARGET_COMMANDS = `cross-process with the Redis store: Redis commands per refresh (${PROCESSES} processes)`

const root = fileURLToPath(new URL('..', import.meta.url))
const WORKER = fileURLToPath(new URL('./cross-process-worker.ts', import.meta.url))

type RedisServer = Awaited<ReturnType<typeof startRedis>>

/** Every child still running and the redis-server, so that no exit path leaves one behind. */
const children = new Set<ChildProcessWithoutNullStreams>()
let redisServer: RedisServer | undefined

async function killChildren(): Promise<void> {
  await Promise.all(
    [...children].map(async (child) => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
        child.kill('SIGKILL')
        await exited
      }
      children.delete(child)
    }),
  )
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void Promise.allSettled([killChildren(), redisServer?.dispose()]).finally(() => process.exit(130))
  })
}

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

interface Worker {
  readonly child: ChildProcessWithoutNullStreams
  readonly ready: Promise<void>
  readonly result: Promise<WorkerResult>
  /** Forces a refresh in the process; one at a time. */
  refresh(): Promise<RefreshAnswer>
}

function startWorker(config: WorkerConfig): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, JSON.stringify(config)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  children.add(child)
  let stderr = ''
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  // Writing `go` to a worker that has just died must become a clear error below, not an unhandled one.
  child.stdin.on('error', () => {})
  let onReady: () => void = () => {}
  let onResult: (result: WorkerResult) => void = () => {}
  let onExit: (error: Error) => void = () => {}
  const refreshes: Array<(answer: RefreshAnswer) => void> = []
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    child.once('exit', (code, signal) => reject(new Error(`worker ${child.pid} exited (${code ?? signal}) before it was ready\n${stderr}`)))
  })
  const result = new Promise<WorkerResult>((resolve, reject) => {
    onResult = resolve
    onExit = reject
  })
  child.once('exit', (code, signal) => {
    children.delete(child)
    onExit(new Error(`worker ${child.pid} exited (${code ?? signal}) without a result\n${stderr}`))
  })
  child.once('error', (error) => onExit(error))
  createInterface({ input: child.stdout }).on('line', (line) => {
    let message: unknown
    try {
      message = JSON.parse(line)
    } catch {
      stderr += `(stdout) ${line}\n`
      return
    }
    if (typeof message !== 'object' || message === null) return
    if ('ready' in message) onReady()
    else if ('ok' in message) onResult(message as WorkerResult)
    else if ('refreshed' in message) refreshes.shift()?.(message as RefreshAnswer)
  })
  // Both are awaited in runPhase; these only keep an early exit from surfacing as an unhandled rejection.
  ready.catch(() => {})
  result.catch(() => {})
  const refresh = (): Promise<RefreshAnswer> =>
    new Promise((resolve) => {
      refreshes.push(resolve)
      child.stdin.write('refresh\n')
    })
  return { child, ready, result, refresh }
}

interface Phase {
  label: string
  processes: number
  redisPort: number | null
}

interface PhaseResult {
  label: string
  processes: number
  shared: boolean
  /** The emulator's own counters for the phase. */
  tokensIssued: number
  tokenEndpointRequests: number
  checkAddresses: number
  authFailures: number
  ok: number
  failed: number
  errors: string[]
  /** Every process's token-request events, in time order. */
  tokenRequests: Array<{ at: number; reason: string; pid: number }>
  /** Token requests sooner than half a lifetime after the previous one, from any process. */
  duplicates: number
  /** Processes whose manager sent at least one token request. */
  fetchingProcesses: number
  fromStore: number
  storeErrors: string[]
  /** From the first token request (the cold start) to the last answer. */
  spanMs: number
  readyMs: number
}

async function runPhase(phase: Phase): Promise<PhaseResult> {
  const emu = createEmulator({ tokenTtl: TTL_S })
  const server = await emu.listen({ hostname: '127.0.0.1' })
  const config: WorkerConfig = {
    baseUrl: server.url,
    redisPort: phase.redisPort,
    lanes: LANES,
    ratePerSecond: RATE_PER_SECOND,
    durationMs: DURATION_MS,
    maxRequests: MAX_REQUESTS,
  }
  try {
    const starting = performance.now()
    const workers = Array.from({ length: phase.processes }, () => startWorker(config))
    await within(Promise.all(workers.map((worker) => worker.ready)), READY_MS, `${phase.label}: workers starting`)
    const readyMs = performance.now() - starting
    // Cold start for every phase: the counters and (for Redis) the store start empty.
    emu.resetStats()
    for (const worker of workers) worker.child.stdin.write('go\n')
    const results = await within(
      Promise.all(workers.map((worker) => worker.result)),
      DURATION_MS + RESULT_GRACE_MS,
      `${phase.label}: workers finishing`,
    )
    const stats = emu.stats()
    const tokenRequests = results
      .flatMap((result) => result.tokenRequests.map(({ at, reason }) => ({ at, reason, pid: result.pid })))
      .sort((a, b) => a.at - b.at)
    const duplicates = tokenRequests.filter((request, i) => i > 0 && request.at - tokenRequests[i - 1]!.at < DUPLICATE_WITHIN_MS).length
    const first = tokenRequests[0]?.at ?? Math.min(...results.map((result) => result.startedAt))
    const sum = (pick: (result: WorkerResult) => number): number => results.reduce((n, result) => n + pick(result), 0)
    return {
      label: phase.label,
      processes: phase.processes,
      shared: phase.redisPort !== null,
      tokensIssued: stats.tokensIssued,
      tokenEndpointRequests: stats.requests.serviceToken,
      checkAddresses: stats.requests.checkAddresses,
      authFailures: stats.authFailures,
      ok: sum((result) => result.ok),
      failed: sum((result) => result.failed),
      errors: [...new Set(results.flatMap((result) => result.errors))].slice(0, 5),
      tokenRequests,
      duplicates,
      fetchingProcesses: results.filter((result) => result.tokenRequests.length > 0).length,
      fromStore: sum((result) => result.events['token-from-store'] ?? 0),
      storeErrors: results.flatMap((result) => result.storeErrors),
      spanMs: Math.max(...results.map((result) => result.endedAt)) - first,
      readyMs,
    }
  } finally {
    await killChildren()
    await server.close()
  }
}

interface WakeUps {
  /** Per waiter and round: ms from the holder having its token to this process having it. */
  latencies: number[]
  /** Per round: Redis commands run (all processes). */
  commands: number[]
  /** Rounds where other than exactly one process fetched (a waiter gave up on Redis, or a split). */
  splitRounds: number
  errors: string[]
}

/** The Redis commands run so far, from `INFO commandstats`. */
async function commandsRun(probe: Redis): Promise<number> {
  return [...(await probe.info('commandstats')).matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0)
}

async function measureWakeUps(redisPort: number, probe: Redis): Promise<WakeUps> {
  const emu = createEmulator()
  const server = await emu.listen({ hostname: '127.0.0.1' })
  const config: WorkerConfig = { baseUrl: server.url, redisPort, lanes: 0, ratePerSecond: 1, durationMs: 0, maxRequests: 0 }
  const result: WakeUps = { latencies: [], commands: [], splitRounds: 0, errors: [] }
  try {
    const workers = Array.from({ length: PROCESSES }, () => startWorker(config))
    await within(Promise.all(workers.map((worker) => worker.ready)), READY_MS, 'wake-ups: workers starting')
    const refreshAll = () => within(Promise.all(workers.map((worker) => worker.refresh())), RESULT_GRACE_MS, 'wake-ups: a refresh round')
    // A first round warms the connections and subscriptions up; not counted.
    await refreshAll()
    emu.inject('serviceToken', { type: 'latency', ms: WAKE_TOKEN_MS }, { times: WAKE_ROUNDS })
    for (let round = 0; round < WAKE_ROUNDS; round++) {
      const before = await commandsRun(probe)
      const answers = await refreshAll()
      // The probe's own INFO is one of the calls counted.
      result.commands.push((await commandsRun(probe)) - before - 1)
      result.errors.push(...answers.flatMap((answer) => (answer.error === undefined ? [] : [answer.error])))
      const holders = answers.filter((answer) => answer.fetchedIt)
      if (holders.length !== 1) {
        result.splitRounds++
        continue
      }
      for (const answer of answers) if (answer !== holders[0]) result.latencies.push(answer.tokenAt - holders[0]!.tokenAt)
    }
    return result
  } finally {
    await killChildren()
    await server.close()
  }
}

/** The waiter-latency part of the section and its targets. */
function wakeUpsReport(wake: WakeUps): Pick<ScenarioResult, 'markdown' | 'targets'> {
  const latencies = [...wake.latencies].sort((a, b) => a - b)
  const commands = [...wake.commands].sort((a, b) => a - b)
  const p50 = percentile(latencies, 50)
  const p99 = percentile(latencies, 99)
  const perRefresh = percentile(commands, 50)
  const markdown = [
    `Waiter latency: the ${PROCESSES} processes with the Redis store force a refresh together, ${WAKE_ROUNDS} rounds, each token request`,
    `taking ${WAKE_TOKEN_MS} ms: one process fetches, the others are woken by its message on the wake-up channel. Latency is from the`,
    'holder having its token to each other process having it (both timestamps from the manager\'s events, one clock);',
    'commands are the `INFO commandstats` delta of the round (every process, the holder\'s write, publish and release included).',
    '',
    '| measure | Redis store, 8 processes |',
    '|---|---:|',
    `| waiter latency p50 / p99 / max (ms, ${latencies.length} waits) | ${fixed(p50, 1)} / ${fixed(p99, 1)} / ${fixed(latencies.at(-1) ?? Number.NaN, 1)} |`,
    `| Redis commands per refresh, median / max | ${perRefresh} / ${commands.at(-1)} (${fixed(perRefresh / PROCESSES, 1)} per process) |`,
    `| rounds where other than one process fetched | ${wake.splitRounds} of ${WAKE_ROUNDS} |`,
    ...(wake.errors.length > 0 ? ['', `Failures: ${[...new Set(wake.errors)].slice(0, 5).join('; ')}`] : []),
  ].join('\n')
  return {
    markdown,
    targets: [
      [TARGET_WAKE, '≤ 5 ms / ≤ 20 ms', `${fixed(p50, 1)} ms / ${fixed(p99, 1)} ms (max ${fixed(latencies.at(-1) ?? Number.NaN, 1)} ms)`, p50 <= 5 && p99 <= 20 && wake.errors.length === 0],
      [TARGET_COMMANDS, `O(processes): ≤ 6 per process`, `${perRefresh} (${fixed(perRefresh / PROCESSES, 1)} per process)`, perRefresh <= 6 * PROCESSES],
    ],
  }
}

const lifetimesOf = (phase: PhaseResult): number => phase.spanMs / TTL_MS
const perLifetime = (phase: PhaseResult): number => phase.tokensIssued / lifetimesOf(phase)
const refreshesOf = (phase: PhaseResult): number => phase.tokenRequests.length - phase.duplicates
const byReason = (phase: PhaseResult): string => {
  const count = (reason: string): number => phase.tokenRequests.filter((request) => request.reason === reason).length
  return `${count('missing')} / ${count('ahead')} / ${count('expiring')}`
}

async function measure(): Promise<ScenarioResult> {
  redisServer = await startRedis()
  const probe = new Redis(redisServer.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
  probe.on('error', () => {})
  let shared: PhaseResult
  let alone: PhaseResult
  let single: PhaseResult
  let wake: WakeUps
  try {
    await within(probe.flushall(), 10_000, 'redis-server answering FLUSHALL')
    wake = await measureWakeUps(redisServer.port, probe)
    const wakeUps = wakeUpsReport(wake)
    log(`wake-ups: ${wakeUps.targets.map(([, , measured]) => measured).join('; ')}`)
    if (ONLY_WAKE_UPS) return { title: TITLE, ...wakeUps }
    await within(probe.flushall(), 10_000, 'redis-server answering FLUSHALL')
    shared = await runPhase({ label: 'Redis store', processes: PROCESSES, redisPort: redisServer.port })
    alone = await runPhase({ label: 'memory store', processes: PROCESSES, redisPort: null })
    single = await runPhase({ label: 'one process', processes: 1, redisPort: null })
  } finally {
    probe.disconnect()
    await redisServer.dispose()
    redisServer = undefined
  }
  const phases = [shared, alone, single]
  for (const phase of phases) {
    log(
      `${phase.label} (${phase.processes} processes, ready in ${fixed(phase.readyMs / 1000, 1)} s): ${phase.tokensIssued} tokens in ` +
        `${fixed(lifetimesOf(phase))} lifetimes = ${fixed(perLifetime(phase))}/lifetime, duplicates ${phase.duplicates}, ` +
        `ok ${phase.ok}, failed ${phase.failed}${phase.errors.length > 0 ? ` (${phase.errors.join('; ')})` : ''}` +
        `${phase.storeErrors.length > 0 ? `, store errors: ${phase.storeErrors.join('; ')}` : ''}`,
    )
  }
  const perRefresh = shared.tokenRequests.length / refreshesOf(shared)
  const ratio = perLifetime(shared) / perLifetime(alone)
  // Every token request the managers made must be one the emulator saw, or the counting above is off.
  const consistent = phases.every((phase) => phase.tokenRequests.length === phase.tokenEndpointRequests)
  const cell = (pick: (phase: PhaseResult) => string): string => phases.map(pick).join(' | ')
  const markdown = [
    `${PROCESSES} separate Node processes (\`node --import tsx bench/cross-process-worker.ts\`), each with its own token`,
    'manager (default options) and the fetch adapter (default options: the token goes in the JSON body), each sending steady',
    `load — at most ${LANES} requests in flight, paced to at most ${RATE_PER_SECOND} a second — to \`/service/checkAddresses\` of one`,
    `emulator (tokenTtl ${TTL_S} s) on 127.0.0.1 for ${LIFETIMES} token lifetimes (${DURATION_MS / 1000} s). With the Redis store each process`,
    'has its own ioredis connection to a real redis-server started for the run (127.0.0.1, no persistence). The baseline',
    `runs the same ${PROCESSES} processes and load with the default memory store; the reference is one process alone with the`,
    'same load. Every phase starts cold (no token anywhere, Redis empty) with a fresh emulator, all processes released at',
    'the same moment.',
    '',
    'How it is counted. Token requests are the emulator\'s own count of issued tokens. Lifetimes elapsed = the time from the',
    'first token request (the cold start, which opens the first lifetime) to the last answer, divided by tokenTtl. A token',
    'request is a *duplicate* when it was sent less than half a tokenTtl after the previous one from any process: no manager',
    'refreshes a token before half its life, so a duplicate fetched a token while a fresh one existed. *Refreshes* = token',
    'requests − duplicates: the token lifetimes actually used. The target counts token requests per refresh, i.e. per token',
    'lifetime as refresh-ahead lives it. (Not given for the baseline: eight unsynchronised processes refresh so often that a',
    'gap of half a lifetime hardly ever occurs, so its "refreshes" would not count lifetimes.)',
    '',
    `Why more than one token per ${TTL_S} s: refresh-ahead renews a token in its soft window, which is half the lifetime for`,
    'short tokens, at a jittered moment between 50 % and 75 % of its life; one process alone therefore needs 1.33–2 tokens',
    'per tokenTtl. With a shared store the earliest of the eight jittered moments wins every cycle, so the cluster renews',
    'close to half-life. With AnyWeb\'s 2-hour tokens the soft window is 5 minutes and this comes to about 1.04 per lifetime.',
    'Reason `expiring` means callers waited: at this lifetime the latest jittered moment coincides with the hard window',
    '(a quarter of the lifetime before expiry), so a process that happens to send nothing in between misses the background',
    'refresh.',
    '',
    `| measure | Redis store, ${PROCESSES} processes | memory store, ${PROCESSES} processes (baseline) | one process alone (reference) |`,
    '|---|---:|---:|---:|',
    `| token requests (emulator: tokens issued) | ${cell((p) => String(p.tokensIssued))} |`,
    `| by reason: cold start / ahead / expiring | ${cell(byReason)} |`,
    `| processes that sent a token request | ${cell((p) => `${p.fetchingProcesses} of ${p.processes}`)} |`,
    `| lifetimes elapsed (${TTL_S} s each) | ${cell((p) => fixed(lifetimesOf(p)))} |`,
    `| token requests per lifetime | ${cell((p) => fixed(perLifetime(p)))} |`,
    `| duplicates (< half a lifetime after another) | ${cell((p) => String(p.duplicates))} |`,
    `| **token requests per refresh** | **${fixed(perRefresh)}** | — | ${fixed(single.tokenRequests.length / refreshesOf(single))} |`,
    `| tokens taken from Redis instead of fetched (token-from-store) | ${shared.fromStore} | — | — |`,
    `| store errors (Redis did not answer) | ${shared.storeErrors.length} | — | — |`,
    `| requests ok / failed | ${cell((p) => `${p.ok.toLocaleString('en')} / ${p.failed}`)} |`,
    `| requests per second, all processes | ${cell((p) => fixed((p.ok + p.failed) / (p.spanMs / 1000), 0))} |`,
    `| answers A108P001 (token refused) | ${cell((p) => String(p.authFailures))} |`,
    `| **token requests per lifetime, ratio to the baseline** | **${fixed(ratio, 3)}** | 1 | ${fixed(perLifetime(single) / perLifetime(alone), 3)} |`,
    ...(consistent ? [] : ['', '**Warning**: the managers\' token-request events and the emulator\'s count disagree; the figures above are suspect.']),
    ...(shared.errors.length > 0 || alone.errors.length > 0 ? ['', `Failures: ${[...shared.errors, ...alone.errors].join('; ')}`] : []),
  ].join('\n')
  const wakeUps = wakeUpsReport(wake)
  return {
    title: TITLE,
    markdown: `${markdown}\n\n${wakeUps.markdown}`,
    targets: [
      [
        TARGET_PER_LIFETIME,
        '1',
        `${fixed(perRefresh)} per refresh (${fixed(perLifetime(shared))} per ${TTL_S} s tokenTtl; memory store ${fixed(perLifetime(alone))}, one process ${fixed(perLifetime(single))})`,
        perRefresh <= 1 && consistent,
      ],
      [TARGET_FAILED, '0', `${shared.failed} of ${(shared.ok + shared.failed).toLocaleString('en')}`, shared.failed === 0],
      ...wakeUps.targets,
    ],
  }
}

/** The reason this machine cannot run the scenario, if any. */
function missingPrerequisite(): string | undefined {
  try {
    return hasRedisServer() ? undefined : '`redis-server` is not installed on this machine (`apt-get install redis-server`)'
  } catch (error) {
    // Under CI the test helper insists on redis-server; a benchmark only reports that it could not run.
    return error instanceof Error ? error.message : String(error)
  }
}

async function main(): Promise<void> {
  const missing = missingPrerequisite()
  if (missing !== undefined) {
    log(`cross-process: skipped: ${missing}`)
    // bench/run.ts lists `skipped` targets as such instead of as failed ones.
    const skipped: ScenarioResult & { skipped: Array<[string, string]> } = {
      title: TITLE,
      markdown: `**Skipped**: ${missing}.`,
      targets: [],
      skipped: [
        [TARGET_PER_LIFETIME, '1'],
        [TARGET_FAILED, '0'],
        [TARGET_WAKE, '≤ 5 ms / ≤ 20 ms'],
        [TARGET_COMMANDS, 'O(processes): ≤ 6 per process'],
      ],
    }
    report(skipped)
    return
  }
  try {
    report(await measure())
  } catch (error) {
    // One broken scenario must not cost the results of the others: it is reported as a failed target.
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
    log(`cross-process failed: ${message}`)
    report({
      title: TITLE,
      markdown: `**Failed**: the scenario did not complete.\n\n\`\`\`\n${message.slice(0, 2000)}\n\`\`\``,
      targets: [[TARGET_PER_LIFETIME, '1', 'error', false]],
    })
  } finally {
    await killChildren()
    await redisServer?.dispose()
  }
}

await main()
process.exit(0)
