import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'
import { Miniflare } from 'miniflare'
import { afterAll, describe, expect, it } from 'vitest'
import { root } from '../helpers/processes.js'

/**
 * The package inside a Cloudflare Worker on the real workerd runtime (miniflare's binary from npm):
 * test/runtime/worker.mjs, bundled by esbuild from the built package through its exports map, talks to
 * the emulator served from this Node process on loopback; its URL and the secret reach the Worker as
 * bindings. Each scenario is a request to the Worker, which answers what it saw as JSON.
 */

const APPID = 'worker-app'
const SECRET = 'worker-secret'
const EXPECTED = { code: 1000, message: 'success', data: { u1: ['cfx:other'] } }

interface Emulator {
  stats(): { tokensIssued: number }
  revokeAll(): void
  inject(endpoint: string, fault: object, options?: object): void
  listen(): Promise<{ url: string; close(): Promise<void> }>
}

const started: (() => Promise<unknown> | void)[] = []
let mf: Miniflare | undefined
let emu: Emulator
/** Issues 4-second tokens, so that a refresh ahead comes within the test's reach. */
let shortEmu: Emulator
let unavailable: string | undefined

async function startAll(): Promise<void> {
  const dist = join(root, 'dist', 'index.js')
  if (!existsSync(dist)) throw new Error('dist/ is missing: run `npm run build` (npm test does it first).')
  const { createEmulator } = (await import(pathToFileURL(join(root, 'dist', 'emulator.js')).href)) as {
    createEmulator(options: object): Emulator
  }

  // The Worker imports the package by its name, as users do: a scratch project whose node_modules links to this one.
  const project = mkdtempSync(join(tmpdir(), 'anyweb-worker-'))
  started.push(() => rmSync(project, { recursive: true, force: true }))
  mkdirSync(join(project, 'node_modules'))
  symlinkSync(root, join(project, 'node_modules', 'anyweb-service-token'), 'dir')
  const bundle = await build({
    entryPoints: [join(root, 'test', 'runtime', 'worker.mjs')],
    nodePaths: [join(project, 'node_modules')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    write: false,
    logLevel: 'silent',
    external: ['cloudflare:workers'],
  })
  const script = bundle.outputFiles[0]!.text

  emu = createEmulator({ apps: { [APPID]: SECRET }, users: { u1: ['cfx:mine'] } })
  const server = await emu.listen()
  started.push(() => server.close())
  shortEmu = createEmulator({ apps: { [APPID]: SECRET }, tokenTtl: 4 })
  const shortServer = await shortEmu.listen()
  started.push(() => shortServer.close())
  const redirector = await serveRedirects(server.url)
  started.push(() => new Promise((resolve) => redirector.server.close(resolve)))

  mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: '2025-09-01',
    bindings: { ANYWEB_APPID: APPID, ANYWEB_SECRET: SECRET, ANYWEB_BASE_URL: server.url, REDIRECTOR_URL: redirector.url, SHORT_BASE_URL: shortServer.url },
  })
  started.push(() => mf?.dispose())
  await mf.ready
}

/** Loopback answers 307 to the emulator (an allowed origin) or to an origin the token may not go to. */
async function serveRedirects(emulatorUrl: string): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    const to = request.url === '/to-emulator' ? `${emulatorUrl}/service/checkAddresses` : 'http://elsewhere.invalid/service/checkAddresses'
    response.writeHead(307, { location: to }).end()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address() as { port: number }
  return { server, url: `http://127.0.0.1:${address.port}` }
}

async function stopAll(): Promise<void> {
  for (const stop of started.reverse()) await stop()
  started.length = 0
}

try {
  await startAll()
} catch (error) {
  await stopAll()
  unavailable = error instanceof Error ? error.message : String(error)
}

afterAll(stopAll)

async function inWorker(scenario: string): Promise<Record<string, any>> {
  const response = await mf!.dispatchFetch(`http://worker.test/${scenario}`)
  const body = (await response.json()) as Record<string, any>
  expect(response.status, JSON.stringify(body)).toBe(200)
  return body
}

const skip = unavailable !== undefined && process.env.CI !== 'true'
if (skip) console.warn(`Workers suite skipped: workerd did not start (${unavailable?.split('\n')[0]}); \`npm ci\` installs it with miniflare.`)

describe.skipIf(skip)('inside a Cloudflare Worker (workerd)', () => {
  it('workerd started', () => {
    expect(unavailable).toBeUndefined()
  })

  it('cold start: one token request; the next request of the isolate uses the cached token', async () => {
    const issued = emu.stats().tokensIssued
    const first = await inWorker('token')
    expect(first.token).toMatch(/^eyJ/)
    expect(emu.stats().tokensIssued - issued).toBe(1)
    const second = await inWorker('token')
    expect(second.token).toBe(first.token)
    expect(emu.stats().tokensIssued - issued).toBe(1)
  })

  it('the fetch adapter attaches the token; after a revocation, one refresh and a replay that succeeds', async () => {
    const issued = emu.stats().tokensIssued
    expect(await inWorker('check')).toEqual({ status: 200, body: EXPECTED })
    expect(emu.stats().tokensIssued - issued).toBe(0)
    emu.revokeAll()
    expect(await inWorker('check')).toEqual({ status: 200, body: EXPECTED })
    expect(emu.stats().tokensIssued - issued).toBe(1)
    expect(await inWorker('check')).toEqual({ status: 200, body: EXPECTED })
    expect(emu.stats().tokensIssued - issued).toBe(1)
  })

  it('a wrong secret is a typed ERR_ANYWEB_CREDENTIALS error inside the Worker, without the secret', async () => {
    expect(await inWorker('wrong-secret')).toEqual({
      thrown: true,
      credentials: true,
      code: 'ERR_ANYWEB_CREDENTIALS',
      name: expect.any(String),
      secretShown: false,
    })
  })

  it('the typed openapi-fetch client calls POST /service/checkAddresses', async () => {
    expect(await inWorker('client')).toEqual({ status: 200, data: EXPECTED })
  })

  it("workerd's fetch answers redirect: 'manual' with the 3xx itself, so the library sees and follows it", async () => {
    expect(await inWorker('raw-manual')).toMatchObject({ status: 307, location: expect.stringMatching(/\/service\/checkAddresses$/) })
    expect(await inWorker('redirect-allowed')).toMatchObject({ status: 200, body: EXPECTED })
    expect(await inWorker('redirect-elsewhere')).toEqual({ status: 307, location: 'http://elsewhere.invalid/service/checkAddresses' })
    expect(await inWorker('redirect-manual')).toMatchObject({ status: 307 })
  })
})

describe.skipIf(skip)('a refresh ahead inside a Cloudflare Worker', () => {
  const sleepUntil = (at: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())))

  it('a refresh ahead started by a request that answered at once still lands: a later request waits for no lost refresh', async () => {
    const t0 = Date.now()
    const cold = await inWorker('short-lived')
    expect(shortEmu.stats().tokensIssued).toBe(1)
    // 2.7 s in: past the refresh-ahead point (2–2.5 s of a 4 s token), before the hard window (3 s). The
    // token endpoint answers after 1 s, long after this request has answered with the cached token.
    await sleepUntil(t0 + 2_700)
    shortEmu.inject('serviceToken', { type: 'latency', ms: 1_000 }, { times: 1 })
    expect((await inWorker('short-lived')).token).toBe(cold.token)
    // 3.3 s in: the hard window, so this request must wait for the refresh the previous one started.
    await sleepUntil(t0 + 3_300)
    const started = Date.now()
    const next = await Promise.race([
      inWorker('short-lived'),
      new Promise<Record<string, any>>((resolve) => setTimeout(() => resolve({ hung: true }), 4_000)),
    ])
    expect(next.hung).toBeUndefined()
    expect(next.token).not.toBe(cold.token)
    expect(Date.now() - started).toBeLessThan(2_000)
  }, 15_000)
})
