import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'
import { describe, expect, it } from 'vitest'
import { root } from './helpers/processes.js'

/**
 * What each entry costs a user who bundles it: minified, gzipped, with the peer dependencies (axios,
 * ky, @opentelemetry/api) and openapi-fetch left out. Budgets are bytes, set to what the entries measure plus under 1 %: a
 * change that grows an entry past its budget fails here and must either shrink or raise the budget on
 * purpose (and update the table in docs/performance.md).
 */
const ENTRIES: Record<string, { code: string; budget: number }> = {
  'core + fetch adapter': {
    code: "export { createTokenManager } from './src/index.ts'; export { withServiceToken } from './adapters/fetch.ts'",
    budget: 14_480,
  },
  core: { code: "export * from './src/index.ts'", budget: 9_100 },
  fetch: { code: "export * from './adapters/fetch.ts'", budget: 7_240 },
  axios: { code: "export * from './adapters/axios.ts'", budget: 6_620 },
  ky: { code: "export * from './adapters/ky.ts'", budget: 7_250 },
  'openapi-fetch': { code: "export * from './adapters/openapi-fetch.ts'", budget: 14_900 },
  emulator: { code: "export * from './src/emulator/index.ts'", budget: 10_420 },
  redis: { code: "export * from './src/redis-store.ts'", budget: 3_900 },
  presets: { code: "export * from './src/presets/index.ts'", budget: 7_640 },
  otel: { code: "export * from './src/otel/index.ts'", budget: 2_520 },
}

async function gzippedSize(code: string): Promise<number> {
  const result = await build({
    stdin: { contents: code, resolveDir: root, loader: 'ts' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'neutral',
    target: 'es2022',
    external: ['axios', 'ky', 'openapi-fetch', '@opentelemetry/api', 'node:*'],
    write: false,
    logLevel: 'silent',
  })
  return gzipSync(result.outputFiles[0]!.contents, { level: 9 }).length
}

describe('bundle size (minified + gzipped, peers and openapi-fetch excluded)', () => {
  it.each(Object.entries(ENTRIES))('%s stays within its budget', async (name, { code, budget }) => {
    const size = await gzippedSize(code)
    console.log(`${name}: ${size} B gzipped (budget ${budget} B)`)
    expect(size).toBeGreaterThan(500)
    expect(size).toBeLessThanOrEqual(budget)
  })
})
