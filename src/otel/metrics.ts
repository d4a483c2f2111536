/**
 * The metrics `instrument` exports: their names, units and attributes (docs/observability.md lists
 * them), made on one meter.
 * @packageDocumentation
 */
import type { Counter, Histogram, Meter, ObservableCounter } from '@opentelemetry/api'

/** Attribute names. Every value is one of a few fixed strings: low cardinality, never a token or a secret. */
const ATTR = {
  errorType: 'error.type',
  outcome: 'anyweb.token.outcome',
  reason: 'anyweb.token.refresh.reason',
  attempt: 'anyweb.token.attempt',
  cacheResult: 'anyweb.token.cache.result',
  invalidation: 'anyweb.token.invalidation.outcome',
  authErrorKind: 'anyweb.token.auth_error.kind',
  storeOperation: 'anyweb.token.store.operation',
  resendCount: 'http.request.resend_count',
} as const

/** The bucket boundaries of the HTTP client duration in OTel's semantic conventions, in seconds. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]

interface Instruments {
  requests: Counter
  requestDuration: Histogram
  refreshes: Counter
  /** Asynchronous: answers are counted in plain numbers on the hot path and read at each collection. */
  cacheAnswers: ObservableCounter
  invalidations: Counter
  replays: Counter
  authErrors: Counter
  storeErrors: Counter
  lockWaits: Counter
}

function createInstruments(meter: Meter): Instruments {
  return {
    requests: meter.createCounter('anyweb.token.requests', { unit: '{request}', description: 'Token requests made to the provider, by outcome.' }),
    requestDuration: meter.createHistogram('anyweb.token.request.duration', {
      unit: 's',
      description: 'How long token requests to the provider took.',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    refreshes: meter.createCounter('anyweb.token.refreshes', { unit: '{refresh}', description: 'Refreshes (one per flight, shared by every caller), by reason.' }),
    cacheAnswers: meter.createObservableCounter('anyweb.token.cache.answers', { unit: '{answer}', description: 'Tokens handed to callers: from the cache at once, or after waiting for a refresh.' }),
    invalidations: meter.createCounter('anyweb.token.invalidations', { unit: '{invalidation}', description: 'Calls of invalidate(), by outcome.' }),
    replays: meter.createCounter('anyweb.token.replays', { unit: '{request}', description: 'Requests an adapter sent once more with a renewed token after an auth error.' }),
    authErrors: meter.createCounter('anyweb.token.auth_errors', { unit: '{error}', description: 'Answers adapters took for a refusal of the token, by kind.' }),
    storeErrors: meter.createCounter('anyweb.token.store.errors', { unit: '{error}', description: 'Store calls that failed or timed out.' }),
    lockWaits: meter.createCounter('anyweb.token.store.lock_waits', { unit: '{wait}', description: 'Times a shared store found another manager refreshing and waited for its token.' }),
  }
}

export { ATTR, createInstruments }
export type { Instruments }
