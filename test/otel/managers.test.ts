import { afterEach, describe, expect, it } from 'vitest'
import type { MeterProvider, TracerProvider } from '@opentelemetry/api'
import { createTokenManager, isServiceTokenError } from '../../src/index.js'
import type { TokenManager } from '../../src/index.js'
import { instrument } from '../../src/otel/index.js'
import { createSdk, total } from './sdk.js'
import type { Sdk } from './sdk.js'

const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

/** A manager whose source hands out numbered tokens, closed after the test. */
function manager(): TokenManager {
  let issued = 0
  const made = createTokenManager({ source: async () => ({ token: `otel-managers-token-${++issued}`, expiresIn: 3600 }) })
  cleanups.push(() => made.close())
  return made
}

function sdk(): Sdk {
  const made = createSdk()
  cleanups.push(() => made.shutdown())
  return made
}

const providers = (from: Sdk) => ({ meterProvider: from.meterProvider, tracerProvider: from.tracerProvider })
const answers = async (from: Sdk, result: 'hit' | 'waited'): Promise<number> =>
  total(await from.metrics(), 'anyweb.token.cache.answers', { 'anyweb.token.cache.result': result })

describe('instrument(): several managers, one manager twice', () => {
  it('two managers on one MeterProvider: their cache answers add up, and stay counted after one stops', async () => {
    const otel = sdk()
    const a = manager()
    const b = manager()
    const stopA = instrument(a, providers(otel))
    cleanups.push(instrument(b, providers(otel)))
    await a.getToken() // waited
    for (let i = 0; i < 10; i++) await a.getToken() // hits
    await b.getToken() // waited
    expect(await answers(otel, 'hit')).toBe(10)
    expect(await answers(otel, 'waited')).toBe(2)
    expect(total(await otel.metrics(), 'anyweb.token.requests', { 'anyweb.token.outcome': 'success' })).toBe(2)
    expect(otel.spans()).toHaveLength(2)

    // A counter never goes down: the stopped manager's answers remain in the sum, the other's go on.
    stopA()
    await a.getToken()
    await b.getToken()
    expect(await answers(otel, 'hit')).toBe(11)
    expect(await answers(otel, 'waited')).toBe(2)
  })

  it('the same manager twice on one MeterProvider is refused (it would count twice); after stop() it may be instrumented again', async () => {
    const otel = sdk()
    const m = manager()
    const stop = instrument(m, providers(otel))
    const error = (() => {
      try {
        instrument(m, providers(otel))
      } catch (caught) {
        return caught
      }
    })()
    expect(isServiceTokenError(error, 'ERR_INVALID_OPTION')).toBe(true)
    expect((error as Error).message).toMatch(/already instrumented.*stop\(\)/)
    await m.getToken()
    await m.getToken()
    expect(total(await otel.metrics(), 'anyweb.token.requests')).toBe(1)
    expect(await answers(otel, 'waited')).toBe(1)
    expect(await answers(otel, 'hit')).toBe(1)
    expect(otel.spans()).toHaveLength(1)

    stop()
    cleanups.push(instrument(m, providers(otel)))
    await m.getToken()
    expect(await answers(otel, 'hit')).toBe(2)
  })

  it('the same manager on two MeterProviders: each counts it once', async () => {
    const first = sdk()
    const second = sdk()
    const m = manager()
    cleanups.push(instrument(m, providers(first)), instrument(m, providers(second)))
    await m.getToken()
    await m.getToken()
    for (const otel of [first, second]) {
      expect(total(await otel.metrics(), 'anyweb.token.requests')).toBe(1)
      expect(await answers(otel, 'hit')).toBe(1)
    }
  })

  it('a closed manager is refused with an actionable ConfigurationError', () => {
    const otel = sdk()
    const m = manager()
    m.close()
    expect(() => instrument(m, providers(otel))).toThrow(
      expect.objectContaining({ name: 'ConfigurationError', code: 'ERR_INVALID_OPTION', option: 'manager', message: expect.stringMatching(/closed.*before close\(\)/) }),
    )
  })

  it.each([
    ['meterProvider', { meterProvider: { getMeter: () => { throw new Error('meter boom') } } as MeterProvider }],
    ['tracerProvider', { tracerProvider: { getTracer: () => { throw new Error('tracer boom') } } as TracerProvider }],
  ] as const)('a %s that throws: a ConfigurationError naming the option, the provider error as its cause; the manager is not hooked', async (option, options) => {
    const otel = sdk()
    const m = manager()
    let error: unknown
    try {
      instrument(m, { ...providers(otel), ...options })
    } catch (caught) {
      error = caught
    }
    expect(error).toMatchObject({ name: 'ConfigurationError', code: 'ERR_INVALID_OPTION', option })
    expect((error as Error).message).toContain(`\`${option}\``)
    expect(((error as Error).cause as Error).message).toMatch(/boom/)
    // Nothing was left hooked: the manager can be instrumented on that meter now.
    cleanups.push(instrument(m, providers(otel)))
    await m.getToken()
    expect(total(await otel.metrics(), 'anyweb.token.requests')).toBe(1)
  })
})
