import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Whether a redis-server binary is on this machine (.ci/run installs it; CI must never skip). */
function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' })
    return true
  } catch {
    if (process.env.CI) throw new Error('redis-server is missing: .ci/run must install it (apt-get install -y redis-server).')
    return false
  }
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))))
    })
  })
}

/** Polls `check` every 20 ms until it is true or `ms` pass: a bounded wait on a real process, not a sleep. */
async function waitFor(check: () => boolean | Promise<boolean>, ms = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}`)
}

/**
 * A real redis-server on a free 127.0.0.1 port, without persistence, stopped by its pid. `stop()` and
 * `start()` can be repeated to simulate an outage on the same port.
 */
async function startRedis() {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'anyweb-redis-'))
  const pidFile = join(dir, 'redis.pid')
  const readPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined)
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }
  const start = async () => {
    execFileSync('redis-server', [
      '--bind', '127.0.0.1', '--port', String(port), '--save', '', '--appendonly', 'no',
      '--daemonize', 'yes', '--pidfile', pidFile, '--dir', dir, '--logfile', join(dir, 'redis.log'),
    ])
    await waitFor(() => {
      const pid = readPid()
      return pid !== undefined && alive(pid)
    }, 10_000, 'redis-server to start')
  }
  const stop = async () => {
    const pid = readPid()
    if (pid === undefined) return
    if (alive(pid)) process.kill(pid, 'SIGKILL')
    await waitFor(() => !alive(pid), 10_000, 'redis-server to stop')
    rmSync(pidFile, { force: true })
  }
  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    async dispose() {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

export { freePort, hasRedisServer, startRedis, waitFor }
