/**
 * `npm run bench -- --otel`: the cost of telemetry (issue 5) and of the hand-assembled alternative
 * (issue 7), measured with the same interleaved rounds as the main benchmark.
 *
 * One OpenTelemetry SDK is registered globally for the whole process before any client is built:
 * a TracerProvider (always-on sampler, BatchSpanProcessor with its default 5 s delay and 512-span
 * batches) exporting to an exporter that only counts spans; a MeterProvider whose only reader is the
 * real PrometheusExporter with `preventServerStart` (a pull reader: aggregation happens on every
 * record, serialisation only when scraped, here once at the end); the W3C trace-context propagator and
 * the AsyncLocalStorage context manager.
 *
 * The clients:
 *   native fetch                       Node's fetch, no instrumentation (the baseline of every ratio)
 *   resilientFetch + SDK               createResilientFetch() defaults, recording through the global SDK
 *   native fetch + undici instr.       Node's fetch, OpenTelemetry's instrumentation-undici enabled
 *   cockatiel + native fetch + instr.  the same, inside cockatiel retry + breaker + timeout
 *   resilientFetch, no-op providers    only with `--client resilient-noop`: the API's no-op tracer and
 *                                      meter passed in options, so the SDK records nothing for it
 *
 * instrumentation-undici subscribes to undici's diagnostics channels, which are global by name: enabled
 * for the whole run it would also trace the baseline and resilientFetch's own attempts. So it is
 * disabled as soon as it is built and enabled only around the runs of the two clients that use it (`beforeRun`/`afterRun`,
 * outside the measured window); every run ends with a forceFlush of the span processor, also outside
 * the window, and the spans exported since the previous run are credited to the client that just ran.
 * The span counts printed at the end are the check that the baseline produced none.
 */
import {
  context,
  createNoopMeter,
  DiagConsoleLogger,
  DiagLogLevel,
  diag,
  metrics,
  ProxyTracerProvider,
  propagation,
  trace,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { type ExportResult, ExportResultCode, W3CTraceContextPropagator } from '@opentelemetry/core';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOnSampler,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  ConsecutiveBreaker,
  circuitBreaker,
  ExponentialBackoff,
  handleAll,
  retry,
  TimeoutStrategy,
  timeout,
  wrap,
} from 'cockatiel';
import { createResilientFetch } from '../src/index.ts';
import type { Client, ClientName } from './clients.ts';
import { checkStatus, fetchClient, globalFetchClient } from './global-fetch-client.ts';

/** `--client` ids of `--otel` mode -> table name, in table order (native fetch always runs first). */
export const otelClientNames = {
  'resilient-otel': 'resilientFetch + SDK',
  'undici-otel': 'native fetch + undici instr.',
  'cockatiel-otel': 'cockatiel + native fetch + undici instr.',
  /** Not in the default set: tells the SDK's share of resilientFetch + SDK from the rest. */
  'resilient-noop': 'resilientFetch, no-op providers',
} as const;
const defaultOtelIds: readonly OtelClientId[] = ['resilient-otel', 'undici-otel', 'cockatiel-otel'];
export type OtelClientId = keyof typeof otelClientNames;
export type OtelClientName = (typeof otelClientNames)[OtelClientId];

/** Issue 5: resilientFetch with an SDK >= 0.85x native fetch, and faster than fetch + instrumentation-undici. */
/** Issue 7's targets (issue 5 asked >= 0.85x native fetch and > 1.0x fetch + instrumentation-undici). */
export const otelTargets = { vsNative: 1.0, vsUndiciInstrumentation: 1.0, vsCockatiel: 1.25 } as const;

/** Exports nowhere; counts spans per instrumentation scope. */
class CountingExporter implements SpanExporter {
  readonly byScope = new Map<string, number>();
  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    for (const span of spans) {
      const scope = span.instrumentationScope.name;
      this.byScope.set(scope, (this.byScope.get(scope) ?? 0) + 1);
    }
    done({ code: ExportResultCode.SUCCESS });
  }
  async shutdown(): Promise<void> {}
  async forceFlush(): Promise<void> {}
}

export interface SpanCount {
  readonly client: ClientName;
  /** Requests made, warm-up included. */
  readonly requests: number;
  /** Spans exported during this client's runs, by instrumentation scope. */
  readonly spans: Readonly<Record<string, number>>;
}

export interface OtelSdk {
  /** The four clients (or native fetch and those named by `ids`), native fetch first. */
  createClients(ids: readonly OtelClientId[]): Client[];
  spanCounts(): SpanCount[];
  /** Scrapes the Prometheus reader once; returns the `_count` series of the duration histograms. */
  scrape(): Promise<string[]>;
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
  const reader = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [reader] });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(tracerProvider);
  metrics.setGlobalMeterProvider(meterProvider);

  // Enabled only around its clients' runs. Not `{ enabled: false }`: in 0.34 that config also makes every
  // request handler return early, so a later enable() subscribes but records nothing. The constructor
  // subscribes; disable() at once unsubscribes.
  const instrumentation = new UndiciInstrumentation();
  instrumentation.disable();
  instrumentation.setTracerProvider(tracerProvider);
  instrumentation.setMeterProvider(meterProvider);

  const counts: { client: ClientName; requests: number; spans: Map<string, number> }[] = [];
  let seen = new Map<string, number>();

  /** Wraps a client: counts its requests; after each run, flushes spans and credits the new ones to it. */
  const counted = (client: Client, instrumented: boolean): Client => {
    const entry = { client: client.name, requests: 0, spans: new Map<string, number>() };
    counts.push(entry);
    return {
      name: client.name,
      id: client.id,
      async get(url) {
        entry.requests++;
        return client.get(url);
      },
      close: () => client.close(),
      beforeRun: instrumented ? () => instrumentation.enable() : undefined,
      async afterRun() {
        if (instrumented) instrumentation.disable();
        await tracerProvider.forceFlush();
        for (const [scope, total] of exporter.byScope) {
          const fresh = total - (seen.get(scope) ?? 0);
          if (fresh > 0) entry.spans.set(scope, (entry.spans.get(scope) ?? 0) + fresh);
        }
        seen = new Map(exporter.byScope);
      },
    };
  };

  return {
    createClients(ids) {
      const wanted = new Set<OtelClientId>(ids.length > 0 ? ids : defaultOtelIds);
      const clients: Client[] = [counted(globalFetchClient('native fetch', 'native'), false)];
      if (wanted.has('resilient-otel')) clients.push(counted(resilientClient('resilient-otel'), false));
      if (wanted.has('resilient-noop')) clients.push(counted(resilientClient('resilient-noop'), false));
      if (wanted.has('undici-otel')) clients.push(counted(instrumentedFetchClient(), true));
      if (wanted.has('cockatiel-otel')) clients.push(counted(cockatielClient(), true));
      return clients;
    },
    spanCounts: () =>
      counts.map((c) => ({ client: c.client, requests: c.requests, spans: Object.fromEntries(c.spans) })),
    async scrape() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new AggregateError(errors, 'metric collection failed');
      const text = new PrometheusSerializer().serialize(resourceMetrics);
      return text
        .split('\n')
        .filter((line) => /^(http_client_request_duration|resilient_fetch_call_duration)_count/.test(line));
    },
    async shutdown() {
      instrumentation.disable();
      await tracerProvider.shutdown();
      await meterProvider.shutdown();
      trace.disable();
      metrics.disable();
      propagation.disable();
      context.disable();
    },
  };
}

/**
 * Default options: retry, breaker, attempt timeout, deadline and health on; telemetry from the globals,
 * or (`resilient-noop`) from the API's no-op tracer and meter, the global propagator and context
 * manager still registered: what resilientFetch costs in the same process without the SDK's recording.
 */
function resilientClient(id: 'resilient-otel' | 'resilient-noop'): Client {
  const rfetch =
    id === 'resilient-otel'
      ? createResilientFetch()
      : createResilientFetch({
          telemetry: {
            tracerProvider: new ProxyTracerProvider(), // no delegate: the API's no-op tracer
            meterProvider: { getMeter: () => createNoopMeter() },
          },
        });
  return fetchClient(otelClientNames[id], id, rfetch, () => rfetch.close());
}

/** The same code as the baseline; instrumentation-undici, enabled around its runs, makes the difference. */
function instrumentedFetchClient(): Client {
  return globalFetchClient(otelClientNames['undici-otel'], 'undici-otel');
}

/**
 * What a user would assemble by hand, configured like resilientFetch's defaults: up to 3 attempts with
 * exponential backoff, a breaker opening after 5 consecutive failures for 5 minutes, a 60 s timeout
 * (`abortOnReturn: false`, or reading the body after the policy returns would fail). A 5xx is thrown
 * so that the policies see it; the body is read outside, as with fetch.
 */
function cockatielClient(): Client {
  const name = otelClientNames['cockatiel-otel'];
  const policy = wrap(
    retry(handleAll, { maxAttempts: 3, backoff: new ExponentialBackoff() }),
    circuitBreaker(handleAll, { halfOpenAfter: 300_000, breaker: new ConsecutiveBreaker(5) }),
    timeout(60_000, { strategy: TimeoutStrategy.Aggressive, abortOnReturn: false }),
  );
  return {
    name,
    id: 'cockatiel-otel',
    async get(url) {
      const res = await policy.execute(async ({ signal }) => {
        const response = await fetch(url, { signal });
        if (response.status >= 500) throw new Error(`${name}: status ${response.status}`);
        return response;
      });
      checkStatus(res.status, name);
      return (await res.arrayBuffer()).byteLength;
    },
    close: async () => {},
  };
}
