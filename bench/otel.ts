/**
 * `npm run bench:ab -- --sdk`: one OpenTelemetry SDK registered globally for the whole process, before
 * any client is built, so that every resilientFetch with default telemetry records through it:
 * a TracerProvider (always-on sampler, BatchSpanProcessor with its default 5 s delay and 512-span
 * batches) exporting to an exporter that only counts spans; a MeterProvider whose only reader is the
 * real PrometheusExporter with `preventServerStart` (a pull reader: aggregation happens on every record,
 * serialisation only when scraped, here never); the W3C trace-context propagator and the
 * AsyncLocalStorage context manager.
 *
 * `npm run bench` does not use this: its SDK clients wire the SDK as users do, each in its own process,
 * exporting over OTLP/HTTP to another process (bench/sdk.ts).
 */
import {
  context,
  DiagConsoleLogger,
  DiagLogLevel,
  diag,
  metrics,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';

/** Exports nowhere; counts spans. */
class CountingExporter implements SpanExporter {
  spans = 0;
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.spans += spans.length;
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

export interface OtelSdk {
  /** Spans exported so far. */
  spanCount(): number;
  shutdown(): Promise<void>;
}

/** Registers the SDK globally. Call before building any client: the API has no proxy meter provider. */
export function registerSdk(): OtelSdk {
  // Dropped spans (a full BatchSpanProcessor queue) and export errors are logged at WARN.
  diag.setLogger(new DiagConsoleLogger(), DiagLogLevel.WARN);
  const exporter = new CountingExporter();
  const tracerProvider = new TracerProvider({
    sampler: new AlwaysOnSampler(),
    spanProcessors: [new BatchSpanProcessor({ exporter, scheduledDelayMillis: 5_000 })],
  });
  const meterProvider = new MeterProvider({
    readers: [new PrometheusExporter({ preventServerStart: true })],
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);
  return {
    spanCount: () => exporter.spans,
    async shutdown() {
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}
