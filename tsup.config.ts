import { defineConfig } from 'tsup'

export default defineConfig([
  {
    // The library: web standards only, so one build serves Node, Deno, Bun and bundlers.
    entry: {
      index: 'src/index.ts',
      fetch: 'adapters/fetch.ts',
      axios: 'adapters/axios.ts',
      ky: 'adapters/ky.ts',
      'openapi-fetch': 'adapters/openapi-fetch.ts',
      emulator: 'src/emulator/index.ts',
      redis: 'src/redis-store.ts',
      otel: 'src/otel/index.ts',
      presets: 'src/presets/index.ts',
    },
    // Shared chunks in both formats: one copy of the error classes, so `instanceof` holds across entries.
    splitting: true,
    format: ['esm', 'cjs'],
    dts: true,
    sourcemap: true,
    target: 'es2022',
    platform: 'neutral',
    external: ['axios', 'ky', 'openapi-fetch', '@opentelemetry/api'],
  },
  {
    // The command line: Node only, behind its own entry.
    entry: { cli: 'src/cli/bin.ts' },
    format: ['esm'],
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    banner: { js: '#!/usr/bin/env node' },
    external: ['openapi-fetch'],
  },
])
