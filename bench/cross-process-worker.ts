/**
 * One process of scenario 5 (bench/cross-process.ts): its own token manager (memory store, or the Redis
 * store on its own ioredis connection), the real fetch adapter with default options (body placement),
 * and steady load on the emulator's `/service/checkAddresses`.
 *
 * Configuration comes as one JSON argument ({@link WorkerConfig}). The process prints
 * `{"ready":true,"pid":…}` once it can start (its Redis client connected), waits for the line `go` on
 * stdin so that every process starts at the same moment, runs `lanes` requests in flight at most
 * `ratePerSecond` a second until `durationMs` or `maxRequests`, prints one {@link WorkerResult} line and
 * exits. It also exits when its stdin closes, so it never outlives the bench.
 *
 * Waiter latency: each line `refresh` runs `manager.refresh()` (forced; processes refreshing at once share
 * one token request through Redis) and prints one {@link RefreshAnswer} line.
 *
 * By hand: `npx tsx bench/cross-process-worker.ts '{"baseUrl":"http://127.0.0.1:8787","redisPort":null,"lanes":4,"ratePerSecond":100,"durationMs":5000,"maxRequests":1000}'`, then type `go`.
 */
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import type { TokenStore } from '../src/index.js'
import { built } from './lib.js'

const { withServiceToken } = await built<typeof import('../adapters/fetch.js')>('fetch')
const { createTokenManager } = await built<typeof import('../src/index.js')>('index')
const { redisStore } = await built<typeof import('../src/redis-store.js')>('redis')

interface WorkerConfig {
  baseUrl: string
  /** `null`: the default memory store, nothing shared with the other processes. */
  redisPort: number | null
  lanes: number
  ratePerSecond: number
  durationMs: number
  maxRequests: number
}

/** A `token-request` event of this process's manager, with when it happened (epoch ms, the machine's clock). */
interface TokenRequest {
  at: number
  reason: string
  attempt: number
}

interface WorkerResult {
  pid: number
  ok: number
  failed: number
  /** Distinct failure descriptions, at most 5. */
  errors: string[]
  /** Epoch ms of the first request sent and of the last answer received. */
  startedAt: number
  endedAt: number
  tokenRequests: TokenRequest[]
  /** Manager events by type. */
  events: Record<string, number>
  storeErrors: string[]
}

/** The answer to `refresh`: when this process had its new token, and whether it fetched it (else took it from Redis). */
interface RefreshAnswer {
  refreshed: boolean
  /** Epoch ms with sub-millisecond precision (processes are compared). */
  tokenAt: number
  fetchedIt: boolean
  error?: string
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause instanceof Error ? ` (cause: ${error.cause.message})` : ''
  return `${error.name}: ${error.message}${cause}`
}

let redis: Redis | undefined
let store: TokenStore | undefined
if (config.redisPort !== null) {
  redis = new Redis(config.redisPort, '127.0.0.1', { enableOfflineQueue: false })
  // A Redis failure must show up as a store-error event (counted below), not as ioredis noise on stderr.
  redis.on('error', () => {})
  store = redisStore(redis)
}

const events: Record<string, number> = {}
const tokenRequests: TokenRequest[] = []
let tokenAt = 0
let fetchedIt = false
const storeErrors: string[] = []
const manager = createTokenManager({
  appid: 'demo-app',
  secret: 'demo-secret',
  baseUrl: config.baseUrl,
  ...(store === undefined ? {} : { store }),
  onEvent: (event) => {
    events[event.type] = (events[event.type] ?? 0) + 1
    if (event.type === 'token-request') tokenRequests.push({ at: Date.now(), reason: event.reason, attempt: event.attempt })
    if (event.type === 'store-error') storeErrors.push(`${event.operation}: ${describe(event.error)}`)
    if (event.type === 'token-refreshed' || event.type === 'token-from-store') {
      tokenAt = performance.timeOrigin + performance.now()
      fetchedIt = event.type === 'token-refreshed'
    }
  },
})
const anyweb = withServiceToken(fetch, manager)
const url = `${config.baseUrl}/service/checkAddresses`
const body = JSON.stringify({ group: { [`user-${process.pid}`]: ['cfx:aa', 'cfx:bb'] } })

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms))

async function run(): Promise<WorkerResult> {
  let ok = 0
  let failed = 0
  const errors = new Set<string>()
  let sent = 0
  const startedAt = Date.now()
  const deadline = startedAt + config.durationMs
  // Each lane paces itself so that the process as a whole stays near ratePerSecond: steady load, not a
  // closed loop that would starve eight processes and the emulator of CPU on a small machine.
  const laneInterval = (1000 * config.lanes) / config.ratePerSecond
  const lane = async (index: number): Promise<void> => {
    // Lanes start staggered, so requests are spread evenly instead of going out four at a time.
    await sleep((laneInterval * index) / config.lanes)
    while (Date.now() < deadline && sent < config.maxRequests) {
      sent++
      const laneStarted = Date.now()
      try {
        const response = await anyweb(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
        const answer = (await response.json()) as { code?: unknown; message?: unknown }
        if (answer.code === 1000) ok++
        else {
          failed++
          errors.add(`HTTP ${response.status} ${String(answer.code)} ${String(answer.message)}`)
        }
      } catch (error) {
        failed++
        errors.add(describe(error))
      }
      const wait = laneStarted + laneInterval - Date.now()
      if (wait > 0) await sleep(Math.min(wait, Math.max(0, deadline - Date.now())))
    }
  }
  await Promise.all(Array.from({ length: config.lanes }, (_, index) => lane(index)))
  return {
    pid: process.pid,
    ok,
    failed,
    errors: [...errors].slice(0, 5),
    startedAt,
    endedAt: Date.now(),
    tokenRequests,
    events: { ...events },
    storeErrors,
  }
}

function exit(code: number): void {
  manager.close()
  redis?.disconnect()
  process.exit(code)
}

let started = false
let finished = false
const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (line.trim() === 'refresh') {
    const answer = (result: RefreshAnswer): void => void process.stdout.write(`${JSON.stringify(result)}\n`)
    void manager.refresh().then(
      () => answer({ refreshed: true, tokenAt, fetchedIt }),
      (error: unknown) => answer({ refreshed: false, tokenAt, fetchedIt, error: describe(error) }),
    )
    return
  }
  if (line.trim() !== 'go' || started) return
  started = true
  void run().then(
    (result) => {
      finished = true
      process.stdout.write(`${JSON.stringify(result)}\n`, () => exit(0))
    },
    (error: unknown) => {
      process.stderr.write(`${describe(error)}\n`)
      exit(1)
    },
  )
})
// The bench went away (or closed our stdin): never outlive it.
lines.on('close', () => {
  if (!finished) exit(started ? 1 : 0)
})

const ready = (): void => {
  process.stdout.write(`${JSON.stringify({ ready: true, pid: process.pid })}\n`)
}
if (redis === undefined) ready()
else redis.once('ready', ready)

export type { RefreshAnswer, WorkerConfig, WorkerResult }
