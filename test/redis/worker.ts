/**
 * One worker process of the multi-process Redis tests (test/redis/cluster.test.ts, processes.test.ts):
 * its own token manager, its own Redis client (ioredis or node-redis, for one server, a cluster or
 * Sentinel, created as docs/redis.md says: test/redis/clients.ts), the real fetch adapter. Driven by
 * JSON lines on stdin, one JSON line answered on stdout per command:
 *
 * - `{"id":1,"cmd":"burst","n":200}` → `{"id":1,"ok":200,"failed":0,"errors":[…],"events":{…},"storeErrors":[…],"tokenMs":…,"tokenAt":…,"fetchedIt":…}`:
 *   n concurrent POST /service/checkAddresses through `withServiceToken(fetch, manager)`; `events` counts the
 *   manager's events by type since the start, `tokenMs` is how long the burst waited for a new token,
 *   `tokenAt` when this process got its latest token and `fetchedIt` whether it fetched that one.
 * - `{"id":5,"cmd":"refresh"}` → `{"id":5,"tokenAt":…,"fetchedIt":…}`: `manager.refresh()`, forced; processes
 *   refreshing at once share one token request.
 * - `{"id":6,"cmd":"load","ms":3000,"lanes":4}` → like `burst`, for steady load: `lanes` calls in flight, one
 *   after the other, for `ms` or until `{"id":7,"cmd":"stop"}` (answered `{"id":7}` at once); `maxMs` is the longest call.
 * - `{"id":2,"cmd":"ping","key":"k"}` → `{"id":2,"pong":"PONG"}` or `{"id":2,"error":"…"}`: a GET of `key` (on a
 *   cluster, the shard that has it) through this process's Redis client.
 * - `{"id":3,"cmd":"events"}` → `{"id":3,"events":{"token-request":1,…}}`: manager events so far, by type.
 * - `{"id":4,"cmd":"exit"}`: closes everything and exits 0.
 *
 * Configuration comes as one JSON argument: { library, topology, port, baseUrl, lockTtl, commandTimeout }.
 * On start it prints `{"ready":true,"pid":…}` once its Redis client is connected; with `burstAtStart: n`
 * it sends n requests at once instead (a node-redis Sentinel client once connected, as documented) and
 * prints `ready` with the burst's result when they are done. It exits when its stdin
 * closes, so it never outlives the test. The test bundles it with esbuild and runs it on the system Node;
 * by hand: `npx tsx test/redis/worker.ts '{"port":6379,"baseUrl":"http://127.0.0.1:8787","lockTtl":15000,"commandTimeout":300}'`.
 */
import { createInterface } from 'node:readline'
import { withServiceToken } from '../../adapters/fetch.js'
import { createTokenManager } from '../../src/index.js'
import { redisStore } from '../../src/redis-store.js'
import { makeClient } from './clients.js'
import type { ClientLibrary, Topology } from './clients.js'

interface WorkerConfig {
  /** Default: ioredis. */
  library?: ClientLibrary
  /** Default: single. */
  topology?: Topology
  /** The server's, one cluster node's or the Sentinel's. */
  port: number
  baseUrl: string
  lockTtl?: number
  commandTimeout: number
  /** Requests sent the moment the process starts, before its Redis client is connected (a fleet starting). */
  burstAtStart?: number
}

const config = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig

const redis = makeClient(config.library ?? 'ioredis', config.topology ?? 'single', config.port)

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
  store: redisStore(redis.client, { ...(config.lockTtl === undefined ? {} : { lockTtl: config.lockTtl }), commandTimeout: config.commandTimeout }),
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

/** The longest call so far in the current burst or load. */
let maxMs = 0

async function one(index: number): Promise<string | undefined> {
  const started = clock()
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
  } finally {
    maxMs = Math.max(maxMs, clock() - started)
  }
}

/** Until when the current load goes on (`stop` ends it now). */
let loadUntil = 0

/** `n` calls at once; with `ms`, `n` lanes of calls one after the other until `ms` have passed or `stop`. */
async function burst(n: number, ms = 0): Promise<Record<string, unknown>> {
  const started = clock()
  maxMs = 0
  loadUntil = started + ms
  const lane = async (index: number): Promise<Array<string | undefined>> => {
    const results = [await one(index)]
    while (clock() < loadUntil) {
      // A short pause between calls: steady load that leaves the 2 cores some room.
      await new Promise((resolve) => setTimeout(resolve, 5))
      results.push(await one(index))
    }
    return results
  }
  const results = (await Promise.all(Array.from({ length: n }, (_, index) => lane(index)))).flat()
  const errors = results.filter((result): result is string => result !== undefined)
  return {
    ok: results.length - errors.length,
    failed: errors.length,
    errors: [...new Set(errors)].slice(0, 5),
    maxMs,
    events: { ...events },
    storeErrors,
    // How long this burst waited for its new token, if it got one.
    tokenMs: tokenAt >= started ? tokenAt - started : null,
    tokenAt,
    fetchedIt,
  }
}

async function handle(line: string): Promise<void> {
  let command: { id?: unknown; cmd?: unknown; n?: unknown; ms?: unknown; lanes?: unknown; key?: unknown }
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
    case 'load':
      answer({ id, ...(await burst(typeof command.lanes === 'number' ? command.lanes : 1, typeof command.ms === 'number' ? command.ms : 0)) })
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
        await redis.ping(typeof command.key === 'string' ? command.key : 'ping')
        answer({ id, pong: 'PONG' })
      } catch (error) {
        answer({ id, error: error instanceof Error ? error.message : String(error) })
      }
      return
    case 'stop':
      loadUntil = 0
      answer({ id })
      return
    case 'events':
      answer({ id, events: { ...events } })
      return
    case 'exit':
      manager.close()
      redis.close()
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

// A node-redis Sentinel client must be connected before it is used (docs/redis.md); the others may not be yet.
const started = config.library === 'node-redis' && config.topology === 'sentinel' ? redis.ready : Promise.resolve()
if (config.burstAtStart === undefined) void redis.ready.then(() => answer({ ready: true, pid: process.pid }))
else void started.then(() => burst(config.burstAtStart!)).then((result) => answer({ ready: true, pid: process.pid, ...result }))
