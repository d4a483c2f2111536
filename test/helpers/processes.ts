import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..', '..')

/**
 * The machine's own Node (20 here), not the Node 24 that `npm run` puts first on PATH: the library
 * promises Node ≥ 20, so user-facing processes are run on the oldest supported one.
 */
const systemNode = ['/usr/bin/node', '/usr/local/bin/node', '/bin/node'].find((path) => existsSync(path)) ?? process.execPath

/** The built command line; `npm test` builds before it runs the suite. */
function cliPath(): string {
  const path = join(root, 'dist', 'cli.js')
  if (!existsSync(path)) throw new Error('dist/cli.js is missing: run `npm run build` (npm test does it first).')
  return path
}

interface Finished {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs a command to its end (bounded by `timeoutMs`) and collects its output. */
function run(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? root,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${command} ${args.join(' ')} did not finish within ${options.timeoutMs ?? 30_000} ms\n${stdout}\n${stderr}`))
    }, options.timeoutMs ?? 30_000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export { cliPath, root, run, systemNode }
export type { Finished }
