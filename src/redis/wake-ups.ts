import type { StoredToken } from '../types.js'
import type { Connection } from './client.js'

/** A waiter armed before it looks for the token, so that a message arriving meanwhile is not missed. */
interface Armed {
  /**
   * Resolves at the message for its key (with the token it carries), after `ms`, or when `signal`
   * aborts (without), whichever comes first.
   */
  wait(ms: number, signal: AbortSignal): Promise<StoredToken | undefined>
  /** Forgets the waiter without waiting. */
  cancel(): void
}

/**
 * Wake-ups over Redis pub/sub: the process that writes a token publishes its key on one channel, and
 * every process waiting for that key looks at once instead of at its next poll. Without a subscription
 * (it failed, or is reconnecting) waiters still wake at their poll interval.
 */
function wakeUps(connection: Connection, channel: string, timeout: number, parse: (raw: unknown) => StoredToken | undefined) {
  const waiting = new Map<string, Set<(token: StoredToken | undefined) => void>>()
  let subscription: Promise<(() => void) | undefined> | undefined
  let closed = false

  /** A message is `[key, stored value]`: the waiters need no GET (a round trip) to have the token. */
  function deliver(message: string): void {
    let key: unknown
    let value: unknown
    try {
      ;[key, value] = JSON.parse(message) as unknown[]
    } catch {
      return
    }
    const wakers = typeof key === 'string' ? waiting.get(key) : undefined
    if (wakers === undefined) return
    waiting.delete(key as string)
    const token = parse(value)
    for (const wake of wakers) wake(token)
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
      let wake!: (token: StoredToken | undefined) => void
      const woken = new Promise<StoredToken | undefined>((resolve) => (wake = resolve))
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
          const onAbort = (): void => wake(undefined)
          signal.addEventListener('abort', onAbort, { once: true })
          const token = await Promise.race([woken, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)))])
          clearTimeout(timer)
          signal.removeEventListener('abort', onAbort)
          cancel()
          return token
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
