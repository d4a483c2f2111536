import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/**
 * Whether redis-server and redis-cli (which creates the local cluster) are on this machine; both come
 * with the apt package redis-server, which .ci/run installs. Under CI a missing one is an error, never a skip.
 */
function hasRedisServer(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'pipe' })
    execFileSync('redis-cli', ['--version'], { stdio: 'pipe' })
    return true
  } catch {
    if (process.env.CI) throw new Error('redis-server or redis-cli is missing: .ci/run must install them (apt-get install -y redis-server).')
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

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/**
 * One daemonised redis-server (a Sentinel with `sentinel: true`) on a free 127.0.0.1 port in
 * `dir`, without persistence, stopped by its pid. `stop()` and `start()` can be repeated to simulate an
 * outage on the same port.
 */
async function daemon(dir: string, extra: string[] = [], options: { sentinel?: boolean; port?: number } = {}) {
  const port = options.port ?? (await freePort())
  const pidFile = join(dir, `redis-${port}.pid`)
  const readPid = () => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) : undefined)
  const common = ['--bind', '127.0.0.1', '--port', String(port), '--daemonize', 'yes', '--pidfile', pidFile, '--dir', dir, '--logfile', join(dir, `redis-${port}.log`)]
  const start = async () => {
    if (options.sentinel) {
      // Sentinel rewrites its configuration file, so each one gets its own.
      const config = join(dir, `sentinel-${port}.conf`)
      writeFileSync(config, extra.join('\n') + '\n')
      // `redis-server --sentinel` is what the redis-sentinel binary runs; only redis-server is always installed.
      execFileSync('redis-server', [config, '--sentinel', ...common])
    } else {
      execFileSync('redis-server', [...common, '--save', '', '--appendonly', 'no', ...extra])
    }
    await waitFor(() => {
      const pid = readPid()
      return pid !== undefined && alive(pid)
    }, 10_000, `redis on port ${port} to start`)
  }
  const stop = async () => {
    const pid = readPid()
    if (pid === undefined) return
    if (alive(pid)) process.kill(pid, 'SIGKILL')
    await waitFor(() => !alive(pid), 10_000, `redis on port ${port} to stop`)
    rmSync(pidFile, { force: true })
  }
  /** Stops the server without closing its connections: commands sent meanwhile stay unanswered. */
  const freeze = () => {
    const pid = readPid()
    if (pid !== undefined) process.kill(pid, 'SIGSTOP')
  }
  await start()
  return { port, start, stop, freeze }
}

/** A real redis-server on a free 127.0.0.1 port, stopped by its pid; `stop()`/`start()` repeatable. */
async function startRedis() {
  const dir = mkdtempSync(join(tmpdir(), 'anyweb-redis-'))
  const server = await daemon(dir)
  return {
    ...server,
    url: `redis://127.0.0.1:${server.port}`,
    async dispose() {
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** One redis-cli command to the server on `port`; its reply as text. */
const cli = (port: number, ...args: string[]) => execFileSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8' })

/** A Redis Cluster of three masters (no replicas) on free loopback ports, each stopped by its pid. */
async function startCluster() {
  const dir = mkdtempSync(join(tmpdir(), 'anyweb-cluster-'))
  const nodes: Awaited<ReturnType<typeof daemon>>[] = []
  const healthy = () => {
    try {
      return nodes.every((node) => cli(node.port, 'cluster', 'info').includes('cluster_state:ok'))
    } catch {
      return false // a node that is down or restarting
    }
  }
  try {
    for (let index = 0; index < 3; index++) {
      const port = await freePort()
      nodes.push(await daemon(dir, ['--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`)], { port }))
    }
    execFileSync('redis-cli', ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-yes'], { stdio: 'pipe' })
    await waitFor(healthy, 15_000, 'the cluster to be ok')
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()))
    throw error
  }
  return {
    ports: nodes.map((node) => node.port),
    nodes,
    /** The master that serves `key`'s slot (to stop, freeze or restart that shard). */
    ownerOf(key: string) {
      const slot = Number(cli(nodes[0]!.port, 'cluster', 'keyslot', key).trim())
      // A `cluster nodes` line: `<id> <host:port@bus> <flags> <master> <ping> <pong> <epoch> <link> <slot ranges…>`.
      for (const line of cli(nodes[0]!.port, 'cluster', 'nodes').trim().split('\n')) {
        const fields = line.split(' ')
        const port = Number(/:(\d+)@/.exec(fields[1] ?? '')?.[1])
        const ranges = fields.slice(8).map((range) => range.split('-').map(Number))
        if (ranges.some(([from, to = from]) => from! <= slot && slot <= to!)) return nodes.find((node) => node.port === port)!
      }
      throw new Error(`no master serves slot ${slot}`)
    },
    /** Whether every node says the cluster is ok (after a node was restarted). */
    healthy,
    async dispose() {
      await Promise.all(nodes.map((node) => node.stop()))
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** A master, its replica and one Sentinel (quorum 1, master name `mymaster`) on free loopback ports. */
async function startSentinel() {
  const dir = mkdtempSync(join(tmpdir(), 'anyweb-sentinel-'))
  const started: Awaited<ReturnType<typeof daemon>>[] = []
  try {
    // A full sync starts at once instead of after the default 5 s wait for more replicas: each failover
    // resyncs the demoted master.
    const sync = ['--repl-diskless-sync-delay', '0']
    const master = await daemon(dir, sync)
    started.push(master)
    const replica = await daemon(dir, [...sync, '--replicaof', '127.0.0.1', String(master.port)])
    started.push(replica)
    await waitFor(() => cli(replica.port, 'info', 'replication').includes('master_link_status:up'), 10_000, 'the replica to sync')
    const sentinel = await daemon(
      dir,
      [
        `sentinel monitor mymaster 127.0.0.1 ${master.port} 1`,
        // Failovers are forced (failover() below); a short down-after made Sentinel fail over on its own
        // when a master busy with a sync on a loaded machine missed its pings, undoing the one forced.
        'sentinel down-after-milliseconds mymaster 10000',
        'sentinel failover-timeout mymaster 3000',
      ],
      { sentinel: true },
    )
    started.push(sentinel)
    await waitFor(() => cli(sentinel.port, 'sentinel', 'replicas', 'mymaster').includes(String(replica.port)), 10_000, 'Sentinel to see the replica')
    return {
      master,
      replica,
      sentinel,
      /** The port of the master Sentinel names now. */
      masterPort: () => Number(cli(sentinel.port, 'sentinel', 'get-master-addr-by-name', 'mymaster').trim().split('\n')[1]),
      /**
       * Makes Sentinel promote the replica now (no need to wait for a crash to be noticed); resolves
       * when the other server is master and the demoted one replicates from it again.
       */
      async failover() {
        const before = this.masterPort()
        const other = before === master.port ? replica.port : master.port
        // Sentinel refuses (NOGOODSLAVE) until it has seen the replica healthy for a moment.
        await waitFor(() => !cli(sentinel.port, 'sentinel', 'failover', 'mymaster').includes('ERR'), 15_000, 'Sentinel to accept a failover')
        await waitFor(() => this.masterPort() === other, 15_000, 'the replica to be promoted')
        // Sentinel demotes the old master only when it next checks it (seconds): done here at once, and,
        // as Sentinel does when it reconfigures a server, its clients are disconnected so that they ask
        // Sentinel for the new master (else they would write to a replica: READONLY).
        cli(before, 'replicaof', '127.0.0.1', String(other))
        cli(before, 'client', 'kill', 'type', 'normal')
        await waitFor(() => cli(before, 'info', 'replication').includes('master_link_status:up'), 15_000, 'the old master to replicate').catch(
          (error: Error) => {
            throw new Error(`${error.message}\n${cli(before, 'info', 'replication')}\n${cli(sentinel.port, 'sentinel', 'replicas', 'mymaster')}`)
          },
        )
      },
      async dispose() {
        await Promise.all(started.map((server) => server.stop()))
        rmSync(dir, { recursive: true, force: true })
      },
    }
  } catch (error) {
    await Promise.all(started.map((server) => server.stop()))
    throw error
  }
}

export { cli, freePort, hasRedisServer, startCluster, startRedis, startSentinel, waitFor }
