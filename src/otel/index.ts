/**
 * anyweb-service-token/otel: OpenTelemetry metrics and spans for a token manager and its adapters.
 * `@opentelemetry/api` is an optional peer dependency, needed by this entry only.
 *
 * @example
 * ```ts
 * import { instrument } from 'anyweb-service-token/otel'
 * const stop = instrument(manager) // the global MeterProvider and TracerProvider
 * ```
 * @packageDocumentation
 */
export { instrument } from './instrument.js'
export type { InstrumentOptions } from './instrument.js'
