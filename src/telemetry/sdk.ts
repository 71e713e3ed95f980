/**
 * `resilient-fetch/otel`: optional OpenTelemetry SDK wiring, the only module importing the SDK packages.
 *
 * The core records spans and metrics through `@opentelemetry/api` alone; this entry starts the Node SDK
 * that turns them into exports: spans over OTLP/HTTP (JSON) through a BatchSpanProcessor, metrics on a
 * Prometheus scrape endpoint and/or pushed over OTLP/HTTP. No logs, no auto-instrumentation unless given.
 *
 * Loading it costs tens of MiB of RSS (measured +26 MiB here; the SDK pulls in grpc and protobufjs), which
 * is why the core never imports it. Its SDK packages are optional peer dependencies:
 * `npm i @opentelemetry/sdk-node @opentelemetry/sdk-trace @opentelemetry/sdk-metrics
 * @opentelemetry/exporter-trace-otlp-http @opentelemetry/exporter-metrics-otlp-http
 * @opentelemetry/exporter-prometheus`.
 */
import { context, diag, logs, metrics, propagation, trace } from '@opentelemetry/api';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK, type NodeSDKConfiguration } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace';
import {
  checkKnownKeys,
  checkNonBlank,
  checkNumber,
  describeValue,
  fail,
  isPlainObject,
  maxTimerMs,
} from '../options/validate.ts';

/** Where metrics go: a Prometheus scrape endpoint, OTLP/HTTP pushes, both, or nowhere. */
export type MetricsExport = 'prometheus' | 'otlp' | 'both' | 'none';

/** The Prometheus scrape endpoint (served by `@opentelemetry/exporter-prometheus`). */
export interface PrometheusOptions {
  /**
   * Interface to listen on. Set `'0.0.0.0'` to be scraped from outside the host (containers).
   * @default OTEL_EXPORTER_PROMETHEUS_HOST, else 'localhost' (the exporter's default)
   */
  host?: string | undefined;
  /**
   * Port to listen on. The exporter cannot listen on port 0 (it treats 0 as "use the default").
   * @default OTEL_EXPORTER_PROMETHEUS_PORT, else 9464
   */
  port?: number | undefined;
  /**
   * Path of the metrics page.
   * @default '/metrics'
   */
  endpoint?: string | undefined;
}

/** Options of `startTelemetry()`. Every field is optional; unset fields fall back to the OTEL_* variables. */
export interface OtelOptions {
  /**
   * The resource's `service.name`.
   * @default OTEL_SERVICE_NAME, else the SDK's `unknown_service:node`
   */
  serviceName?: string | undefined;
  /**
   * Base URL of the OTLP/HTTP receiver (`/v1/traces` and `/v1/metrics` are appended).
   * @default OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_METRICS_ENDPOINT (used as they are),
   * else OTEL_EXPORTER_OTLP_ENDPOINT, else 'http://localhost:4318'
   */
  endpoint?: string | undefined;
  /**
   * Where metrics go.
   * @default from OTEL_METRICS_EXPORTER (`otlp`, `prometheus`, `otlp,prometheus`, `none`), else 'otlp'
   */
  metrics?: MetricsExport | undefined;
  /** The Prometheus endpoint, when `metrics` is `'prometheus'` or `'both'`. */
  prometheus?: PrometheusOptions | undefined;
  /**
   * How often metrics are pushed over OTLP.
   * @default OTEL_METRIC_EXPORT_INTERVAL, else 60_000
   */
  metricExportIntervalMs?: number | undefined;
  /**
   * How long the BatchSpanProcessor gathers spans before it exports a batch.
   * @default OTEL_BSP_SCHEDULE_DELAY, else 5_000
   */
  spanExportDelayMs?: number | undefined;
  /**
   * Instrumentations to enable (for example `getNodeAutoInstrumentations()`). None by default: our own
   * spans cover fetch. With instrumentation-undici active the core suppresses its second span.
   * @default []
   */
  instrumentations?: NodeSDKConfiguration['instrumentations'] | undefined;
}

/** What `startTelemetry()` returns. */
export interface TelemetryHandle {
  /** The Prometheus page, e.g. `http://localhost:9464/metrics`, or `undefined` without one. */
  readonly prometheusUrl: string | undefined;
  /**
   * Settles when the Prometheus endpoint listens (at once without one); rejects with the listen error
   * (a port in use). Not awaiting it is safe: the error is also reported through OpenTelemetry's `diag`.
   */
  readonly ready: Promise<void>;
  /** Exports the spans and OTLP metrics gathered so far. */
  forceFlush(): Promise<void>;
  /**
   * Flushes, stops the exporters and the Prometheus server, and unregisters the global providers, so
   * `startTelemetry()` can be called again in the same process. Calling it twice is harmless. Rejects
   * when the last export fails (no receiver listening); everything is stopped and unregistered anyway.
   */
  shutdown(): Promise<void>;
}

const metricsExports: readonly MetricsExport[] = ['prometheus', 'otlp', 'both', 'none'];
const optionNames = [
  'serviceName',
  'endpoint',
  'metrics',
  'prometheus',
  'metricExportIntervalMs',
  'spanExportDelayMs',
  'instrumentations',
] as const satisfies ReadonlyArray<keyof OtelOptions>;
const prometheusNames = ['host', 'port', 'endpoint'] as const satisfies ReadonlyArray<
  keyof PrometheusOptions
>;

/** A non-blank string, returned. */
function checkString(value: unknown, path: string): string {
  checkNonBlank(value, path);
  return value as string;
}

/** An integer in [min, max], returned. */
function checkInteger(value: unknown, path: string, min: number, max: number): number {
  checkNumber(min, true, max)(value, path);
  return value as number;
}

function checkUrl(value: unknown, path: string): string {
  const url = URL.parse(checkString(value, path));
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    fail(TypeError, path, 'an http: or https: URL', value);
  }
  return (value as string).replace(/\/+$/, '');
}

/** A number from an environment variable, validated like an option named after the variable. */
function fromEnv(name: string, min: number, max: number): number | undefined {
  const raw = process.env[name]?.trim();
  if (!raw) return undefined;
  const value = Number(raw);
  return checkInteger(Number.isNaN(value) ? raw : value, name, min, max);
}

/** `OTEL_METRICS_EXPORTER` as a MetricsExport (`console` is not offered here). */
function metricsFromEnv(): MetricsExport {
  const raw = process.env.OTEL_METRICS_EXPORTER?.trim();
  if (!raw) return 'otlp';
  const names = new Set(raw.split(',').map((name) => name.trim().toLowerCase()));
  if (names.has('none')) return 'none';
  const unknown = [...names].filter((name) => name !== 'otlp' && name !== 'prometheus');
  if (unknown.length > 0) fail(RangeError, 'OTEL_METRICS_EXPORTER', 'otlp, prometheus or none', raw);
  if (names.has('otlp') && names.has('prometheus')) return 'both';
  return names.has('prometheus') ? 'prometheus' : 'otlp';
}

interface ResolvedOtel {
  readonly serviceName: string | undefined;
  readonly endpoint: string | undefined;
  readonly metrics: MetricsExport;
  readonly prometheus: { readonly host: string; readonly port: number; readonly endpoint: string };
  readonly metricExportIntervalMs: number;
  readonly spanExportDelayMs: number;
  readonly instrumentations: NodeSDKConfiguration['instrumentations'];
}

/** Validates the options once and fills every field from the options, the environment, or a default. */
export function resolveOtelOptions(user: OtelOptions = {}): ResolvedOtel {
  if (!isPlainObject(user)) {
    throw new TypeError(`resilient-fetch: options must be an object, received ${describeValue(user)}`);
  }
  checkKnownKeys(user, '', optionNames);
  const options: OtelOptions = user;
  const { serviceName, endpoint, metrics: metricsExport, prometheus = {} } = options;
  if (metricsExport !== undefined && !metricsExports.includes(metricsExport)) {
    fail(RangeError, 'metrics', `one of ${metricsExports.map((m) => `'${m}'`).join(', ')}`, metricsExport);
  }
  if (!isPlainObject(prometheus)) fail(TypeError, 'prometheus', 'an object', prometheus);
  checkKnownKeys(prometheus, 'prometheus', prometheusNames);
  const path =
    prometheus.endpoint === undefined ? '/metrics' : checkString(prometheus.endpoint, 'prometheus.endpoint');
  if (!path.startsWith('/')) fail(TypeError, 'prometheus.endpoint', 'a path starting with /', path);
  const { instrumentations = [] } = options;
  if (!Array.isArray(instrumentations)) fail(TypeError, 'instrumentations', 'an array', instrumentations);
  return {
    serviceName: serviceName === undefined ? undefined : checkString(serviceName, 'serviceName'),
    endpoint: endpoint === undefined ? undefined : checkUrl(endpoint, 'endpoint'),
    metrics: metricsExport ?? metricsFromEnv(),
    prometheus: {
      host:
        prometheus.host === undefined
          ? process.env.OTEL_EXPORTER_PROMETHEUS_HOST?.trim() || PrometheusExporter.DEFAULT_OPTIONS.host
          : checkString(prometheus.host, 'prometheus.host'),
      port:
        prometheus.port === undefined
          ? (fromEnv('OTEL_EXPORTER_PROMETHEUS_PORT', 1, 65_535) ?? PrometheusExporter.DEFAULT_OPTIONS.port)
          : checkInteger(prometheus.port, 'prometheus.port', 1, 65_535),
      endpoint: path,
    },
    metricExportIntervalMs:
      options.metricExportIntervalMs === undefined
        ? (fromEnv('OTEL_METRIC_EXPORT_INTERVAL', 1, maxTimerMs) ?? 60_000)
        : checkInteger(options.metricExportIntervalMs, 'metricExportIntervalMs', 1, maxTimerMs),
    spanExportDelayMs:
      options.spanExportDelayMs === undefined
        ? (fromEnv('OTEL_BSP_SCHEDULE_DELAY', 0, maxTimerMs) ?? 5_000)
        : checkInteger(options.spanExportDelayMs, 'spanExportDelayMs', 0, maxTimerMs),
    instrumentations,
  };
}

/** The metric readers `resolved.metrics` asks for: OTLP pushes, a Prometheus endpoint, both, none. */
function createReaders(resolved: ResolvedOtel) {
  const readers: NonNullable<NodeSDKConfiguration['metricReaders']> = [];
  let otlpReader: PeriodicExportingMetricReader | undefined;
  if (resolved.metrics === 'otlp' || resolved.metrics === 'both') {
    otlpReader = new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter(resolved.endpoint ? { url: `${resolved.endpoint}/v1/metrics` } : {}),
      exportIntervalMillis: resolved.metricExportIntervalMs,
      exportTimeoutMillis: Math.min(30_000, resolved.metricExportIntervalMs),
    });
    readers.push(otlpReader);
  }
  let prometheusUrl: string | undefined;
  let ready = Promise.resolve();
  if (resolved.metrics === 'prometheus' || resolved.metrics === 'both') {
    const { host, port, endpoint } = resolved.prometheus;
    let settle: (error: Error | undefined) => void = () => {};
    ready = new Promise<void>((resolve, reject) => {
      settle = (error) => (error ? reject(error) : resolve());
    });
    ready.catch(() => {}); // reported through diag by the exporter; awaiting `ready` still sees it
    // Its server is unref()'d: it never keeps the process alive.
    readers.push(new PrometheusExporter({ host, port, endpoint }, (error) => settle(error || undefined)));
    prometheusUrl = `http://${host.includes(':') ? `[${host}]` : host}:${port}${endpoint}`;
  }
  return { readers, otlpReader, prometheusUrl, ready };
}

let active: TelemetryHandle | undefined;

/**
 * Starts the OpenTelemetry Node SDK and registers it globally. Synchronous (NodeSDK's `start()` is), so it
 * can run before the first request, from `resilient-fetch/register` or the top of an app. Options are
 * validated first: a bad one throws a TypeError/RangeError naming it, and nothing is started.
 * One at a time per process: call `shutdown()` before starting again. `OTEL_SDK_DISABLED=true` makes it a
 * no-op. It does not flush on exit by itself: see `shutdownOnExit()`.
 */
export function startTelemetry(options: OtelOptions = {}): TelemetryHandle {
  const resolved = resolveOtelOptions(options);
  if (active !== undefined) {
    throw new Error('resilient-fetch: telemetry is already started; call shutdown() on its handle first');
  }
  if (process.env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') {
    // NodeSDK would start nothing, but the Prometheus exporter listens as soon as it is constructed.
    const idle = Promise.resolve();
    return { prometheusUrl: undefined, ready: idle, forceFlush: () => idle, shutdown: () => idle };
  }
  const spanProcessor = new BatchSpanProcessor({
    exporter: new OTLPTraceExporter(resolved.endpoint ? { url: `${resolved.endpoint}/v1/traces` } : {}),
    scheduledDelayMillis: resolved.spanExportDelayMs,
  });
  const { readers, otlpReader, prometheusUrl, ready } = createReaders(resolved);

  const sdk = new NodeSDK({
    ...(resolved.serviceName === undefined ? {} : { serviceName: resolved.serviceName }),
    spanProcessors: [spanProcessor],
    metricReaders: readers,
    logRecordProcessors: [], // without it NodeSDK starts an OTLP logs exporter
    instrumentations: resolved.instrumentations,
  });
  sdk.start();

  let stopped: Promise<void> | undefined;
  const handle: TelemetryHandle = {
    prometheusUrl,
    ready,
    async forceFlush() {
      await Promise.all([spanProcessor.forceFlush(), otlpReader?.forceFlush()]);
    },
    shutdown() {
      stopped ??= sdk.shutdown().finally(() => {
        // NodeSDK leaves its providers registered: a second SDK would then silently export nothing.
        trace.disable();
        metrics.disable();
        logs.disable();
        propagation.disable();
        context.disable();
        if (active === handle) active = undefined;
      });
      return stopped;
    },
  };
  active = handle;
  return handle;
}

/** Signals after which the process would end: flush first, then let it end as it would have. */
const exitSignals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Shuts telemetry down when the process ends, without keeping it alive: on `beforeExit` (the event loop
 * ran dry; pending spans are exported, then the process exits) and on SIGINT/SIGTERM/SIGHUP (flush, then,
 * if no other listener handles the signal, re-raise it so the process ends as it would have). A flush
 * never holds the process longer than `timeoutMs`. Returns a function that removes the listeners.
 */
export function shutdownOnExit(handle: TelemetryHandle, timeoutMs = 5_000): () => void {
  let done: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    done ??= new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      handle.shutdown().then(
        () => {
          clearTimeout(timer);
          resolve();
        },
        (error: unknown) => {
          clearTimeout(timer);
          diag.error('resilient-fetch: telemetry shutdown failed', error);
          resolve();
        },
      );
    });
    return done;
  };
  const onBeforeExit = () => void shutdown();
  const onSignal = (signal: NodeJS.Signals) => {
    remove();
    void shutdown().then(() => {
      // Another listener decides what the signal does; otherwise end the process as the signal would.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  };
  const remove = () => {
    process.off('beforeExit', onBeforeExit);
    for (const signal of exitSignals) process.off(signal, onSignal);
  };
  process.once('beforeExit', onBeforeExit);
  for (const signal of exitSignals) process.on(signal, onSignal);
  return remove;
}
