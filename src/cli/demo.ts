import { withServiceToken } from '../../adapters/fetch.js'
import { createAnyWebClient } from '../../adapters/openapi-fetch.js'
import { createEmulator } from '../emulator/index.js'
import { createTokenManager } from '../index.js'
import type { TokenManager, TokenManagerEvent } from '../index.js'
import { integer, parse } from './args.js'

const help = `Usage: anyweb-service-token demo [options]

Starts a local AnyWeb emulator with short-lived tokens and drives fetch, axios, ky and openapi-fetch
clients at it concurrently, all sharing one token manager, for a few token lifetimes — with a forced
revocation of every token halfway. axios and ky run when they are installed (they are optional peers);
otherwise the demo says which client it skipped and why. Shows live what happens, then a summary. Exits 0 only when every
request succeeded and the emulator issued exactly the tokens the manager asked for: one at cold start,
one per refresh ahead of expiry, at most one after the revocation — and no caller ever waited for an
expiring token.

Options:
  --ttl <seconds>        token lifetime (default: 4)
  --duration <seconds>   how long to run (default: 10)
  --concurrency <n>      requests in flight per client (default: 8)
  -h, --help             show this help

Scenarios:
  demo wechat            WeChat's 40001 failure with per-process tokens, and its cure with Redis
                         (anyweb-service-token demo wechat --help)

Examples:
  npm run demo
  anyweb-service-token demo --ttl 2 --duration 6 --concurrency 32
`

const APPID = 'demo-app'
const SECRET = 'demo-secret'
// checkAddresses answers, per user, the addresses that are not theirs: deterministic, so checkable.
const USERS = { 'union-1': ['cfx:aaa', 'cfx:bbb'], 'union-2': ['cfx:ccc'] }
const GROUP = { 'union-1': ['cfx:aaa', 'cfx:zzz'], 'union-2': ['cfx:ccc'] }
const EXPECTED = JSON.stringify({ 'union-1': ['cfx:zzz'], 'union-2': [] })
/** How long after a token request the staged revocation waits, so that it does not land inside a refresh. */
const QUIET_MS = 150

interface ClientStats {
  name: string
  ok: number
  failed: number
  latencies: number[]
  firstFailure?: string
}

type Call = () => Promise<unknown>

function isExpected(body: unknown): boolean {
  const envelope = body as { code?: unknown; data?: unknown } | undefined
  return envelope?.code === 1000 && JSON.stringify(envelope.data) === EXPECTED
}

/**
 * Why an optional client cannot run: not installed (the usual case: axios and ky are optional peers),
 * or installed but failing to load.
 */
function whySkipped(name: string, error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code
  const message = error instanceof Error ? error.message : String(error)
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(`'${name}'`)) {
    return `not installed (npm install ${name} to include it)`
  }
  return `could not be loaded: ${message.split('\n')[0]}`
}

interface Clients {
  clients: [string, Call][]
  skipped: [string, string][]
}

async function loadClients(url: string, manager: TokenManager): Promise<Clients> {
  const endpoint = `${url}/service/checkAddresses`
  const clients: [string, Call][] = []
  const skipped: [string, string][] = []
  const wrapped = withServiceToken(globalThis.fetch, manager)
  clients.push([
    'fetch',
    async () =>
      (await wrapped(endpoint, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group: GROUP }) })).json(),
  ])
  const openapi = createAnyWebClient({ manager })
  clients.push([
    'openapi-fetch',
    async () => {
      const { data, error } = await openapi.POST('/service/checkAddresses', { body: { group: GROUP } })
      return data ?? error
    },
  ])
  // axios and ky are optional peers: each adapter is loaded only with its client, so a project that
  // installed neither still gets a demo of the others.
  try {
    const { default: axios } = await import('axios')
    const { attachServiceToken } = await import('../../adapters/axios.js')
    const instance = axios.create({ baseURL: url })
    attachServiceToken(instance, manager)
    clients.push(['axios', async () => (await instance.post('/service/checkAddresses', { group: GROUP })).data])
  } catch (error) {
    skipped.push(['axios', whySkipped('axios', error)])
  }
  try {
    const { default: ky } = await import('ky')
    const { serviceTokenHooks } = await import('../../adapters/ky.js')
    const api = ky.create({ baseUrl: url, hooks: serviceTokenHooks(manager), retry: 0 })
    clients.push(['ky', () => api.post('service/checkAddresses', { json: { group: GROUP } }).json()])
  } catch (error) {
    skipped.push(['ky', whySkipped('ky', error)])
  }
  return { clients, skipped }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0)
}

function pad(value: string | number, width: number): string {
  return String(value).padStart(width)
}

/** `anyweb-service-token demo`: resolves to 0 when every request succeeded with exactly the expected token fetches. */
async function demo(args: string[]): Promise<number> {
  if (args[0] === 'wechat') return (await import('./demo-wechat.js')).demoWechat(args.slice(1))
  const values = parse(args, { ttl: { type: 'string' }, duration: { type: 'string' }, concurrency: { type: 'string' } })
  if (values.help) {
    process.stdout.write(help)
    return 0
  }
  const ttl = integer('ttl', values.ttl, 4, 1, 3600)
  const durationMs = integer('duration', values.duration, 10, 1, 3600) * 1000
  const concurrency = integer('concurrency', values.concurrency, 8, 1, 1000)

  const emu = createEmulator({ apps: { [APPID]: SECRET }, tokenTtl: ttl, users: USERS })
  const server = await emu.listen()
  const started = performance.now()
  const clock = () => `${pad(((performance.now() - started) / 1000).toFixed(2), 6)}s`
  const say = (line: string) => process.stdout.write(`${clock()}  ${line}\n`)
  const events: TokenManagerEvent[] = []
  let revoked = false
  /** When the last token request started or ended (ms, performance clock). */
  let lastTokenActivity = 0
  const manager = createTokenManager({
    appid: APPID,
    secret: SECRET,
    baseUrl: server.url,
    onEvent(event) {
      events.push(event)
      if (event.type === 'token-request' || event.type === 'token-refreshed') lastTokenActivity = performance.now()
      if (event.type === 'token-refreshed') {
        const why = { missing: revoked ? 'fetched after the revocation' : 'fetched (cold start)', ahead: 'refreshed ahead, in the background', expiring: 'refreshed while callers waited', forced: 'refreshed on request' }[event.reason]
        say(`token  ${why.padEnd(38)} expires in ${((event.expiresAt - Date.now()) / 1000).toFixed(1)}s`)
      } else if (event.type === 'token-invalidated') {
        say('token  invalidated after an A108P001 answer')
      } else if (event.type === 'token-request-failed') {
        say(`token  request failed: ${event.error.code}`)
      }
    },
  })

  const { clients, skipped } = await loadClients(server.url, manager)
  const names = clients.map(([name]) => name)
  process.stdout.write(
    `AnyWeb emulator on ${server.url} — tokens live ${ttl}s; ${names.slice(0, -1).join(', ')} and ${names.at(-1)} share one manager;\n` +
      `${concurrency} requests in flight per client for ${durationMs / 1000}s; every token is revoked at ${durationMs / 2000}s.\n`,
  )
  for (const [name, why] of skipped) process.stdout.write(`${name} skipped: ${why}\n`)
  process.stdout.write('\n')
  const stats: ClientStats[] = clients.map(([name]) => ({ name, ok: 0, failed: 0, latencies: [] }))
  const deadline = started + durationMs

  const worker = async (call: Call, stat: ClientStats) => {
    while (performance.now() < deadline) {
      const begin = performance.now()
      try {
        const body = await call()
        if (isExpected(body)) stat.ok++
        else {
          stat.failed++
          stat.firstFailure ??= JSON.stringify(body).slice(0, 200)
        }
      } catch (error) {
        stat.failed++
        stat.firstFailure ??= error instanceof Error ? `${error.name}: ${error.message}` : String(error)
      }
      stat.latencies.push(performance.now() - begin)
    }
  }
  // The revocation is staged in steady state, not in the few ms around a refresh ahead: a token issued
  // just before it is revoked too, and a request refused with the older token is replayed (once) with that
  // one and fails (docs/adapters.md, "Replay once"). Put off by at most a second.
  const revokeAt = started + durationMs / 2
  let revocation: ReturnType<typeof setTimeout>
  const revokeWhenSteady = () => {
    const now = performance.now()
    if (now - lastTokenActivity < QUIET_MS && now < revokeAt + 1_000) {
      revocation = setTimeout(revokeWhenSteady, QUIET_MS)
      return
    }
    revoked = true
    emu.revokeAll()
    say('emu    revoked every token (forced revocation)')
  }
  revocation = setTimeout(revokeWhenSteady, Math.max(0, revokeAt - performance.now()))
  const ticker = setInterval(() => {
    const total = stats.reduce((sum, stat) => sum + stat.ok + stat.failed, 0)
    const failed = stats.reduce((sum, stat) => sum + stat.failed, 0)
    const perClient = stats.map((stat) => `${stat.name} ${stat.ok + stat.failed}`).join('  ')
    say(`reqs   ${pad(total, 7)} sent, ${failed} failed, ${emu.stats().authFailures} replayed | ${perClient}`)
  }, 1000)
  try {
    await Promise.all(clients.flatMap(([, call], index) => Array.from({ length: concurrency }, () => worker(call, stats[index]!))))
  } finally {
    clearTimeout(revocation)
    clearInterval(ticker)
    manager.close()
    await server.close()
  }

  const refreshed = events.filter((event) => event.type === 'token-refreshed')
  const count = (reason: string) => refreshed.filter((event) => event.reason === reason).length
  const issued = emu.stats().tokensIssued
  const ahead = count('ahead')
  const afterRevocation = count('missing') - 1
  const expected = 1 + ahead + afterRevocation
  const failed = stats.reduce((sum, stat) => sum + stat.failed, 0)
  const sent = stats.reduce((sum, stat) => sum + stat.ok + stat.failed, 0)

  process.stdout.write('\nclient          requests        ok    failed    p50 ms    p99 ms\n')
  for (const stat of stats) {
    const sorted = [...stat.latencies].sort((a, b) => a - b)
    process.stdout.write(
      `${stat.name.padEnd(14)}${pad(stat.ok + stat.failed, 10)}${pad(stat.ok, 10)}${pad(stat.failed, 10)}${pad(percentile(sorted, 50).toFixed(1), 10)}${pad(percentile(sorted, 99).toFixed(1), 10)}\n`,
    )
    if (stat.firstFailure !== undefined) process.stdout.write(`  first failure: ${stat.firstFailure}\n`)
  }
  const checks: [string, boolean][] = [
    [`every request succeeded (${sent - failed}/${sent})`, failed === 0 && sent > 0],
    [`token fetches: the emulator issued ${issued}, the manager asked for ${refreshed.length}`, issued === refreshed.length],
    [`= 1 at cold start + ${ahead} ahead of expiry + ${afterRevocation} after the revocation (expected ${expected})`, issued === expected && afterRevocation <= 1 && afterRevocation >= 0],
    [`no caller waited for an expiring token (${count('expiring')})`, count('expiring') === 0],
    [`requests answered A108P001 and replayed once: ${emu.stats().authFailures}`, true],
  ]
  process.stdout.write('\n')
  for (const [label, ok] of checks) process.stdout.write(`${ok ? 'ok  ' : 'FAIL'}  ${label}\n`)
  for (const [name, why] of skipped) process.stdout.write(`skip  ${name}: ${why}\n`)
  const pass = checks.every(([, ok]) => ok)
  process.stdout.write(`\n${pass ? 'PASS' : 'FAIL'}\n`)
  return pass ? 0 : 1
}

export { demo }
