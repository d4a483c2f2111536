import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { connect, createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { withServiceToken } from '../../adapters/fetch.js'
import { createEmulator } from '../emulator/index.js'
import { createTokenManager } from '../index.js'
import type { TokenStore } from '../index.js'
import { wechat } from '../presets/index.js'
import { redisStore } from '../redis-store.js'
import { integer, parse } from './args.js'

const help = `Usage: anyweb-service-token demo wechat [options]

WeChat's famous failure and its cure. An emulator plays WeChat: every token request issues a new
access_token, and the previous one stops working after a short overlap. Several processes each keep
their own token (per-process caching): they invalidate each other and get errcode 40001. Then the
same processes share one token through Redis (redisStore): one token request per lifetime, no 40001.
The Redis half needs redis-server and ioredis; without them it is skipped with a message.

Options:
  --processes <n>        processes (default: 3)
  --ttl <seconds>        token lifetime (default: 4)
  --overlap <ms>         how long a superseded token still works (default: 1000; WeChat's is 5 min)
  --duration <seconds>   how long each half runs (default: 6)
  -h, --help             show this help
`

const APPID = 'wx-demo-app'
const SECRET = 'wx-demo-secret'

/** What a process reports when it is done. */
interface WorkerReport {
  ok: number
  failed: number
}

/** One process of the demo: calls the API for `duration` ms with its own manager, then reports. */
async function worker(url: string, durationMs: number, redisPort: number | undefined): Promise<number> {
  let store: TokenStore | undefined
  let quit = async (): Promise<void> => {}
  if (redisPort !== undefined) {
    const { default: Redis } = (await import(IOREDIS)) as { default: new (port: number, host: string, options: object) => { quit(): Promise<unknown> } }
    const client = new Redis(redisPort, '127.0.0.1', { enableOfflineQueue: false })
    store = redisStore(client as never)
    quit = async () => void (await client.quit())
  }
  const manager = createTokenManager({ ...wechat({ appid: APPID, secret: SECRET, baseUrl: url }), ...(store === undefined ? {} : { store }) })
  const api = withServiceToken(globalThis.fetch, manager)
  const report: WorkerReport = { ok: 0, failed: 0 }
  const deadline = Date.now() + durationMs
  const loop = async () => {
    while (Date.now() < deadline) {
      const body = (await (await api(`${url}/cgi-bin/get_api_domain_ip`)).json().catch(() => undefined)) as { ip_list?: unknown } | undefined
      if (body?.ip_list === undefined) report.failed++
      else report.ok++
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
  await Promise.all([loop(), loop()])
  manager.close()
  await quit()
  process.stdout.write(`${JSON.stringify(report)}\n`)
  return 0
}

/** Not a literal: the CLI bundle must not include ioredis, an optional dev-time client. */
const IOREDIS = ['io', 'redis'].join('')

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Whether something accepts connections on `port`, polled every 20 ms for at most `ms`. */
async function listening(port: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => (socket.end(), resolve(true)))
      socket.once('error', () => resolve(false))
    })
    if (up) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return false
}

/** A private redis-server on a free port, or why there is none. Stopped by its pid. */
async function startRedis(): Promise<{ port: number; stop(): void } | string> {
  try {
    await import(IOREDIS)
  } catch {
    return 'ioredis is not installed (npm install ioredis to run it)'
  }
  const port = await freePort()
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const failed = new Promise<string>((resolve) => child.once('error', () => resolve('redis-server is not installed')))
  const up = await Promise.race([listening(port, 5_000), failed])
  const stop = () => void (child.pid !== undefined && child.exitCode === null && process.kill(child.pid))
  if (up !== true) {
    stop()
    return typeof up === 'string' ? up : 'redis-server did not start within 5 s'
  }
  return { port, stop }
}

/** Runs `processes` worker processes against `url` and collects their reports. */
async function runProcesses(count: number, url: string, durationMs: number, redisPort: number | undefined): Promise<WorkerReport[]> {
  const script = process.argv[1]!
  const children: ChildProcess[] = []
  const reports = Array.from({ length: count }, () => {
    const args = [script, 'demo', 'wechat', '--worker', url, '--duration-ms', String(durationMs), ...(redisPort === undefined ? [] : ['--redis', String(redisPort)])]
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
    children.push(child)
    return new Promise<WorkerReport>((resolve) => {
      let report: WorkerReport = { ok: 0, failed: 1 }
      createInterface({ input: child.stdout! }).on('line', (line) => {
        try {
          report = JSON.parse(line) as WorkerReport
        } catch {
          // not the report line
        }
      })
      child.once('close', () => resolve(report))
    })
  })
  const timer = setTimeout(() => children.forEach((child) => child.exitCode === null && child.pid !== undefined && process.kill(child.pid)), durationMs + 15_000)
  try {
    return await Promise.all(reports)
  } finally {
    clearTimeout(timer)
  }
}

/** `anyweb-service-token demo wechat`: 0 when the Redis half (or, without Redis, the first) shows what it should. */
async function demoWechat(args: string[]): Promise<number> {
  const values = parse(args, {
    processes: { type: 'string' },
    ttl: { type: 'string' },
    overlap: { type: 'string' },
    duration: { type: 'string' },
    worker: { type: 'string' },
    'duration-ms': { type: 'string' },
    redis: { type: 'string' },
  })
  if (values.help) {
    process.stdout.write(help)
    return 0
  }
  if (values.worker !== undefined) {
    const port = values.redis === undefined ? undefined : integer('redis', values.redis, 0, 1, 65_535)
    return worker(values.worker, integer('duration-ms', values['duration-ms'], 6_000, 1, 3_600_000), port)
  }
  const processes = integer('processes', values.processes, 3, 2, 32)
  const ttl = integer('ttl', values.ttl, 4, 2, 3600)
  const overlap = integer('overlap', values.overlap, 1000, 0, 3_600_000)
  const durationMs = integer('duration', values.duration, 6, 1, 600) * 1000

  const emu = createEmulator({ profile: 'wechat', apps: { [APPID]: SECRET }, tokenTtl: ttl, reissue: { policy: 'invalidate-previous', graceMs: overlap } })
  const server = await emu.listen()
  process.stdout.write(
    `WeChat emulator on ${server.url}: tokens live ${ttl}s, a new token ends the previous one ${overlap} ms later.\n` +
      `${processes} processes call GET /cgi-bin/get_api_domain_ip?access_token=… for ${durationMs / 1000}s each half.\n\n`,
  )
  const half = async (label: string, redisPort: number | undefined) => {
    emu.resetStats()
    const reports = await runProcesses(processes, server.url, durationMs, redisPort)
    const { requests, authFailures } = emu.stats()
    const ok = reports.reduce((sum, report) => sum + report.ok, 0)
    const failed = reports.reduce((sum, report) => sum + report.failed, 0)
    process.stdout.write(
      `${label.padEnd(34)} token requests ${String(requests.serviceToken).padStart(4)}   errcode 40001 ${String(authFailures).padStart(4)}   calls ok ${ok}, failed ${failed}\n`,
    )
    return { tokenRequests: requests.serviceToken, refusals: authFailures, failed, ok }
  }
  let pass: boolean
  try {
    const alone = await half('each process its own token:', undefined)
    const redis = await startRedis()
    if (typeof redis === 'string') {
      process.stdout.write(`one token shared through Redis:    skipped: ${redis}\n`)
      pass = alone.ok > 0
    } else {
      try {
        const shared = await half('one token shared through Redis:', redis.port)
        // A refresh ahead per lifetime (at half of it at the earliest), plus the cold start.
        const most = 1 + Math.ceil(durationMs / 1000 / (ttl / 2))
        const checks: [string, boolean][] = [
          [`per-process caching: processes invalidated each other (${alone.refusals} × 40001)`, alone.refusals > 0],
          [`Redis: no 40001 (${shared.refusals}) and no failed call (${shared.failed})`, shared.refusals === 0 && shared.failed === 0],
          [`Redis: one token request per lifetime for all processes (${shared.tokenRequests} ≤ ${most})`, shared.tokenRequests <= most],
        ]
        process.stdout.write('\n')
        for (const [label, ok] of checks) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'}  ${label}\n`)
        pass = checks.every(([, ok]) => ok)
      } finally {
        redis.stop()
      }
    }
  } finally {
    await server.close()
  }
  process.stdout.write(`\n${pass ? 'PASS' : 'FAIL'}\n`)
  return pass ? 0 : 1
}

export { demoWechat }
