/**
 * The real OTel SDK wired to in-memory exporters, and readers of what they exported.
 */
import { inspect } from 'node:util'
import type { Attributes } from '@opentelemetry/api'
import { AggregationTemporality, DataPointType, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics'
import type { MetricData } from '@opentelemetry/sdk-metrics'
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base'
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base'

interface Sdk {
  meterProvider: MeterProvider
  tracerProvider: BasicTracerProvider
  /** Exports the metrics now and returns every metric of the last export (cumulative). */
  metrics(): Promise<MetricData[]>
  /** The spans exported so far. */
  spans(): ReadableSpan[]
  /** Everything exported so far, metrics and spans, as one text (to search it for secrets). */
  everything(): Promise<string>
  shutdown(): Promise<void>
}

function createSdk(): Sdk {
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE)
  // Exports only when asked (forceFlush): the interval is longer than any test.
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 })
  const meterProvider = new MeterProvider({ readers: [reader] })
  const spanExporter = new InMemorySpanExporter()
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] })
  const metrics = async (): Promise<MetricData[]> => {
    await reader.forceFlush()
    const exports = metricExporter.getMetrics()
    return exports.at(-1)?.scopeMetrics.flatMap((scope) => scope.metrics) ?? []
  }
  return {
    meterProvider,
    tracerProvider,
    metrics,
    spans: () => spanExporter.getFinishedSpans(),
    async everything() {
      await reader.forceFlush()
      return inspect([metricExporter.getMetrics(), spanExporter.getFinishedSpans()], { depth: Infinity, maxArrayLength: Infinity, maxStringLength: Infinity })
    },
    async shutdown() {
      await meterProvider.shutdown()
      await tracerProvider.shutdown()
    },
  }
}

/** Whether a data point's attributes include every one of `wanted`. */
function matches(attributes: Attributes, wanted: Attributes): boolean {
  return Object.entries(wanted).every(([key, value]) => attributes[key] === value)
}

/** The sum of a counter's points (or a histogram's counts) whose attributes include `wanted`; 0 when none. */
function total(metrics: MetricData[], name: string, wanted: Attributes = {}): number {
  const metric = metrics.find((candidate) => candidate.descriptor.name === name)
  if (metric === undefined) return 0
  let sum = 0
  for (const point of metric.dataPoints) {
    if (!matches(point.attributes, wanted)) continue
    sum += metric.dataPointType === DataPointType.HISTOGRAM ? (point.value as { count: number }).count : (point.value as number)
  }
  return sum
}

/** Every attribute set a metric was recorded with. */
function attributeSets(metrics: MetricData[], name: string): Attributes[] {
  return metrics.find((candidate) => candidate.descriptor.name === name)?.dataPoints.map((point) => point.attributes) ?? []
}

export { attributeSets, createSdk, total }
export type { Sdk }
