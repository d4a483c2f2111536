/**
 * `instrument(manager)`: a manager's events and internal signals turned into OTel metrics and spans.
 * @packageDocumentation
 */
import { metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Attributes, MeterProvider, ObservableResult, Span, TracerProvider } from '@opentelemetry/api'
import { ConfigurationError, ErrorCode } from '../errors.js'
import { observeThrough } from '../ready-token.js'
import type { RefreshCause, Signal } from '../ready-token.js'
import type { TokenManager } from '../types.js'
import { errorType } from './error-type.js'
import { ATTR, createInstruments } from './metrics.js'

/** The instrumentation scope of the meter and the tracer. */
const SCOPE = 'anyweb-service-token'
const SPAN_NAME = 'anyweb.token.request'

/**
 * Options of {@link instrument}.
 *
 * @example
 * ```ts
 * import { MeterProvider } from '@opentelemetry/sdk-metrics'
 * import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base'
 * import { instrument } from 'anyweb-service-token/otel'
 *
 * const stop = instrument(manager, { meterProvider: new MeterProvider(), tracerProvider: new BasicTracerProvider() })
 * ```
 */
interface InstrumentOptions {
  /**
   * Where the metrics go.
   * @default the global one, `metrics.getMeterProvider()` of `@opentelemetry/api`
   */
  meterProvider?: MeterProvider
  /**
   * Where the token request spans go.
   * @default the global one, `trace.getTracerProvider()` of `@opentelemetry/api`
   */
  tracerProvider?: TracerProvider
}

/** Attribute sets made once. */
const HIT: Attributes = Object.freeze({ [ATTR.cacheResult]: 'hit' })
const WAITED: Attributes = Object.freeze({ [ATTR.cacheResult]: 'waited' })
const SUCCESS: Attributes = Object.freeze({ [ATTR.outcome]: 'success' })
const MATCHED: Attributes = Object.freeze({ [ATTR.invalidation]: 'matched' })
const CLOSED = { code: ErrorCode.Closed }

/**
 * Wires `manager` (and so every adapter that uses it) to OpenTelemetry: metrics of its token requests,
 * refreshes, cache answers, invalidations, replays, auth errors and store, and one span per token
 * request. A replayed request gets `http.request.resend_count` on the caller's active span. No token
 * and no secret ever goes into an attribute, a span or a metric. Returns `stop()`, which unhooks it.
 *
 * @throws {ConfigurationError} `ERR_INVALID_OPTION` when `manager` was not made by `createTokenManager`.
 * @example
 * ```ts
 * import { createTokenManager } from 'anyweb-service-token'
 * import { instrument } from 'anyweb-service-token/otel'
 *
 * const manager = createTokenManager({ appid: process.env.ANYWEB_APPID!, secret: process.env.ANYWEB_SECRET! })
 * // The global MeterProvider and TracerProvider, as registered by the OTel SDK set-up.
 * const stop = instrument(manager)
 * // … later, at shutdown:
 * stop()
 * ```
 */
function instrument(manager: TokenManager, options: InstrumentOptions = {}): () => void {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE)
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE)
  const m = createInstruments(meter)
  /** The cause of the refresh under way: the manager runs one at a time, and its token requests belong to it. */
  let cause: RefreshCause = 'cold'
  /** The token request under way (attempts follow one another). */
  let open: { span: Span; startedAt: number } | undefined
  // Cache answers come on the hot path, once per request: counted here, handed to the SDK at collection
  // (an SDK counter's add costs several times the getToken() it would count).
  let hits = 0
  let waits = 0
  const reportAnswers = (result: ObservableResult): void => {
    result.observe(hits, HIT)
    result.observe(waits, WAITED)
  }
  m.cacheAnswers.addCallback(reportAnswers)

  function startRequest(attempt: number): void {
    open?.span.end()
    const span = tracer.startSpan(SPAN_NAME, { kind: SpanKind.INTERNAL, attributes: { [ATTR.reason]: cause, [ATTR.attempt]: attempt } })
    open = { span, startedAt: performance.now() }
  }

  function endRequest(error?: unknown): void {
    if (open === undefined) return
    const { span, startedAt } = open
    open = undefined
    const attributes = error === undefined ? SUCCESS : { [ATTR.outcome]: 'failure', [ATTR.errorType]: errorType(error) }
    m.requests.add(1, attributes)
    m.requestDuration.record((performance.now() - startedAt) / 1000, attributes)
    if (error !== undefined) {
      span.setAttribute(ATTR.errorType, attributes[ATTR.errorType]!)
      span.setStatus({ code: SpanStatusCode.ERROR })
    }
    span.end()
  }

  function observe(signal: Signal): void {
    switch (signal.type) {
      case 'cache-answer':
        if (signal.waited) waits++
        else hits++
        return
      case 'refresh':
        cause = signal.cause
        return m.refreshes.add(1, { [ATTR.reason]: signal.cause })
      case 'token-request':
        return startRequest(signal.attempt)
      case 'token-refreshed':
        return endRequest()
      case 'token-request-failed':
        return endRequest(signal.error)
      case 'token-request-closed':
        return endRequest(CLOSED)
      case 'token-invalidated':
        return m.invalidations.add(1, MATCHED)
      case 'invalidation':
        return m.invalidations.add(1, { [ATTR.invalidation]: signal.outcome })
      case 'auth-error':
        return m.authErrors.add(1, { [ATTR.authErrorKind]: signal.kind })
      case 'replay':
        // Called in the caller's context, just before the resend: its active span is the request's.
        trace.getActiveSpan()?.setAttribute(ATTR.resendCount, 1)
        return m.replays.add(1)
      case 'store-failure':
        return m.storeErrors.add(1, { [ATTR.storeOperation]: signal.operation, [ATTR.errorType]: errorType(signal.error) })
      case 'lock-wait':
        return m.lockWaits.add(1)
    }
  }

  const unobserve = observeThrough(manager, observe)
  if (unobserve === undefined) {
    m.cacheAnswers.removeCallback(reportAnswers)
    throw new ConfigurationError('manager', 'Invalid argument `manager`: instrument(manager, options?) takes a manager made by createTokenManager().')
  }
  let stopped = false
  return function stop(): void {
    if (stopped) return
    stopped = true
    unobserve()
    m.cacheAnswers.removeCallback(reportAnswers)
    // A token request under way when stopped is not followed further: its span ends here.
    open?.span.end()
    open = undefined
  }
}

export { instrument }
export type { InstrumentOptions }
