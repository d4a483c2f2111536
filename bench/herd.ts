/**
 * Scenario 2 — herd: 10,000 concurrent requests at cold start, and 10,000 in flight when every token is
 * revoked, through axios (Node http adapter, header placement, HTTP 401) against the emulator on a
 * loopback port. This library's adapter side by side with axios-auth-refresh, the baseline, on the same
 * scenario, same agent, same emulator options (`tokenFrom: ['header']`, `errorStatus: 401`).
 */
import { Agent } from 'node:http'
import axios from 'axios'
import type { AxiosInstance } from 'axios'
import { createAuthRefresh } from 'axios-auth-refresh'
import type { Emulator, EmulatorServer } from '../src/emulator/index.js'
import type { TokenManager } from '../src/index.js'
import { built, fixed, log, median, percentile, report, rounds } from './lib.js'

const { attachServiceToken } = await built<typeof import('../adapters/axios.js')>('axios')
const { createEmulator } = await built<typeof import('../src/emulator/index.js')>('emulator')
const { createTokenManager } = await built<typeof import('../src/index.js')>('index')

const ROUNDS = rounds(5)
const N = Number(process.env['BENCH_HERD'] ?? 10_000)
const APPID = 'bench-app'
const SECRET = 'bench-secret'
const PATH = '/service/checkAddresses'
const group = { u1: ['cfx:aa', 'cfx:bb'] }

type Lib = 'ours' | 'axios-auth-refresh'
type Scenario = 'cold start' | 'revoked in flight'

interface Run {
  tokenRequests: number
  failed: number
  p50: number
  p99: number
}

interface Setup {
  emu: Emulator
  server: EmulatorServer
  instance: AxiosInstance
  manager?: TokenManager
  agent: Agent
}

async function setup(lib: Lib): Promise<Setup> {
  const emu = createEmulator({ apps: { [APPID]: SECRET }, tokenFrom: ['header'], errorStatus: 401, users: { u1: ['cfx:aa'] } })
  const server = await emu.listen()
  // Same agent settings on both sides: keep-alive, bounded sockets (10,000 sockets would exhaust file descriptors).
  const agent = new Agent({ keepAlive: true, maxSockets: 256 })
  const instance = axios.create({ baseURL: server.url, httpAgent: agent })
  if (lib === 'ours') {
    const manager = createTokenManager({ appid: APPID, secret: SECRET, baseUrl: server.url })
    attachServiceToken(instance, manager, { placement: { in: 'header', name: 'authorization', scheme: 'Bearer' } })
    return { emu, server, instance, manager, agent }
  }
  // The usual axios-auth-refresh set-up: a token variable, a request interceptor that sets it, and the
  // refresh logic that fetches a new one on 401 (the failed request is then retried by the library).
  let token: string | undefined
  instance.interceptors.request.use((config) => {
    if (token !== undefined) config.headers.set('authorization', `Bearer ${token}`)
    return config
  })
  // `as never`: axios-auth-refresh's .d.ts is read in CommonJS mode and names the CJS axios types, which
  // TypeScript sees as different from the ESM ones imported here (same runtime object).
  createAuthRefresh(instance as never, async () => {
    const response = await axios.post<{ data: { serviceToken: string } }>(`${server.url}/service/serviceToken`, { appid: APPID, secret: SECRET }, { httpAgent: agent })
    token = response.data.data.serviceToken
  })
  return { emu, server, instance, agent }
}

async function run(lib: Lib, scenario: Scenario): Promise<Run> {
  const world = await setup(lib)
  try {
    if (scenario === 'revoked in flight') {
      await world.instance.post(PATH, { group }) // a valid token is in use
    }
    world.emu.resetStats()
    const latencies = new Float64Array(N)
    let failed = 0
    const requests = Array.from({ length: N }, async (_, index) => {
      const started = performance.now()
      try {
        const response = await world.instance.post<{ code: unknown }>(PATH, { group })
        if (response.data.code !== 1000) failed++
      } catch {
        failed++
      } finally {
        latencies[index] = performance.now() - started
      }
    })
    // Every request is dispatched; the token they carry is revoked before any of them is answered.
    if (scenario === 'revoked in flight') world.emu.revokeAll()
    await Promise.all(requests)
    return { tokenRequests: world.emu.stats().requests.serviceToken, failed, p50: percentile(latencies, 50), p99: percentile(latencies, 99) }
  } finally {
    world.manager?.close()
    world.agent.destroy()
    await world.server.close()
  }
}

async function main(): Promise<void> {
  const rows: string[] = []
  const targets: Array<[string, string, string, boolean]> = []
  // No separate warm-up (time budget): round 1 includes JIT warm-up, which the medians absorb.
  for (const scenario of ['cold start', 'revoked in flight'] as const) {
    const runs: Record<Lib, Run[]> = { ours: [], 'axios-auth-refresh': [] }
    for (let round = 0; round < ROUNDS; round++) {
      const order: Lib[] = round % 2 === 0 ? ['ours', 'axios-auth-refresh'] : ['axios-auth-refresh', 'ours']
      for (const lib of order) runs[lib].push(await run(lib, scenario))
    }
    const summary = (lib: Lib) => ({
      tokens: median(runs[lib].map((r) => r.tokenRequests)),
      tokensMax: Math.max(...runs[lib].map((r) => r.tokenRequests)),
      failed: median(runs[lib].map((r) => r.failed)),
      failedMax: Math.max(...runs[lib].map((r) => r.failed)),
      p50: median(runs[lib].map((r) => r.p50)),
      p99: median(runs[lib].map((r) => r.p99)),
    })
    const ours = summary('ours')
    const base = summary('axios-auth-refresh')
    const p50Ratio = median(runs.ours.map((r, i) => r.p50 / runs['axios-auth-refresh'][i]!.p50))
    const p99Ratio = median(runs.ours.map((r, i) => r.p99 / runs['axios-auth-refresh'][i]!.p99))
    for (const [lib, s] of [['this library (axios adapter)', ours], ['axios-auth-refresh (baseline)', base]] as const) {
      rows.push(
        `| ${scenario} | ${lib} | ${s.tokens} (max ${s.tokensMax}) | ${s.failed} (max ${s.failedMax}) | ${fixed(s.p50, 0)} | ${fixed(s.p99, 0)} |`,
      )
    }
    rows.push(`| ${scenario} | **ratio ours ÷ baseline** | | | **${fixed(p50Ratio)}** | **${fixed(p99Ratio)}** |`)
    log(`${scenario}: ours ${JSON.stringify(ours)} | aar ${JSON.stringify(base)} | p50 ratio ${fixed(p50Ratio)} p99 ratio ${fixed(p99Ratio)}`)
    const met = ours.tokensMax === 1 && ours.failedMax === 0
    targets.push([`herd, ${scenario}: token requests / failures (every round)`, '1 / 0', `${ours.tokensMax} / ${ours.failedMax}`, met])
  }
  const markdown = [
    `${N.toLocaleString('en')} concurrent \`POST ${PATH}\` through one axios instance (Node http adapter, keep-alive agent with`,
    'at most 256 sockets on both sides), header placement (`authorization: Bearer …`), against the emulator on 127.0.0.1 with',
    "`tokenFrom: ['header']` and `errorStatus: 401`. **Cold start**: no token yet. **Revoked in flight**: after one request with a",
    'valid token, all requests are dispatched and `emu.revokeAll()` is called before any is answered. Medians of',
    `${ROUNDS} rounds (a fresh emulator and client each), the two libraries alternating; "max" is the worst round. Latency in ms from`,
    'dispatch to settle, per request. A failure is a rejected request or an answer whose `code` is not 1000.',
    '',
    '| scenario | library | token requests | failed requests | p50 ms | p99 ms |',
    '|---|---|---:|---:|---:|---:|',
    ...rows,
    '',
    'Read the latencies with the failure counts: axios-auth-refresh rejects the 401s that arrive while its refresh is under way (the instance is skipped during a refresh), so almost all its requests end early as failures; this library completes every request, which in the revocation case means 10,000 answers of 401 plus 10,000 replays, hence the higher latency.',
  ].join('\n')
  report({ title: '2. Herd: cold start and revocation under load, vs axios-auth-refresh', markdown, targets })
}

await main()
process.exit(0)
