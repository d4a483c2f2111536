import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { root, run } from './helpers/processes.js'

const examples = readdirSync(join(root, 'examples')).filter((file) => file.endsWith('.ts'))
const tsc = join(root, 'node_modules', '.bin', 'tsc')

/** The documents whose ```ts blocks are type-checked: the README and every page under docs/. */
const documents = ['README.md', ...readdirSync(join(root, 'docs')).filter((file) => file.endsWith('.md')).map((file) => join('docs', file))]

/**
 * What a snippet may use without declaring it: the values a reader brings (credentials, a request body,
 * the manager of the document's first block), declared for each block that does not declare them itself.
 */
const PRELUDE: Record<string, string> = {
  appid: 'declare const appid: string',
  secret: 'declare const secret: string',
  group: 'declare const group: Record<string, string[]>',
  manager: "declare const manager: import('anyweb-service-token').TokenManager",
  token: 'declare const token: string',
  expiresIn: 'declare const expiresIn: number',
  signal: 'declare const signal: AbortSignal',
  log: 'declare const log: { warn(...values: unknown[]): void }',
  myCode: 'declare function myCode(url: string, manager: unknown): Promise<void>',
  expect: "declare function expect(value: unknown): { toBe(expected: unknown): void }",
}

/** The prelude lines `block` needs: the names it uses and does not declare or import. */
function preludeOf(block: string): string {
  return Object.entries(PRELUDE)
    .filter(([name]) => new RegExp(`\\b${name}\\b`).test(block) && !new RegExp(`(const|let|function|import)\\s+(\\{[^}]*\\b|type\\s+)?${name}\\b`).test(block))
    .map(([, line]) => `${line}\n`)
    .join('')
}

/** The names an entry exports, values and types, as its `export { … }` lists say. */
function exportsOf(file: string): string[] {
  const source = readFileSync(join(root, file), 'utf8')
  return [...source.matchAll(/^export (?:type )?\{([^}]*)\}/gm)].flatMap((match) =>
    match[1]!.split(',').map((name) => name.trim()).filter(Boolean),
  )
}

it('has one runnable example per adapter, each importing the package by its own name', () => {
  expect(examples.sort()).toEqual(['axios.ts', 'fetch.ts', 'ky.ts', 'openapi-fetch.ts'])
  for (const file of examples) {
    const source = readFileSync(join(root, 'examples', file), 'utf8')
    expect(source, file).not.toMatch(/from '\.\.?\//)
    expect(source, file).toMatch(/from 'anyweb-service-token(\/[a-z-]+)?'/)
  }
})

it("the examples and the documents' TypeScript blocks type-check as a strict user project (the built package, by name)", async () => {
  const out = join(root, '.tmp', 'readme')
  rmSync(out, { recursive: true, force: true })
  mkdirSync(out, { recursive: true })
  let blocks = 0
  for (const document of documents) {
    const text = readFileSync(join(root, document), 'utf8')
    for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
      const name = `${document.replace(/\W+/g, '-')}-${++blocks}.ts`
      // A block with no import or export is still checked as a module of its own.
      writeFileSync(join(out, name), `${preludeOf(match[1]!)}${match[1]}\nexport {}\n`)
    }
  }
  expect(blocks).toBeGreaterThan(5)
  const result = await run(tsc, ['-p', join('examples', 'tsconfig.json')], { timeoutMs: 120_000 })
  expect(result.stdout + result.stderr).toBe('')
  expect(result.code).toBe(0)
}, 120_000)

it('the README names every export of every entry', () => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const entries = ['src/index.ts', 'adapters/fetch.ts', 'adapters/axios.ts', 'adapters/ky.ts', 'adapters/openapi-fetch.ts', 'src/emulator/index.ts', 'src/redis-store.ts', 'src/otel/index.ts', 'src/presets/index.ts']
  const missing = entries.flatMap((file) => exportsOf(file).filter((name) => !readme.includes(`\`${name}\``)).map((name) => `${file}: ${name}`))
  expect(missing).toEqual([])
})

it.each(examples)('examples/%s runs against the emulator and gets code 1000', async (file) => {
  const result = await run(join(root, 'node_modules', '.bin', 'tsx'), [join('examples', file)], { timeoutMs: 30_000 })
  expect(result.stderr).toBe('')
  expect(result.code).toBe(0)
  expect(result.stdout).toContain('code: 1000')
  expect(result.stdout).toContain("u1: [ 'cfx:other' ]")
})
