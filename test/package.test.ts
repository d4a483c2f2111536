import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { root, run, systemNode } from './helpers/processes.js'

/**
 * The package as users get it: `npm pack`, installed into a scratch project next to its peer
 * dependencies only, imported by name through the exports map. Catches missing files, broken exports
 * and anything that only works from the source tree.
 */
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  exports: Record<string, unknown>
  peerDependencies: Record<string, string>
  devDependencies: Record<string, string>
}
const subpaths = Object.keys(manifest.exports)
  .filter((key) => key !== './package.json')
  .map((key) => (key === '.' ? 'anyweb-service-token' : `anyweb-service-token/${key.slice(2)}`))

/** What each entry must export (a broken bundle would lose names silently). */
const EXPECTED_EXPORTS: Record<string, string[]> = {
  'anyweb-service-token': ['createTokenManager', 'memoryStore', 'ServiceTokenError', 'ConfigurationError', 'isServiceTokenError', 'ErrorCode'],
  'anyweb-service-token/fetch': ['withServiceToken'],
  'anyweb-service-token/axios': ['attachServiceToken'],
  'anyweb-service-token/ky': ['serviceTokenHooks'],
  'anyweb-service-token/openapi-fetch': ['serviceTokenMiddleware', 'createAnyWebClient'],
  'anyweb-service-token/emulator': ['createEmulator'],
  'anyweb-service-token/redis': ['redisStore'],
  'anyweb-service-token/otel': ['instrument'],
  'anyweb-service-token/presets': ['anyweb', 'wechat', 'wechatStable', 'wecom', 'feishu', 'dingtalk'],
}

const bin = (name: string) => join(root, 'node_modules', '.bin', name)
let project: string

beforeAll(async () => {
  project = mkdtempSync(join(tmpdir(), 'anyweb-package-'))
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', project], { cwd: root, encoding: 'utf8' }).trim()
  const tarball = join(project, packed.split('\n').at(-1)!)
  const peers = Object.fromEntries(Object.keys(manifest.peerDependencies).map((name) => [name, manifest.devDependencies[name]]))
  writeFileSync(
    join(project, 'package.json'),
    JSON.stringify({ name: 'scratch', private: true, type: 'module', dependencies: { 'anyweb-service-token': `file:${tarball}`, ...peers } }),
  )
  const install = await run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error'], { cwd: project, timeoutMs: 120_000 })
  if (install.code !== 0) throw new Error(`npm install of the tarball failed:\n${install.stderr}`)
  copyFileSync(join(root, 'test', 'runtime', 'smoke.test.mjs'), join(project, 'smoke.test.mjs'))
}, 180_000)

afterAll(() => {
  if (project) rmSync(project, { recursive: true, force: true })
})

describe('the packed tarball', () => {
  it('ships dist, the README and the OpenAPI spec, and no sources or tests', () => {
    const installed = join(project, 'node_modules', 'anyweb-service-token')
    const files = readdirSync(installed)
    expect(files).toEqual(expect.arrayContaining(['dist', 'README.md', 'LICENSE', 'openapi.yaml', 'package.json']))
    expect(files).not.toContain('src')
    expect(files).not.toContain('test')
  })

  it('declares an export for every entry the design names', () => {
    expect(subpaths.sort()).toEqual(Object.keys(EXPECTED_EXPORTS).sort())
  })

  it.each(['mjs', 'cjs'])('loads every subpath from %s and runs an end-to-end call', async (kind) => {
    const load = kind === 'mjs' ? (name: string) => `await import('${name}')` : (name: string) => `require('${name}')`
    const script = `${kind === 'cjs' ? "'use strict';\n(async () => {" : ''}
const expected = ${JSON.stringify(EXPECTED_EXPORTS)}
const modules = {}
for (const name of Object.keys(expected)) {
  modules[name] = ${kind === 'mjs' ? 'await import(name)' : 'require(name)'}
  for (const key of expected[name]) if (!(key in modules[name])) throw new Error(name + ' lacks ' + key)
}
const { createTokenManager } = ${load('anyweb-service-token')}
const { createEmulator } = ${load('anyweb-service-token/emulator')}
const { withServiceToken } = ${load('anyweb-service-token/fetch')}
const emu = createEmulator()
const server = await emu.listen()
try {
  const manager = createTokenManager({ appid: 'demo-app', secret: 'demo-secret', baseUrl: server.url })
  const f = withServiceToken(fetch, manager)
  const res = await f(server.url + '/service/checkAddresses', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ group: { u: ['cfx:a'] } }) })
  const body = await res.json()
  if (body.code !== 1000) throw new Error('unexpected ' + JSON.stringify(body))
  console.log('ok ${kind}')
} finally {
  await server.close()
}
${kind === 'cjs' ? '})().catch((e) => { console.error(e); process.exitCode = 1 })' : ''}`
    const file = join(project, `check.${kind}`)
    writeFileSync(file, script)
    const result = await run(systemNode, [file], { cwd: project })
    expect(result.stderr).toBe('')
    expect(result.stdout.trim()).toBe(`ok ${kind}`)
    expect(result.code).toBe(0)
  })
})

describe('the cross-runtime smoke suite (node:test) against the installed package', () => {
  // Each runner's own way of saying that all six tests ran: one that found no test would also exit 0.
  const runtimes: [string, () => [string, string[]], RegExp][] = [
    ['system Node (20)', () => [systemNode, ['--test', '--test-reporter=tap', 'smoke.test.mjs']], /# pass 6\b/],
    ['Node 24', () => [process.execPath, ['--test', '--test-reporter=tap', 'smoke.test.mjs']], /# pass 6\b/],
    ['Deno 2', () => [bin('deno'), ['test', '--allow-all', '--no-check', 'smoke.test.mjs']], /1 passed \(6 steps\) \| 0 failed/],
    ['Bun 1', () => [bin('bun'), ['test', './smoke.test.mjs']], /\b6 pass\b[\s\S]*\b0 fail\b/],
  ]
  it.each(runtimes)('passes on %s', async (_name, command, ran) => {
    const [executable, args] = command()
    const result = await run(executable, args, { cwd: project, timeoutMs: 60_000, env: { NO_COLOR: '1' } })
    const output = `${result.stdout}\n${result.stderr}`
    expect(result.code, output).toBe(0)
    expect(output, output).toMatch(ran)
  })
})
