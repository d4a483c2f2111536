import { spawn } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEmulator } from '../src/emulator/index.js'
import type { EmulatorServer } from '../src/emulator/index.js'
import { json, startServer } from './helpers/http-server.js'
import { cliPath, root, run, systemNode } from './helpers/processes.js'

const SECRET = 'cli-secret-never-printed'
const emu = createEmulator({ apps: { 'cli-app': SECRET } })
let server: EmulatorServer
let dir: string

beforeAll(async () => {
  server = await emu.listen()
  dir = mkdtempSync(join(tmpdir(), 'anyweb-cli-'))
})
afterAll(async () => {
  await server.close()
  rmSync(dir, { recursive: true, force: true })
})

/** The CLI as a user runs it, on the system Node, with a clean AnyWeb environment. */
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  run(systemNode, [cliPath(), ...args], { env: { ANYWEB_APPID: '', ANYWEB_SECRET: '', ANYWEB_BASE_URL: '', ...env } })

function expectSecretNowhere(result: { stdout: string; stderr: string }): void {
  expect(result.stdout + result.stderr).not.toContain(SECRET)
}

describe('anyweb-service-token (the command line, spawned on the system Node)', () => {
  it('shows help with examples for the tool and for each command', async () => {
    const top = await cli(['--help'])
    expect(top.code).toBe(0)
    expect(top.stdout).toContain('Commands:')
    for (const command of ['token', 'emulator', 'demo']) {
      const result = await cli([command, '--help'])
      expect(result.code, command).toBe(0)
      expect(result.stdout, command).toContain(`Usage: anyweb-service-token ${command}`)
      expect(result.stdout, command).toContain('Examples:')
    }
  })

  it('prints the version with --version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }
    const result = await cli(['--version'])
    expect([result.code, result.stdout, result.stderr]).toEqual([0, `${version}\n`, ''])
    expect((await cli(['--help'])).stdout).toContain('--version')
  })

  it('exits 2 with the usage for no command or an unknown one', async () => {
    expect((await cli([])).code).toBe(2)
    const unknown = await cli(['tokn'])
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('unknown command "tokn"')
  })

  describe('token', () => {
    const env = () => ({ ANYWEB_APPID: 'cli-app', ANYWEB_SECRET: SECRET, ANYWEB_BASE_URL: server.url })

    it('prints only the token on stdout, from the environment', async () => {
      const before = emu.stats().tokensIssued
      const result = await cli(['token'], env())
      expect(result.code).toBe(0)
      expect(result.stdout).toMatch(/^eyJ[\w-]+\.[\w-]+\.[\w-]+\n$/)
      expect(result.stderr).toBe('')
      expect(emu.stats().tokensIssued).toBe(before + 1)
    })

    it('prints JSON with --json, and reads the secret from --secret-file', async () => {
      const file = join(dir, 'secret.txt')
      writeFileSync(file, `${SECRET}\n`)
      const result = await cli(['token', '--appid', 'cli-app', '--secret-file', file, '--base-url', server.url, '--json'])
      expect(result.code).toBe(0)
      const output = JSON.parse(result.stdout) as { serviceToken: string; expiresAt: string; expiresIn: number }
      expect(output.serviceToken).toMatch(/^eyJ/)
      expect(output.expiresIn).toBeGreaterThan(7190)
      expect(Date.parse(output.expiresAt)).toBeGreaterThan(Date.now())
      expectSecretNowhere(result)
    })

    it('exits 1 with the typed code for a wrong secret, never printing it', async () => {
      const result = await cli(['token'], { ...env(), ANYWEB_SECRET: `${SECRET}-wrong` })
      expect(result.code).toBe(1)
      expect(result.stdout).toBe('')
      expect(result.stderr).toContain('ERR_ANYWEB_CREDENTIALS')
      expect(result.stderr).toContain('A108P004')
      // One request, then the process ends: there is no cooldown to speak of.
      expect(result.stderr).not.toContain('cooldown')
      expectSecretNowhere(result)
    })

    it('exits 1 with ERR_TOKEN_NETWORK when nothing listens', async () => {
      const result = await cli(['token', '--base-url', 'http://127.0.0.1:9', '--timeout', '2000'], env())
      expect(result.code).toBe(1)
      expect(result.stderr).toContain('ERR_TOKEN_NETWORK')
    })

    it('names the --timeout flag when the token endpoint does not answer in time', async () => {
      const silent = await startServer(() => undefined)
      try {
        const result = await cli(['token', '--base-url', silent.url, '--timeout', '100'], env())
        expect(result.code).toBe(1)
        expect(result.stderr).toContain('ERR_TOKEN_TIMEOUT')
        expect(result.stderr).toContain('within 100 ms (--timeout 100)')
        expect(result.stderr).not.toContain('option `timeout`')
      } finally {
        await silent.close()
      }
    })

    it.each([
      ['no appid', ['token'], { ANYWEB_APPID: '' }, 'no appid'],
      ['no secret', ['token'], { ANYWEB_SECRET: '' }, 'no secret'],
      ['plain http to a remote host', ['token', '--base-url', 'http://api.anyweb.cc'], {}, 'ERR_INVALID_OPTION'],
      ['a bad timeout', ['token', '--timeout', 'soon'], {}, '--timeout'],
      ['an unreadable secret file', ['token', '--secret-file', '/nonexistent/secret'], { ANYWEB_SECRET: '' }, 'ENOENT'],
      ['an unknown flag', ['token', '--secrte=x'], {}, "Unknown option '--secrte'"],
    ])('exits 2 for %s', async (_name, args, extra, message) => {
      const result = await cli(args, { ...env(), ...extra })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain(message)
      expectSecretNowhere(result)
    })

    it('does not print the secret when the token endpoint echoes it back', async () => {
      const echo = await startServer((request, response) =>
        json(response, { code: 'A108B999', message: `rejected ${request.body} ${encodeURIComponent(request.body)}` }, 500),
      )
      try {
        const result = await cli(['token', '--base-url', echo.url], env())
        expect(echo.received[0]!.body).toContain(SECRET)
        expect(result.code).toBe(1)
        expect(result.stderr).toContain('ERR_ANYWEB_API')
        expect(result.stderr).toContain('[redacted]')
        expectSecretNowhere(result)
        expect(result.stdout + result.stderr).not.toContain(encodeURIComponent(SECRET))
      } finally {
        await echo.close()
      }
    })

    it('does not print a secret put in ANYWEB_BASE_URL by mistake', async () => {
      const result = await cli(['token'], { ...env(), ANYWEB_BASE_URL: SECRET })
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('ERR_INVALID_OPTION')
      expectSecretNowhere(result)
    })

    it('does not echo a secret typed as a stray argument', async () => {
      const result = await cli(['token', SECRET], env())
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('no positional arguments')
      expectSecretNowhere(result)
    })
  })

  describe('demo', () => {
    it('drives every client live and passes: no failure, exactly the expected token fetches', async () => {
      const result = await run(systemNode, [cliPath(), 'demo', '--ttl', '2', '--duration', '4', '--concurrency', '4'], { timeoutMs: 30_000 })
      expect(result.stderr).toBe('')
      expect(result.code, result.stdout).toBe(0)
      for (const client of ['fetch', 'axios', 'ky', 'openapi-fetch']) expect(result.stdout).toMatch(new RegExp(`^${client}\\s+\\d+`, 'm'))
      expect(result.stdout).toContain('revoked every token')
      expect(result.stdout).toMatch(/ok {4}every request succeeded/)
      expect(result.stdout).not.toContain('FAIL')
      expect(result.stdout.trim().split('\n').at(-1)).toBe('PASS')
    })

    it('in a project without axios, runs the clients that are installed and says which it skipped and why', async () => {
      // The built package in a project of its own, with openapi-fetch and ky installed but not axios.
      const project = mkdtempSync(join(tmpdir(), 'anyweb-demo-'))
      try {
        const installed = join(project, 'node_modules', 'anyweb-service-token')
        mkdirSync(installed, { recursive: true })
        cpSync(join(root, 'package.json'), join(installed, 'package.json'))
        cpSync(join(root, 'dist'), join(installed, 'dist'), { recursive: true })
        for (const name of ['openapi-fetch', 'ky']) symlinkSync(join(root, 'node_modules', name), join(project, 'node_modules', name))
        const result = await run(systemNode, [join(installed, 'dist', 'cli.js'), 'demo', '--ttl', '2', '--duration', '4', '--concurrency', '2'], {
          cwd: project,
          timeoutMs: 30_000,
        })
        expect(result.stderr).toBe('')
        expect(result.code, result.stdout).toBe(0)
        for (const client of ['fetch', 'ky', 'openapi-fetch']) expect(result.stdout).toMatch(new RegExp(`^${client}\\s+\\d+`, 'm'))
        expect(result.stdout).not.toMatch(/^axios\s+\d+/m)
        expect(result.stdout).toContain('axios skipped: not installed (npm install axios to include it)')
        expect(result.stdout).toContain('skip  axios: not installed')
        expect(result.stdout).toContain('fetch, openapi-fetch and ky share one manager')
        expect(result.stdout.trim().split('\n').at(-1)).toBe('PASS')
      } finally {
        rmSync(project, { recursive: true, force: true })
      }
    })

    it('exits 2 for a bad option', async () => {
      const result = await run(systemNode, [cliPath(), 'demo', '--ttl', '0'])
      expect(result.code).toBe(2)
      expect(result.stderr).toContain('--ttl expects a whole number')
    })
  })

  describe('emulator', () => {
    it('serves on a free port, logs a line per request, and stops on SIGTERM', async () => {
      const child = spawn(systemNode, [cliPath(), 'emulator', '--port', '0', '--ttl', '60', '--app', 'x-app:x-secret'], {
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let output = ''
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve))
      try {
        const url = await new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no URL printed: ${output}`)), 10_000)
          child.stdout.on('data', () => {
            const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
            if (match?.[1]) {
              clearTimeout(timer)
              resolve(match[1])
            }
          })
        })
        const answer = await fetch(`${url}/service/serviceToken`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ appid: 'x-app', secret: 'x-secret' }),
        })
        expect(await answer.json()).toMatchObject({ code: 1000, data: { expiresIn: 60 } })
        const stats = (await (await fetch(`${url}/__emulator/stats`)).json()) as { tokensIssued: number }
        expect(stats.tokensIssued).toBe(1)
        expect(output).toMatch(/POST \/service\/serviceToken 200 code=1000/)
        expect(output).not.toContain('x-secret')
      } finally {
        child.kill('SIGTERM')
      }
      expect(await exited).toBe(0)
      expect(output).toContain('emulator stopped')
    })

    it('exits 2 for a malformed --app or --user, showing the expected form', async () => {
      const app = await run(systemNode, [cliPath(), 'emulator', '--app', 'no-colon'])
      expect(app.code).toBe(2)
      expect(app.stderr).toContain('--app expects <appid>:<secret>')
      const user = await run(systemNode, [cliPath(), 'emulator', '--user', 'u1'])
      expect(user.code).toBe(2)
      expect(user.stderr).toContain('--user expects <unionid>:<addr,addr>')
    })

    it('exits 2 with a hint when the port is in use', async () => {
      const busy = await startServer(() => undefined)
      try {
        const port = new URL(busy.url).port
        const result = await run(systemNode, [cliPath(), 'emulator', '--port', port])
        expect(result.code).toBe(2)
        expect(result.stderr).toContain(`port ${port} is already in use: pass --port 0 to pick a free one`)
        expect(result.stderr).not.toContain('unexpected error')
      } finally {
        await busy.close()
      }
    })
  })
})
