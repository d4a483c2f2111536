import type { Connection } from './client.js'

/** A waiter armed before it looks for the token, so that a message arriving meanwhile is not missed. */
interface Armed {
  /** Resolves at the message for its key, after `ms`, or when `signal` aborts, whichever comes first. */
  wait(ms: number, signal: AbortSignal): Promise<void>
  /** Forgets the waiter without waiting. */
  cancel(): void
}

/**
 * Wake-ups over Redis pub/sub: the process that writes a token publishes its key on one channel, and
 * every process waiting for that key looks at once instead of at its next poll. Without a subscription
 * (it failed, or is reconnecting) waiters still wake at their poll interval.
 */
function wakeUps(connection: Connection, channel: string, timeout: number) {
  const waiting = new Map<string, Set<() => void>>()
  let subscription: Promise<(() => void) | undefined> | undefined
  let closed = false

  function deliver(key: string): void {
    const wakers = waiting.get(key)
    if (wakers === undefined) return
    waiting.delete(key)
    for (const wake of wakers) wake()
  }

  return {
    /** Subscribes once (retried after a failure); resolves within `timeout` either way. */
    async subscribe(): Promise<void> {
      if (closed) return
      subscription ??= connection.subscribe(channel, deliver).then(
        (unsubscribe) => {
          if (closed) unsubscribe()
          return unsubscribe
        },
        () => {
          subscription = undefined
          return undefined
        },
      )
      let timer: ReturnType<typeof setTimeout> | undefined
      // A subscription that does not answer in time leaves the waiters polling; it may still complete.
      await Promise.race([subscription, new Promise((resolve) => (timer = setTimeout(resolve, timeout)))])
      clearTimeout(timer)
    },
    arm(key: string): Armed {
      let wake!: () => void
      const woken = new Promise<void>((resolve) => (wake = resolve))
      const wakers = waiting.get(key) ?? new Set()
      waiting.set(key, wakers.add(wake))
      const cancel = (): void => {
        wakers.delete(wake)
        if (wakers.size === 0 && waiting.get(key) === wakers) waiting.delete(key)
      }
      return {
        cancel,
        async wait(ms, signal) {
          let timer: ReturnType<typeof setTimeout> | undefined
          const onAbort = (): void => wake()
          signal.addEventListener('abort', onAbort, { once: true })
          await Promise.race([woken, new Promise((resolve) => (timer = setTimeout(resolve, ms)))])
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          cancel()
        },
      }
    },
    close(): void {
      closed = true
      void subscription?.then((unsubscribe) => unsubscribe?.())
    },
  }
}

export { wakeUps }
