import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, startServer } from '../helpers/http-server.js'
import { root, run, systemNode } from '../helpers/processes.js'

/**
 * The oldest axios the package accepts (peer `^1.7.0`), whose fetch adapter ignores `maxRedirects`:
 * the built adapter, in a directory where `axios` is that version (the devDependency `axios-1.7`), on
 * the system Node. A redirect to another origin must not be followed with the token there either.
 */
let directory: string
let api: Awaited<ReturnType<typeof startServer>>
let other: Awaited<ReturnType<typeof startServer>>

beforeAll(async () => {
  other = await startServer((_request, response) => json(response, { code: 1000, message: 'success', data: {} }))
  api = await startServer((request, response) => {
    if (request.path === '/moved') {
      response.writeHead(307, { location: `${other.url}/stolen` })
      response.end()
    } else json(response, { code: 1000, message: 'success', data: {} })
  })
  directory = mkdtempSync(join(tmpdir(), 'anyweb-axios-1.7-'))
  cpSync(join(root, 'dist'), join(directory, 'dist'), { recursive: true })
  // The project's packages (what dist imports), but axios 1.7 as `axios`.
  mkdirSync(join(directory, 'node_modules'))
  for (const name of readdirSync(join(root, 'node_modules'))) {
    if (name !== 'axios' && !name.startsWith('.')) symlinkSync(join(root, 'node_modules', name), join(directory, 'node_modules', name), 'dir')
  }
  symlinkSync(join(root, 'node_modules', 'axios-1.7'), join(directory, 'node_modules', 'axios'), 'dir')
  writeFileSync(join(directory, 'package.json'), '{ "type": "module" }')
  writeFileSync(
    join(directory, 'main.js'),
    `import axios from 'axios'
import { createTokenManager } from './dist/index.js'
import { attachServiceToken } from './dist/axios.js'
const [url, adapter, placement] = process.argv.slice(2)
const manager = createTokenManager({ source: async () => ({ token: 'TOKEN-1', expiresIn: 60 }), baseUrl: url })
const instance = axios.create({ baseURL: url, adapter, validateStatus: () => true })
attachServiceToken(instance, manager, placement === 'header' ? { placement: { in: 'header', name: 'x-token' } } : {})
const moved = await instance.post('/moved', { a: 1 })
const fine = await instance.post('/fine', { a: 1 })
console.log(JSON.stringify({ version: axios.VERSION, moved: moved.status, fine: fine.data.code }))
manager.close()
`,
  )
})

afterAll(async () => {
  rmSync(directory, { recursive: true, force: true })
  await api.close()
  await other.close()
})

describe('axios 1.7 (the oldest accepted), whose fetch adapter ignores maxRedirects', () => {
  for (const adapter of ['fetch', 'http']) {
    for (const placement of ['body', 'header']) {
      it(`${adapter}, ${placement} placement: a redirect to another origin is returned, not followed with the token`, async () => {
        const before = other.received.length
        const result = await run(systemNode, ['main.js', api.url, adapter, placement], { cwd: directory })
        expect(result.stderr).toBe('')
        expect(JSON.parse(result.stdout)).toEqual({ version: '1.7.0', moved: 307, fine: 1000 })
        expect(other.received.length).toBe(before)
        expect(JSON.stringify(api.received.at(-1))).toMatch(/TOKEN-1/)
      })
    }
  }
})
