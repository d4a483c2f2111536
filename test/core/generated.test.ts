import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'

const root = join(import.meta.dirname, '..', '..')

it('src/generated/anyweb.ts is what `npm run gen` makes of openapi.yaml', () => {
  const dir = mkdtempSync(join(tmpdir(), 'anyweb-gen-'))
  try {
    const out = join(dir, 'anyweb.ts')
    const cli = join(root, 'node_modules', 'openapi-typescript', 'bin', 'cli.js')
    execFileSync(process.execPath, [cli, join(root, 'openapi.yaml'), '-o', out], { cwd: root, stdio: 'pipe' })
    const committed = readFileSync(join(root, 'src', 'generated', 'anyweb.ts'), 'utf8')
    expect(committed, 'openapi.yaml changed: run `npm run gen` and commit src/generated/').toBe(readFileSync(out, 'utf8'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
