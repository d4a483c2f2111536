/**
 * One worker process of test/redis/cluster.test.ts: its own token manager, its own Redis connection,
 * the real fetch adapter. Driven by JSON lines on stdin, one JSON line answered on stdout per command:
 *
 * - `{"id":1,"cmd":"burst","n":200}` → `{"id":1,"ok":200,"failed":0,"errors":[…],"events":{…},"storeErrors":[…],"tokenMs":…,"tokenAt":…,"fetchedIt":…}`:
 *   n concurrent POST /service/checkAddresses through `withServiceToken(fetch, manager)`; `events` counts the
 *   manager's events by type since the start, `tokenMs` is how long the burst waited for a new token,
 *   `tokenAt` when this process got its latest token and `fetchedIt` whether it fetched that one.
 * - `{"id":5,"cmd":"refresh"}` → `{"id":5,"tokenAt":…,"fetchedIt":…}`: `manager.refresh()`, forced; processes
 *   refreshing at once share one token request.
 * - `{"id":2,"cmd":"ping"}` → `{"id":2,"pong":"PONG"}` or `{"id":2,"error":"…"}`: this process's Redis client.
 * - `{"id":3,"cmd":"events"}` → `{"id":3,"events":{"token-request":1,…}}`: manager events so far, by type.
 * - `{"id":4,"cmd":"exit"}`: closes everything and exits 0.
 *
 * Configuration comes as one JSON argument: { redisPort, baseUrl, lockTtl, commandTimeout }.
 * On start it prints `{"ready":true,"pid":…}` once its Redis client is connected; with `burstAtStart: n`
 * it sends n requests at once instead and prints `ready` with the burst's result when they are done. It exits when its stdin
 * closes, so it never outlives the test. The test bundles it with esbuild and runs it on the system Node;
 * by hand: `npx tsx test/redis/worker.ts '{"redisPort":6379,"baseUrl":"http://127.0.0.1:8787","lockTtl":15000,"commandTimeout":300}'`.
 */
import { createInterface } from 'node:readline'
import { Redis } from 'ioredis'
import { withServiceToken } from '../../adapters/fetch.js'
import { createTokenManager } from '../../src/index.js'
import { redisStore } from '../../src/redis-store.js'

interface WorkerConfig {
  redisPort: number
  baseUrl: string
  lockTtl?: number
  commandTimeout: number
  /** Requests sent the moment the process starts, before its Redis client is connected (a fleet starting). */
  burstAtStart?: number
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig

const redis = new Redis(config.redisPort, '127.0.0.1', {
  enableOfflineQueue: false,
  // ioredis backs off exponentially up to 5 s between reconnects; capped here so that the test does not
  // wait seconds for a Redis that is already back. The store itself is unaffected by this choice.
  retryStrategy: (times) => Math.min(times * 50, 250),
})
// Outages are part of the tests; without a listener ioredis prints every reconnect failure.
redis.on('error', () => {})

const events: Record<string, number> = {}
/** What each `store-error` event said, to tell a real outage from anything else when a test fails. */
const storeErrors: string[] = []
/** When this process last got a new token, fetched or taken from Redis (epoch ms, sub-millisecond: processes are compared). */
let tokenAt = 0
/** Whether that token was fetched by this process (else taken from Redis). */
let fetchedIt = false
const clock = () => performance.timeOrigin + performance.now()
const manager = createTokenManager({
  appid: 'demo-app',
  secret: 'demo-secret',
  baseUrl: config.baseUrl,
  // The tests revoke every token moments after it was fetched, on purpose: without this the manager
  // would keep a token younger than a second (the refusal limit) and replay with it.
  refusalBackoff: { baseDelay: 0 },
  store: redisStore(redis, { ...(config.lockTtl === undefined ? {} : { lockTtl: config.lockTtl }), commandTimeout: config.commandTimeout }),
  onEvent: (event) => {
    events[event.type] = (events[event.type] ?? 0) + 1
    if (event.type === 'store-error') storeErrors.push(`${event.operation}: ${describe(event.error)}`)
    if (event.type === 'token-refreshed' || event.type === 'token-from-store') {
      tokenAt = clock()
      fetchedIt = event.type === 'token-refreshed'
    }
  },
})
const anyweb = withServiceToken(fetch, manager)

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause instanceof Error ? ` (cause: ${'code' in error.cause ? String(error.cause.code) : ''} ${error.cause.message})` : ''
  return `${error.name}: ${error.message}${cause}`
}

function answer(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`)
}

async function one(index: number): Promise<string | undefined> {
  try {
    const response = await anyweb(`${config.baseUrl}/service/checkAddresses`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ group: { [`user-${process.pid}-${index}`]: ['cfx:aa'] } }),
    })
    const body = (await response.json()) as { code?: unknown; message?: unknown }
    return body.code === 1000 ? undefined : `HTTP ${response.status} ${String(body.code)} ${String(body.message)}`
  } catch (error) {
    return describe(error)
  }
}

async function burst(n: number): Promise<Record<string, unknown>> {
  const started = clock()
  const results = await Promise.all(Array.from({ length: n }, (_, index) => one(index)))
  const errors = results.filter((result): result is string => result !== undefined)
  return {
    ok: n - errors.length,
    failed: errors.length,
    errors: [...new Set(errors)].slice(0, 5),
    events: { ...events },
    storeErrors,
    // How long this burst waited for its new token, if it got one.
    tokenMs: tokenAt >= started ? tokenAt - started : null,
    tokenAt,
    fetchedIt,
  }
}

async function handle(line: string): Promise<void> {
  let command: { id?: unknown; cmd?: unknown; n?: unknown }
  try {
    command = JSON.parse(line) as typeof command
  } catch {
    answer({ error: `not JSON: ${line}` })
    return
  }
  const { id, cmd } = command
  switch (cmd) {
    case 'burst':
      answer({ id, ...(await burst(typeof command.n === 'number' ? command.n : 1)) })
      return
    case 'refresh':
      try {
        await manager.refresh()
        answer({ id, tokenAt, fetchedIt })
      } catch (error) {
        answer({ id, error: describe(error) })
      }
      return
    case 'ping':
      try {
        answer({ id, pong: await redis.ping() })
      } catch (error) {
        answer({ id, error: error instanceof Error ? error.message : String(error) })
      }
      return
    case 'events':
      answer({ id, events: { ...events } })
      return
    case 'exit':
      manager.close()
      redis.disconnect()
      answer({ id, bye: true })
      process.exit(0)
      return
    default:
      answer({ id, error: `unknown command ${String(cmd)}` })
  }
}

const lines = createInterface({ input: process.stdin })
lines.on('line', (line) => {
  if (line.trim() !== '') void handle(line)
})
// The parent went away (or closed our stdin): never outlive it.
lines.on('close', () => process.exit(0))

if (config.burstAtStart === undefined) redis.once('ready', () => answer({ ready: true, pid: process.pid }))
else void burst(config.burstAtStart).then((result) => answer({ ready: true, pid: process.pid, ...result }))
