import { describe, expectTypeOf, it } from 'vitest'
import type { TokenManagerOptions } from '../../src/index.js'
import { wechat } from '../../src/presets/index.js'
import type { PresetOptions } from '../../src/presets/index.js'

declare const preset: PresetOptions

describe('preset option types', () => {
  it('a preset goes with other manager options but not with another baseUrl', () => {
    expectTypeOf({ ...preset, storeKey: 'k', refreshWindow: 60_000 }).toExtend<TokenManagerOptions>()
    expectTypeOf({ ...preset, baseUrl: 'http://127.0.0.1:8787' }).not.toExtend<TokenManagerOptions>()
    expectTypeOf({ ...preset, baseUrl: preset.baseUrl }).toExtend<TokenManagerOptions>()
    expectTypeOf(wechat).returns.toEqualTypeOf<PresetOptions>()
  })

  it('a custom source still takes any baseUrl, and a preset source cannot be taken alone with another', () => {
    expectTypeOf({ source: async () => ({ token: 't', expiresIn: 60 }), baseUrl: 'https://api.example.com' }).toExtend<TokenManagerOptions>()
    expectTypeOf({ source: preset.source, baseUrl: 'https://api.example.com' }).not.toExtend<TokenManagerOptions>()
  })
})
