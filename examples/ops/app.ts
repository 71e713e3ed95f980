/**
 * The app of the operations kit: a small service that calls its upstreams in a steady loop through the
 * global `fetch`, swapped in code for a resilientFetch (`install()`), with OpenTelemetry started by
 * `startTelemetry()` of `resilient-fetch/otel`. It is what `examples/ops/compose.yaml` runs next to the
 * Collector, Jaeger, Prometheus and Grafana, and what `test/e2e/prometheus.test.ts` scrapes.
 *
 *   node examples/ops/app.ts                                   # local flaky upstreams, metrics on :9464
 *   OTEL_METRICS_EXPORTER=otlp OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 node examples/ops/app.ts
 *   UPSTREAMS=http://127.0.0.1:8080,http://127.0.0.1:8081 node examples/ops/app.ts
 *
 * Configuration, all from the environment (a container's habit):
 *   UPSTREAMS                 comma-separated base URLs to call. Unset: starts examples/flaky-upstream.ts
 *                             in-process (llm, payments, speech on 127.0.0.1) and takes payments down for
 *                             OUTAGE_FOR_S seconds every OUTAGE_EVERY_S seconds (defaults 420 and 900; 0 = never):
 *                             longer than the 5 minutes of the host-failed alert, so every outage fires it.
 *   LOCAL_UPSTREAM_PORTS      fixed ports of those local upstreams, `llm,payments,speech` (default: free
 *                             ports), so every instance of a fleet names the same hosts
 *   CONCURRENCY               loops per upstream, each making one call at a time (default 2)
 *   PAUSE_MS                  pause of each loop between calls (default 200)
 *   RESILIENT_FETCH_OPTIONS   JSON merged over the app's resilience options (e.g.
 *                             '{"circuitBreaker":{"halfOpenAfterMs":1000}}'); validated by resolveOptions()
 *   OTEL_*                    the standard variables, read by startTelemetry(): OTEL_SERVICE_NAME,
 *                             OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_METRICS_EXPORTER (default here: prometheus),
 *                             OTEL_EXPORTER_PROMETHEUS_HOST / _PORT, OTEL_METRIC_EXPORT_INTERVAL,
 *                             OTEL_BSP_SCHEDULE_DELAY, OTEL_RESOURCE_ATTRIBUTES
 *
 * Each instance sets `service.instance.id` (host name and pid) unless OTEL_RESOURCE_ATTRIBUTES names one,
 * so a fleet pushing to one Collector keeps its instances apart (the Collector turns it into `instance`).
 *
 * Calls carry `?sig=...` so the spans show the redacted `url.full`. On start it prints one JSON line
 * (`{"event":"ready",...}`); SIGTERM or SIGINT stops the load, closes the fetch (calls in flight finish)
 * and flushes telemetry, then the process exits by itself.
 */
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
// In an app: from 'resilient-fetch' and 'resilient-fetch/otel'.
import {
  createResilientFetch,
  install,
  type ResilientFetchOptions,
  resolveOptions,
  uninstall,
} from '../../src/index.ts';
import { startTelemetry } from '../../src/otel.ts';
import { type FlakyUpstream, hostNames, startFlakyUpstream } from '../flaky-upstream.ts';

/** A non-negative integer from the environment, or a clear error naming the variable. */
function intFromEnv(name: string, fallback: number): number {
  const raw = process.env[name]?.trim();
  if (!raw) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new RangeError(`${name} must be an integer >= 0, received ${JSON.stringify(raw)}`);
  }
  return value;
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Plain objects merged key by key; anything else from `over` replaces. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] = isObject(current) && isObject(value) ? deepMerge(current, value) : value;
  }
  return out;
}

function optionsFromEnv(base: ResilientFetchOptions): ResilientFetchOptions {
  const raw = process.env.RESILIENT_FETCH_OPTIONS?.trim();
  if (!raw) return base;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (error) {
    throw new TypeError(`RESILIENT_FETCH_OPTIONS must be JSON: ${(error as Error).message}`);
  }
  if (!isObject(parsed)) throw new TypeError('RESILIENT_FETCH_OPTIONS must be a JSON object');
  // createResilientFetch() validates the result and names any bad option.
  return deepMerge(base as Record<string, unknown>, parsed) as ResilientFetchOptions;
}

function localPortsFromEnv(): Partial<Record<(typeof hostNames)[number], number>> {
  const raw = process.env.LOCAL_UPSTREAM_PORTS?.trim();
  if (!raw) return {};
  const ports = raw.split(',').map((p) => Number(p.trim()));
  if (ports.length !== hostNames.length || !ports.every((p) => Number.isInteger(p) && p > 0 && p < 65_536)) {
    throw new RangeError(
      `LOCAL_UPSTREAM_PORTS must be ${hostNames.length} ports (${hostNames.join(',')}), received ${JSON.stringify(raw)}`,
    );
  }
  return Object.fromEntries(hostNames.map((name, i) => [name, ports[i]]));
}

function upstreamsFromEnv(): string[] | undefined {
  const raw = process.env.UPSTREAMS?.trim();
  if (!raw) return undefined;
  return raw.split(',').map((entry) => {
    const url = URL.parse(entry.trim());
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new TypeError(`UPSTREAMS: ${JSON.stringify(entry)} is not an http(s) URL`);
    }
    return url.origin;
  });
}

/** The app's resilience settings: sized so a failure shows within a minute on the dashboard. */
const baseOptions: ResilientFetchOptions = {
  retry: { maxRetries: 2, baseDelayMs: 100, maxDelayMs: 2_000 },
  timeout: { attemptMs: 2_000, deadlineMs: 10_000 },
  circuitBreaker: { consecutiveFailures: 5, halfOpenAfterMs: 30_000 },
  health: { windowMs: 60_000, minCalls: 10 },
};

const concurrency = intFromEnv('CONCURRENCY', 2);
const pauseMs = intFromEnv('PAUSE_MS', 200);
const outageEveryS = intFromEnv('OUTAGE_EVERY_S', 900);
const outageForS = intFromEnv('OUTAGE_FOR_S', 420);
const options = optionsFromEnv(baseOptions);
resolveOptions(options); // a bad option fails here, naming it, before anything is started
let targets = upstreamsFromEnv();
const localPorts = localPortsFromEnv();

if (!/(^|,)\s*service\.instance\.id=/.test(process.env.OTEL_RESOURCE_ATTRIBUTES ?? '')) {
  const own = `service.instance.id=${hostname()}-${process.pid}`;
  const given = process.env.OTEL_RESOURCE_ATTRIBUTES?.trim();
  process.env.OTEL_RESOURCE_ATTRIBUTES = given ? `${given},${own}` : own;
}
const telemetry = startTelemetry({
  serviceName: process.env.OTEL_SERVICE_NAME?.trim() || 'resilient-fetch-ops-app',
  ...(process.env.OTEL_METRICS_EXPORTER?.trim() ? {} : { metrics: 'prometheus' as const }),
});
await telemetry.ready;

let upstream: FlakyUpstream | undefined;
let outageTimer: NodeJS.Timeout | undefined;
if (targets === undefined) {
  upstream = await startFlakyUpstream({ ports: localPorts });
  targets = Object.values(upstream.hosts).map((host) => host.url);
  const local = upstream;
  if (outageEveryS > 0 && outageForS > 0) {
    outageTimer = setInterval(() => {
      local.setDown('payments', true);
      setTimeout(() => local.setDown('payments', false), outageForS * 1_000).unref();
    }, outageEveryS * 1_000);
    outageTimer.unref();
  }
}

const rfetch = createResilientFetch(options);
install(rfetch); // from here on the app's own code just calls fetch()

const stopping = new AbortController();
async function loop(base: string, id: number): Promise<void> {
  let n = 0;
  while (!stopping.signal.aborted) {
    try {
      const res = await fetch(`${base}/v1/work?loop=${id}&n=${n++}&sig=demo-signature`, {
        signal: stopping.signal,
      });
      await res.arrayBuffer();
    } catch {
      // Failures are what the telemetry is for; the loop carries on.
    }
    await sleep(pauseMs, undefined, { signal: stopping.signal }).catch(() => {});
  }
}
const loops = targets.flatMap((base) => Array.from({ length: concurrency }, (_, i) => loop(base, i)));

console.log(
  JSON.stringify({
    event: 'ready',
    metrics: telemetry.prometheusUrl ?? null,
    upstreams: targets,
    concurrency,
  }),
);

let shuttingDown = false;
async function shutdown(): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  stopping.abort();
  clearInterval(outageTimer);
  await Promise.allSettled(loops);
  await rfetch.close({ drainTimeoutMs: 2_000 });
  uninstall();
  await telemetry.shutdown().catch(() => {}); // no receiver listening is not a reason to hang
  await upstream?.close();
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void shutdown());
