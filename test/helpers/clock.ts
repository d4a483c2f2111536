import { afterEach, vi } from 'vitest'

/**
 * A fake clock for timing rules: Date and setTimeout are faked together, so the manager's injected
 * `now` and its timers move only when the test says so.
 */
function useFakeClock(start = Date.UTC(2026, 0, 1)): { now: () => number; advance: (ms: number) => Promise<void> } {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: start })
  afterEach(() => {
    vi.useRealTimers()
  })
  return {
    now: () => Date.now(),
    advance: async (ms) => {
      await vi.advanceTimersByTimeAsync(ms)
    },
  }
}

/** Lets pending promise callbacks run (several turns, as chains of awaits need). */
async function flush(turns = 20): Promise<void> {
  for (let i = 0; i < turns; i++) await Promise.resolve()
}

export { flush, useFakeClock }
