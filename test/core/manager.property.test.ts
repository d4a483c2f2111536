import fc from 'fast-check'
import { describe, expect, it, vi } from 'vitest'
import { AnyWebApiError, createTokenManager, ErrorCode, TokenRequestError } from '../../src/index.js'
import type { TokenGrant, TokenSourceContext } from '../../src/index.js'
import { flush } from '../helpers/clock.js'

/** One step of a random session against the manager. */
type Action =
  | { type: 'get'; callers: number; abort: boolean }
  | { type: 'advance'; ms: number }
  | { type: 'answer'; expiresIn: number }
  | { type: 'fail'; final: boolean; retryAfterMs: number | undefined }
  | { type: 'invalidate'; which: 'current' | 'old' }
  | { type: 'refresh' }

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('get'), callers: fc.integer({ min: 1, max: 5 }), abort: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ type: fc.constant('advance'), ms: fc.oneof(fc.integer({ min: 0, max: 3_000 }), fc.integer({ min: 0, max: 120_000 })) }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('answer'), expiresIn: fc.integer({ min: 1, max: 120 }) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('fail'),
      final: fc.boolean(),
      retryAfterMs: fc.option(fc.integer({ min: 0, max: 90_000 }), { nil: undefined }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('invalidate'), which: fc.constantFrom('current', 'old') }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('refresh') }) },
) as fc.Arbitrary<Action>

interface SourceCall {
  context: TokenSourceContext
  settled: boolean
  resolve(grant: TokenGrant): void
  reject(error: unknown): void
}

async function run(actions: Action[], seed: number): Promise<void> {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: Date.UTC(2026, 0, 1) })
  try {
    const calls: SourceCall[] = []
    const expiry = new Map<string, number>()
    let issued = 0
    let maxConcurrent = 0
    let drain = false
    let rng = seed
    const live = () => calls.filter((call) => !call.settled && !call.context.signal.aborted)
    const answer = (call: SourceCall, expiresIn: number) => {
      const token = `t${++issued}`
      // The manager anchors expiry at the moment it called the source; so does the model.
      expiry.set(token, (call as SourceCall & { at: number }).at + expiresIn * 1000)
      call.settled = true
      call.resolve({ token, expiresIn })
    }
    const manager = createTokenManager({
      source: (context) =>
        new Promise<TokenGrant>((resolve, reject) => {
          const call = { context, settled: false, resolve, reject, at: Date.now() }
          maxConcurrent = Math.max(maxConcurrent, live().length + 1)
          calls.push(call)
          if (drain) answer(call, 3600)
        }),
      random: () => {
        rng = (rng * 1103515245 + 12345) % 2 ** 31
        return rng / 2 ** 31
      },
      retry: { attempts: 2, baseDelay: 500, maxDelay: 30_000 },
      cooldown: 20_000,
      timeout: 10_000,
    })

    const outcomes: { settled: boolean; token?: string; at?: number; error?: unknown }[] = []
    const get = (signal?: AbortSignal, refresh = false) => {
      const outcome: (typeof outcomes)[number] = { settled: false }
      outcomes.push(outcome)
      const options = signal === undefined ? {} : { signal }
      ;(refresh ? manager.refresh(options) : manager.getToken(options)).then(
        (token) => Object.assign(outcome, { settled: true, token, at: Date.now() }),
        (error: unknown) => Object.assign(outcome, { settled: true, error }),
      )
    }
    const oldest = () => calls.find((call) => !call.settled)

    for (const step of actions) {
      switch (step.type) {
        case 'get': {
          const controller = new AbortController()
          for (let i = 0; i < step.callers; i++) get(step.abort && i === 0 ? controller.signal : undefined)
          await flush()
          if (step.abort) controller.abort()
          break
        }
        case 'advance':
          await vi.advanceTimersByTimeAsync(step.ms)
          break
        case 'answer': {
          const call = oldest()
          if (call) answer(call, step.expiresIn)
          break
        }
        case 'fail': {
          const call = oldest()
          if (call) {
            call.settled = true
            call.reject(
              step.final
                ? new AnyWebApiError(ErrorCode.Credentials, 'bad', { serverCode: 'A108P004', serverMessage: '', retryable: false })
                : new TokenRequestError(ErrorCode.Http, '503', step.retryAfterMs === undefined ? {} : { retryAfterMs: step.retryAfterMs }),
            )
          }
          break
        }
        case 'invalidate':
          manager.invalidate(step.which === 'current' ? (manager.peek()?.token ?? 'none') : 't1')
          break
        case 'refresh':
          get(undefined, true)
          break
      }
      await flush()
      expect(maxConcurrent, 'at most one token request in flight').toBeLessThanOrEqual(1)
    }

    // The provider recovers for new requests; those still pending never answer (hangs), so only the
    // manager's own timeout can settle them. Time passes: cooldown, backoff and timeouts run out.
    drain = true
    for (let i = 0; i < 10; i++) await vi.advanceTimersByTimeAsync(15_000)
    await flush()

    expect(maxConcurrent).toBeLessThanOrEqual(1)
    for (const outcome of outcomes) {
      expect(outcome.settled, 'every call settles').toBe(true)
      if (outcome.token !== undefined) {
        expect(outcome.at!, `never an expired token (${outcome.token})`).toBeLessThan(expiry.get(outcome.token)!)
      }
    }
    manager.close()
  } finally {
    vi.useRealTimers()
  }
}

describe('token manager against a model (fast-check)', () => {
  it('never serves an expired token, keeps one request in flight, and settles every call', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 60 }), fc.integer({ min: 1, max: 2 ** 30 }), run),
      { numRuns: 3000 },
    )
  })
})
