/**
 * `instrument(manager)`: a manager's events and internal signals turned into OTel metrics and spans.
 * @packageDocumentation
 */
import { metrics, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api'
import type { Attributes, Meter, MeterProvider, ObservableResult, Span, TracerProvider } from '@opentelemetry/api'
import { ConfigurationError, ErrorCode } from '../errors.js'
import { closedOf, observeThrough } from '../ready-token.js'
import type { RefreshCause, Signal } from '../ready-token.js'
import type { TokenManager } from '../types.js'
import { errorType } from './error-type.js'
import { ATTR, createInstruments } from './metrics.js'
import type { Instruments } from './metrics.js'

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
 * What every manager instrumented on one meter shares: the instruments, and the cache answers of all of
 * them, counted in plain numbers on the hot path and reported by one callback. The SDK keeps one value
 * per series and observation: a callback per manager would report only the last manager's count.
 */
interface MeterState {
  readonly m: Instruments
  readonly answers: { hits: number; waits: number }
  /** The managers instrumented on this meter and not stopped: instrumenting one twice would count it twice. */
  readonly managers: WeakSet<TokenManager>
}

/** One state per meter; a meter let go by its provider takes its state with it. */
const states = new WeakMap<Meter, MeterState>()

function stateOf(meter: Meter): MeterState {
  let state = states.get(meter)
  if (state === undefined) {
    const answers = { hits: 0, waits: 0 }
    state = { m: createInstruments(meter), answers, managers: new WeakSet() }
    // Counts only grow, stopped managers' included: the sum stays monotonic, as a counter's must.
    state.m.cacheAnswers.addCallback((result: ObservableResult) => {
      result.observe(answers.hits, HIT)
      result.observe(answers.waits, WAITED)
    })
    states.set(meter, state)
  }
  return state
}

/** A ConfigurationError about instrument()'s `option`, saying `why`. */
function refused(option: keyof InstrumentOptions | 'manager', why: string, cause?: unknown): ConfigurationError {
  return new ConfigurationError(option, `Invalid argument \`${option}\` of instrument(manager, options?): ${why}`, { cause })
}

/** `make()`, its error (a faulty provider) turned into a ConfigurationError about `option`. */
function fromProvider<T>(option: keyof InstrumentOptions, make: () => T): T {
  try {
    return make()
  } catch (cause) {
    throw refused(option, 'the provider (or the global one) threw, see `cause`. Pass a provider of the OTel SDK.', cause)
  }
}

/** Whether `span` is an HTTP client span: the API's `Span` has no `kind`, the SDK's spans do. */
function isClientSpan(span: Span | undefined): span is Span {
  return (span as { kind?: unknown } | undefined)?.kind === SpanKind.CLIENT
}

/**
 * Wires `manager` (and so every adapter that uses it) to OpenTelemetry: metrics of its token requests,
 * refreshes, cache answers, invalidations, replays, auth errors and store, and one span per token
 * request. A replayed request gets `http.request.resend_count` on the caller's active span when that
 * is a CLIENT span. Several managers may share one provider: their metrics add up. No token and no
 * secret ever goes into an attribute, a span or a metric. Returns `stop()`, which unhooks it.
 *
 * @throws {ConfigurationError} `ERR_INVALID_OPTION` when `manager` was not made by `createTokenManager`,
 * is closed, or is already instrumented on the same meter (call its `stop()` first); when a provider
 * throws (its error is the `cause`).
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
  const closed = closedOf(manager)
  if (closed === undefined) throw refused('manager', 'pass a manager made by createTokenManager().')
  if (closed) throw refused('manager', 'the manager is closed; instrument it before close().')
  const state = fromProvider('meterProvider', () => stateOf((options.meterProvider ?? metrics.getMeterProvider()).getMeter(SCOPE)))
  const tracer = fromProvider('tracerProvider', () => (options.tracerProvider ?? trace.getTracerProvider()).getTracer(SCOPE))
  const { m, answers, managers } = state
  if (managers.has(manager)) {
    throw refused('manager', 'the manager is already instrumented on this MeterProvider (it would count twice): call the stop() instrument() returned first.')
  }
  /** The cause of the refresh under way: the manager runs one at a time, and its token requests belong to it. */
  let cause: RefreshCause = 'cold'
  /** The token request under way (attempts follow one another). */
  let open: { span: Span; startedAt: number } | undefined

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
        // Cache answers come on the hot path, once per request: plain numbers, read at collection (an SDK
        // counter's add costs several times the getToken() it would count).
        if (signal.waited) answers.waits++
        else answers.hits++
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
        // Called in the caller's context, just before the resend. OTel's HTTP conventions put the count
        // on the client span of the request: a server or internal span (the caller's handler) gets none.
        return resent(trace.getActiveSpan())
      case 'store-failure':
        return m.storeErrors.add(1, { [ATTR.storeOperation]: signal.operation, [ATTR.errorType]: errorType(signal.error) })
      case 'lock-wait':
        return m.lockWaits.add(1)
    }
  }

  function resent(span: Span | undefined): void {
    if (isClientSpan(span)) span.setAttribute(ATTR.resendCount, 1)
    m.replays.add(1)
  }

  const unobserve = observeThrough(manager, observe)!
  managers.add(manager)
  let stopped = false
  return function stop(): void {
    if (stopped) return
    stopped = true
    unobserve()
    managers.delete(manager)
    // A token request under way when stopped is not followed further: its span ends here.
    open?.span.end()
    open = undefined
  }
}

export { instrument }
export type { InstrumentOptions }
