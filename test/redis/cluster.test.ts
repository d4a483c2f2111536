/**
 * The Redis store across separate OS processes: each worker (test/redis/worker.ts) has its own token
 * manager, its own ioredis connection and the real fetch adapter, and calls one emulator listening on
 * 127.0.0.1 in this process (test/redis/fleet.ts drives them). The other clients and topologies
 * across processes: processes.test.ts.
 */
import { Redis } from 'ioredis'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createEmulator } from '../../src/emulator/index.js'
import type { Emulator, EmulatorServer } from '../../src/emulator/index.js'
import { redisStore } from '../../src/redis-store.js'
import { hasRedisServer, startRedis, waitFor } from '../helpers/redis.js'
import { ANSWER_MS, burst, errorsOf, eventCounts, fleet, LONGEST_MS, storeErrorsOf, total } from './fleet.js'
import type { Worker } from './fleet.js'

const enabled = hasRedisServer()
if (!enabled) console.warn('redis-server not installed: skipping the multi-process Redis store tests (CI installs it).')

interface WorkerOptions {
  burstAtStart?: number
  lockTtl?: number
  commandTimeout?: number
}

describe.skipIf(!enabled)('redisStore across separate processes (real redis-server, emulator, fetch adapter)', () => {
  let redis: Awaited<ReturnType<typeof startRedis>>
  let workers: Awaited<ReturnType<typeof fleet>>
  let redisUp = true
  let probe: Redis
  let emu: Emulator
  let server: EmulatorServer

  const startWorkers = (count: number, options: WorkerOptions = {}): Promise<Worker[]> =>
    workers.startMany(count, { port: redis.port, baseUrl: server.url, ...options })

  beforeAll(async () => {
    workers = await fleet()
    redis = await startRedis()
    probe = new Redis(redis.port, '127.0.0.1', { maxRetriesPerRequest: 1 })
    probe.on('error', () => {})
  })
  beforeEach(async () => {
    if (!redisUp) {
      await redis.start()
      redisUp = true
    }
    await waitFor(async () => (await probe.ping().catch(() => '')) === 'PONG', 10_000, 'Redis to answer')
    await probe.flushall()
    emu = createEmulator()
    server = await emu.listen()
  })
  afterEach(async () => {
    await workers?.killAll()
    await server?.close()
  })
  afterAll(async () => {
    await workers?.dispose()
    probe?.disconnect()
    await redis?.dispose()
  })

  it('8 processes × 50 concurrent requests: one token request cold, one more after every token is revoked', async () => {
    const group = await startWorkers(8)

    const cold = await burst(group, 50)
    expect(errorsOf(cold)).toEqual([])
    expect(total(cold, 'ok')).toBe(400)
    // Redis answered every process throughout: no one went on alone.
    expect(storeErrorsOf(cold)).toEqual(Array(8).fill([]))
    expect(emu.stats().tokensIssued).toBe(1)
    // One process asked; the seven others took its token from Redis.
    expect(eventCounts(cold, 'token-request').reduce((a, b) => a + b)).toBe(1)

    emu.revokeAll()
    const before = emu.stats()
    const revoked = await burst(group, 50)
    const after = emu.stats()
    expect(errorsOf(revoked)).toEqual([])
    expect(total(revoked, 'ok')).toBe(400)
    expect(storeErrorsOf(revoked)).toEqual(Array(8).fill([]))
    expect(after.tokensIssued - before.tokensIssued).toBe(1)
    // Every request really was refused once (A108P001) and replayed once with the shared new token.
    expect(after.authFailures - before.authFailures).toBe(400)
    expect(after.requests.checkAddresses - before.requests.checkAddresses).toBe(800)
  }, 40_000)

  it('8 processes started together with the README set-up, asking before Redis is connected: one token request', async () => {
    const group = await startWorkers(8, { burstAtStart: 20 })
    const answers = group.map((worker) => worker.atStart)
    expect(errorsOf(answers)).toEqual([])
    expect(total(answers, 'ok')).toBe(160)
    // No process gave up on Redis while its client was connecting ("Stream isn't writeable").
    expect(storeErrorsOf(answers)).toEqual(Array(8).fill([]))
    expect(emu.stats().tokensIssued).toBe(1)
  }, 30_000)

  it('8 processes: waiters are woken by pub/sub (p50 ≤ 10 ms), Redis commands per refresh O(processes)', async () => {
    const group = await startWorkers(8)
    await burst(group, 5)
    const latencies: number[] = []
    const commands: number[] = []
    const calls = async () =>
      [...(await probe.info('commandstats')).matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0)
    // A token request of 150 ms, as over a real network: waiters that poll would ask Redis all along.
    emu.inject('serviceToken', { type: 'latency', ms: 150 }, { times: 20 })
    for (let round = 0; round < 20; round++) {
      const before = await calls()
      // Every process forces a refresh at once: one fetches, seven wait for its token.
      const answers = await Promise.all(group.map((worker) => worker.send({ cmd: 'refresh' })))
      // The probe's own INFO is one of the calls counted.
      commands.push((await calls()) - before - 1)
      expect(answers.map((answer) => answer.error)).toEqual(Array(8).fill(undefined))
      const holders = answers.filter((answer) => answer.fetchedIt === true)
      expect(holders).toHaveLength(1)
      for (const answer of answers) if (answer !== holders[0]) latencies.push(answer.tokenAt! - holders[0]!.tokenAt!)
    }
    latencies.sort((a, b) => a - b)
    const p50 = latencies[Math.floor(latencies.length * 0.5)]!
    const p99 = latencies[Math.floor(latencies.length * 0.99)]!
    commands.sort((a, b) => a - b)
    const perRefresh = commands[Math.floor(commands.length / 2)]!
    console.info(
      `wake-up: waiter latency p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms over ${latencies.length}; ` +
        `Redis commands per refresh (8 processes): median ${perRefresh}, max ${commands.at(-1)}`,
    )
    // Polling every 25 ms gave p50 22 ms here. The p99 depends on how busy the machine is (2 cores
    // for 8 processes and the test); the figure is printed above and kept in BENCHMARKS.md.
    expect(p50).toBeLessThanOrEqual(10)
    // A handful per process (get, lock, read, lock TTL) plus the holder's write, publish and release;
    // polling asked Redis twice per process every 25 ms of the token request (about 100 here).
    expect(perRefresh).toBeLessThanOrEqual(6 * 8)
  }, 40_000)

  it('the lock holder is SIGKILLed mid-refresh with the default lease: the others have a token after the lease, not lockTtl 15 s', async () => {
    // Two survivors, 50 requests each: their new connections fit in the emulator's listen backlog (511)
    // and little CPU goes to HTTP, so the time measured is the takeover.
    const [holder, ...others] = await startWorkers(3)
    const lockKey = `anyweb-service-token:anyweb:${server.url}:demo-app:lock`
    // The first token request hangs for far longer than the lease; the process asking is killed.
    emu.inject('serviceToken', { type: 'latency', ms: 5_000 }, { times: 1 })
    holder!.send({ cmd: 'burst', n: 50 }).catch(() => {}) // never answers: the process dies
    await waitFor(
      async () => emu.stats().requests.serviceToken === 1 && (await probe.exists(lockKey)) === 1,
      ANSWER_MS,
      'the first process to take the lock and ask for a token',
    )
    const lockId = await probe.get(lockKey)
    holder!.child.kill('SIGKILL')
    await holder!.exited
    // The dead process's lock is still there: the others must wait for its lease to end.
    expect(await probe.get(lockKey)).toBe(lockId)
    const remaining = await probe.pttl(lockKey)
    expect(remaining).toBeGreaterThan(0)

    const started = Date.now()
    const answers = await burst(others, 50)
    const elapsed = Date.now() - started
    expect(errorsOf(answers)).toEqual([])
    expect(total(answers, 'ok')).toBe(100)
    const tokenMs = Math.max(...answers.map((answer) => answer.tokenMs ?? Number.POSITIVE_INFINITY))
    expect(tokenMs).toBeGreaterThanOrEqual(remaining - 50)
    // No caller waits for the old 15 s lockTtl; 3 s is the target, LONGEST_MS says why the test allows more.
    expect(elapsed).toBeLessThan(LONGEST_MS)
    // The killed request never got its answer; one survivor fetched for both, through Redis.
    expect(emu.stats().tokensIssued).toBe(1)
    expect(eventCounts(answers, 'token-request').reduce((a, b) => a + b)).toBe(1)
    expect(storeErrorsOf(answers)).toEqual([[], []])
    console.info(`holder SIGKILL: lock had ${remaining} ms left; token after ${tokenMs} ms, longest caller ${elapsed} ms`)
  }, 25_000)

  it('Redis stopped mid-run: no request fails, one store-error per process; sharing resumes when it is back', async () => {
    const group = await startWorkers(8, { commandTimeout: 300 })
    const warm = await burst(group, 20)
    expect(total(warm, 'ok')).toBe(160)
    expect(emu.stats().tokensIssued).toBe(1)

    await redis.stop()
    redisUp = false
    emu.revokeAll()
    const beforeOutage = emu.stats().tokensIssued
    const outage = await burst(group, 50)
    const duringOutage = emu.stats().tokensIssued - beforeOutage
    expect(errorsOf(outage)).toEqual([])
    expect(total(outage, 'ok')).toBe(400)
    // Each process falls back to its own single flight: at most one token request each.
    expect(duringOutage).toBeGreaterThanOrEqual(1)
    expect(duringOutage).toBeLessThanOrEqual(8)
    expect(eventCounts(outage, 'store-error')).toEqual(Array(8).fill(1))

    await redis.start()
    redisUp = true
    await waitFor(
      async () => (await Promise.all(group.map((worker) => worker.send({ cmd: 'ping' })))).every((answer) => answer.pong === 'PONG'),
      ANSWER_MS,
      "every worker's Redis client to reconnect",
    )
    emu.revokeAll()
    const beforeBack = emu.stats().tokensIssued
    const back = await burst(group, 50)
    expect(errorsOf(back)).toEqual([])
    expect(total(back, 'ok')).toBe(400)
    // Every process used Redis again (one store-recovered each) and no new store-error came up.
    expect(eventCounts(back, 'store-recovered')).toEqual(Array(8).fill(1))
    expect(storeErrorsOf(back)).toEqual(storeErrorsOf(outage))
    expect(emu.stats().tokensIssued - beforeBack).toBe(1)
    console.info(`Redis outage: ${duringOutage} token requests for 8 processes; after recovery: 1`)
  }, 50_000)

  // Found by the bursts above on a loaded machine: a worker busy for longer than commandTimeout took
  // Redis for failing although its answer had arrived in time (timers run before pending I/O), reported a
  // store-error and fetched a second token alone.
  it('a process busy past commandTimeout still takes an answer that arrived in time', async () => {
    const client = new Redis(redis.port, '127.0.0.1', { enableOfflineQueue: false })
    client.on('error', () => {})
    try {
      await waitFor(() => client.status === 'ready', 10_000, 'the client to connect')
      const stored = { token: 'shared', expiresAt: Date.now() + 60_000, issuedAt: Date.now() }
      await probe.set('anyweb-service-token:busy', JSON.stringify(stored))
      const store = redisStore(client, { commandTimeout: 50 })
      const answer = store.get('busy')
      // This process is busy (a long synchronous task, a GC pause, CPU starvation) while Redis answers.
      const until = Date.now() + 300
      while (Date.now() < until) {
        // busy
      }
      await expect(answer).resolves.toEqual(stored)
    } finally {
      client.disconnect()
    }
  })
})
