/**
 * The OpenTelemetry SDK of a client's process, wired the way users wire it: `startTelemetry()` from
 * `resilient-fetch/otel` (src/otel.ts: NodeSDK with a BatchSpanProcessor exporting over OTLP/HTTP, the
 * W3C propagator, AsyncLocalStorage context, always-on sampling, no logs), exporting to the receiver
 * process (bench/receiver.ts), which accepts and discards.
 *
 *   otlp         traces and metrics over OTLP/HTTP; metrics pushed every 1 s, so their export cost shows
 *   prometheus   traces over OTLP/HTTP; metrics on a Prometheus endpoint the receiver scrapes every 1 s
 *   otlp+undici  `otlp`, plus OpenTelemetry's instrumentation-undici (what a user of native fetch enables)
 *
 * Import only after Node's fetch made its first call: src/otel.ts may load npm undici (bench/clients.ts).
 */
import { entryUrl, type LibrarySource, type OtelModule } from './library.ts';
import type { SdkKind } from './lineup.ts';

export interface SdkSettings {
  /** Where `resilient-fetch/otel` is loaded from (bench/library.ts). */
  readonly library: LibrarySource;
  readonly serviceName: string;
  /** The receiver's base URL (`/v1/traces`, `/v1/metrics` are appended). */
  readonly otlpUrl: string;
  /** A free port for the Prometheus endpoint (the exporter cannot listen on port 0). */
  readonly promPort: number | undefined;
}

export interface WorkerSdk {
  /** Exports the spans the batch processor holds (not the metrics: their reader keeps its 1 s rhythm). */
  flushSpans(): Promise<void>;
  /** Diagnostics the SDK logged at WARN or above (dropped spans, failed exports), the first few in full. */
  readonly warnings: { count: number; first: string[] };
  /** The Prometheus page to scrape, for `prometheus`. */
  readonly prometheusUrl: string | undefined;
  shutdown(): Promise<void>;
}

export const metricExportIntervalMs = 1_000;

export async function startSdk(kind: SdkKind, settings: SdkSettings): Promise<WorkerSdk | undefined> {
  if (kind === 'none') return undefined;
  const { diag, DiagLogLevel, trace } = await import('@opentelemetry/api');
  const warnings = { count: 0, first: [] as string[] };
  const note = (message: string, ...args: unknown[]) => {
    warnings.count++;
    if (warnings.first.length < 5) warnings.first.push([message, ...args.map(String)].join(' '));
  };
  diag.setLogger(
    { error: note, warn: note, info: () => {}, debug: () => {}, verbose: () => {} },
    DiagLogLevel.WARN,
  );

  const { startTelemetry } = (await import(entryUrl(settings.library, 'otel'))) as OtelModule;
  const instrumentations =
    kind === 'otlp+undici'
      ? [new (await import('@opentelemetry/instrumentation-undici')).UndiciInstrumentation()]
      : [];
  const handle = startTelemetry({
    serviceName: settings.serviceName,
    endpoint: settings.otlpUrl,
    metrics: kind === 'prometheus' ? 'prometheus' : 'otlp',
    metricExportIntervalMs,
    ...(kind === 'prometheus' && settings.promPort !== undefined
      ? { prometheus: { host: '127.0.0.1', port: settings.promPort } }
      : {}),
    instrumentations,
  });
  await handle.ready;

  // The SDK's TracerProvider behind the API's global proxy: its forceFlush() flushes the span processor.
  const provider = trace.getTracerProvider() as { getDelegate?(): { forceFlush?(): Promise<void> } };
  const tracerProvider = provider.getDelegate?.();
  if (typeof tracerProvider?.forceFlush !== 'function') {
    throw new Error('bench/sdk: the SDK registered no tracer provider with forceFlush()');
  }
  return {
    flushSpans: () => tracerProvider.forceFlush?.() ?? Promise.resolve(),
    warnings,
    prometheusUrl: handle.prometheusUrl,
    shutdown: () => handle.shutdown(),
  };
}
