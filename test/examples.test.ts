import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { root, run } from './helpers/processes.js'

const examples = readdirSync(join(root, 'examples')).filter((file) => file.endsWith('.ts'))

it('has one runnable example per adapter', () => {
  expect(examples.sort()).toEqual(['axios.ts', 'fetch.ts', 'ky.ts', 'openapi-fetch.ts'])
})

it.each(examples)('examples/%s runs against the emulator and gets code 1000', async (file) => {
  const result = await run(join(root, 'node_modules', '.bin', 'tsx'), [join('examples', file)], { timeoutMs: 30_000 })
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  expect(result.stdout).toContain("code: 1000")
  expect(result.stdout).toContain("u1: [ 'cfx:other' ]")
})
