/**
 * End to end, with real parts: the example app (examples/ops/app.ts, a child process) calls an upstream on
 * 127.0.0.1 that this test breaks and heals; a real Prometheus (Debian's 2.42, started here on a free
 * loopback port with a temporary storage directory) scrapes the app's Prometheus exporter and evaluates the
 * SHIPPED alert rules; the app's spans go over OTLP/HTTP to the receiver helper.
 *
 * The rules Prometheus loads are generated from examples/ops/alert-rules.yml at test time: same expressions,
 * labels and annotations, only every `for:` shortened to 2 s, with 1 s scrape and evaluation intervals.
 * The app runs with small resilience settings through RESILIENT_FETCH_OPTIONS (probe after 1 s, a 3 s
 * health window, a tight retry budget), so the whole run takes about 15-25 s.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { repoRoot } from '../helpers/child.ts';
import {
  exposedNames,
  metricNamesIn,
  type PromAlert,
  type RunningApp,
  type RunningPrometheus,
  startApp,
  startPrometheus,
  waitFor,
} from '../helpers/ops.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { freePort } from '../helpers/server.ts';

const ops = join(repoRoot, 'examples/ops');

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; expr: string; for?: string }> }>;
}

/** The shipped rules with every `for:` shortened, nothing else changed. */
function shortenedRules(): { text: string; alerts: string[] } {
  const file = parse(readFileSync(join(ops, 'alert-rules.yml'), 'utf8')) as RuleFile;
  const alerts: string[] = [];
  for (const group of file.groups) {
    for (const rule of group.rules) {
      if (!rule.alert) continue;
      assert.ok(rule.for, `${rule.alert} has a for:`);
      rule.for = '2s';
      alerts.push(rule.alert);
    }
  }
  return { text: stringify(file), alerts };
}

interface Dashboard {
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  panels: Array<{ title: string; targets: Array<{ expr: string; refId: string }> }>;
}

const readDashboard = () =>
  JSON.parse(readFileSync(join(ops, 'grafana/dashboards/resilient-fetch.json'), 'utf8')) as Dashboard;
const fillVariables = (expr: string) =>
  expr.replaceAll('$__rate_interval', '1m').replace(/\$(job|instance|host)\b/g, '.*');

/** The dashboard's queries with Grafana's variables as Grafana would fill them for "All". */
function dashboardQueries(): Array<{ panel: string; expr: string }> {
  return readDashboard().panels.flatMap((panel) =>
    panel.targets.map((target) => ({
      panel: `${panel.title} (${target.refId})`,
      expr: fillVariables(target.expr),
    })),
  );
}

/** An upstream that answers 200 in a few ms, or 503 at once while `failing`. */
function startUpstream(): Promise<{ server: Server; port: number; setFailing(failing: boolean): void }> {
  let failing = false;
  const server = createServer((_req, res) => {
    if (failing) {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"down"}');
      return;
    }
    setTimeout(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'), 5);
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, port, setFailing: (f) => (failing = f) });
    });
  });
}

describe('alert rules and dashboard against a real Prometheus scraping the example app', () => {
  let receiver: OtlpReceiver;
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let app: RunningApp | undefined;
  let prometheus: RunningPrometheus | undefined;
  let alertNames: string[] = [];
  const started = performance.now();

  before(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startUpstream();
    app = await startApp({
      UPSTREAMS: `http://127.0.0.1:${upstream.port}`,
      CONCURRENCY: '2',
      PAUSE_MS: '50',
      OTEL_SERVICE_NAME: 'ops-e2e-app',
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_PROMETHEUS_HOST: '127.0.0.1',
      OTEL_EXPORTER_PROMETHEUS_PORT: String(await freePort()),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_BSP_SCHEDULE_DELAY: '200',
      RESILIENT_FETCH_OPTIONS: JSON.stringify({
        retry: {
          baseDelayMs: 10,
          maxDelayMs: 50,
          budget: { ratio: 0.05, windowMs: 2_000, minRetriesPerSecond: 0 },
        },
        circuitBreaker: { halfOpenAfterMs: 1_000 },
        health: { windowMs: 3_000, minCalls: 5 },
      }),
    });
    const rules = shortenedRules();
    alertNames = rules.alerts;
    const target = new URL(app.metricsUrl);
    prometheus = await startPrometheus(
      stringify({
        global: { scrape_interval: '1s', evaluation_interval: '1s' },
        rule_files: ['alert-rules.yml'],
        scrape_configs: [
          {
            job_name: 'ops-e2e-app',
            metrics_path: target.pathname,
            static_configs: [{ targets: [target.host] }],
          },
        ],
      }),
      { 'alert-rules.yml': rules.text },
    );
  });

  after(async () => {
    await prometheus?.stop();
    await app?.stop();
    await new Promise((resolve) => {
      upstream?.server.closeAllConnections();
      upstream?.server.close(resolve);
    });
    await receiver?.close();
    console.log(`# prometheus e2e took ${Math.round(performance.now() - started)} ms`);
  });

  const host = () => ({ server_address: '127.0.0.1', server_port: String(upstream.port) });
  const ours = (alerts: PromAlert[], state?: string) =>
    alerts.filter(
      (a) =>
        a.labels.server_port === host().server_port &&
        a.labels.job === 'ops-e2e-app' &&
        (state === undefined || a.state === state),
    );

  it('scrapes the app: every metric the dashboard and the alert rules select is exposed', async () => {
    const page = await waitFor(
      'the app to expose circuit, health and call metrics',
      async () => {
        const text = await (await fetch(app?.metricsUrl ?? '')).text();
        const names = exposedNames(text);
        return names.has('resilient_fetch_health_state') && names.has('resilient_fetch_call_duration_count')
          ? text
          : undefined;
      },
      10_000,
    );
    // The healthy upstream does not produce retries, denials or rejections yet: those are checked in
    // Prometheus once the upstream has failed (the dashboard test below).
    const names = exposedNames(page);
    const wanted = new Set([
      ...dashboardQueries().flatMap((q) => [...metricNamesIn(q.expr)]),
      ...(parse(readFileSync(join(ops, 'alert-rules.yml'), 'utf8')) as RuleFile).groups.flatMap((g) =>
        g.rules.flatMap((r) => [...metricNamesIn(r.expr)]),
      ),
    ]);
    const later = new Set([
      'resilient_fetch_retries_total',
      'resilient_fetch_retries_denied_total',
      'resilient_fetch_rejections_total',
    ]);
    for (const name of wanted) if (!later.has(name)) assert.ok(names.has(name), `${name} is exposed`);

    // The Collector path clears the unit of every metric exposed with unit `s` (otherwise its exporter
    // would add `_seconds`): compare with the app's real `# UNIT` lines. The app neither queues nor
    // paces, so the two wait histograms are not on its page; test/e2e/collector-units.test.ts records
    // all four and holds the Collector's list to exactly those.
    const secondsMetrics = [...page.matchAll(/^# UNIT (\S+) s$/gm)].map((m) => m[1]).sort();
    const collector = readFileSync(join(repoRoot, 'otel-collector.yaml'), 'utf8');
    const condition = /set\(metric\.unit, ""\) where (.+)/.exec(collector)?.[1] ?? '';
    const cleared = [...condition.matchAll(/metric\.name == "([^"]+)"/g)].map((m) =>
      m[1]?.replaceAll('.', '_'),
    );
    for (const name of secondsMetrics)
      assert.ok(cleared.includes(name), `the Collector clears the unit of ${name}, exposed in s`);
    assert.ok(secondsMetrics.length >= 2);
  });

  it('no alert is active while the upstream is healthy', async () => {
    assert.ok(prometheus);
    const p = prometheus;
    await waitFor(
      'Prometheus to see the host HEALTHY with a closed circuit',
      async () => {
        const sel = `server_port="${upstream.port}"`;
        const [healthy, closed] = await Promise.all([
          p.query(`resilient_fetch_health_state{${sel},state="healthy"} == 1`),
          p.query(`resilient_fetch_circuit_state{${sel},state="closed"} == 1`),
        ]);
        return healthy.length === 1 && closed.length === 1 ? true : undefined;
      },
      20_000,
    );
    assert.deepEqual(
      ours(await p.alerts()).map((a) => a.labels.alertname),
      [],
    );
  });

  it('upstream down: the circuit-open and host-failed alerts fire, naming the host', async () => {
    assert.ok(prometheus);
    const p = prometheus;
    upstream.setFailing(true);
    const failedAt = performance.now();
    const firing = await waitFor(
      'ResilientFetchCircuitOpen and ResilientFetchHostFailed to fire',
      async () => {
        const alerts = ours(await p.alerts(), 'firing');
        const names = new Set(alerts.map((a) => a.labels.alertname));
        return names.has('ResilientFetchCircuitOpen') && names.has('ResilientFetchHostFailed')
          ? alerts
          : undefined;
      },
      30_000,
    );
    console.log(`# alerts firing ${Math.round(performance.now() - failedAt)} ms after the upstream failed`);
    const hostName = `127.0.0.1:${upstream.port}`;
    const circuit = firing.find((a) => a.labels.alertname === 'ResilientFetchCircuitOpen');
    assert.equal(circuit?.annotations.summary, `Circuit open for ${hostName}`);
    assert.match(circuit?.annotations.description ?? '', new RegExp(`host ${hostName} in ops-e2e-app`));
    const failed = firing.find((a) => a.labels.alertname === 'ResilientFetchHostFailed');
    assert.equal(failed?.labels.state, 'failed');
    assert.equal(failed?.annotations.summary, `Upstream ${hostName} is FAILED`);
    for (const alert of firing) assert.match(alert.annotations.description ?? '', new RegExp(hostName));
    // The error ratio (refused and failed calls) is far above 5% by now, on the shipped expression too.
    await waitFor(
      'ResilientFetchErrorRatioHigh to fire',
      async () =>
        ours(await p.alerts(), 'firing').some((a) => a.labels.alertname === 'ResilientFetchErrorRatioHigh')
          ? true
          : undefined,
      15_000,
    );
  });

  it('every PromQL query of the dashboard returns data (Grafana variables set to All)', async () => {
    assert.ok(prometheus);
    const p = prometheus;
    const queries = dashboardQueries();
    assert.ok(queries.length >= 10);
    const empty = await waitFor(
      'every dashboard query to return data',
      async () => {
        const results = await Promise.all(queries.map(async (q) => ({ q, result: await p.query(q.expr) })));
        const missing = results.filter(
          (r) =>
            !r.result.some(
              (s) => s.metric.server_port === String(upstream.port) && Number.isFinite(Number(s.value[1])),
            ),
        );
        return missing.length === 0 ? [] : undefined;
      },
      20_000,
      500,
    );
    assert.deepEqual(empty, []);
    // The job, instance and host variables list this app and host (Grafana's label_values()).
    for (const variable of readDashboard().templating.list.filter((v) => v.type === 'query')) {
      const query = (variable.query as { query: string }).query;
      const [, match, label] = /^label_values\((.+), (\w+)\)$/.exec(query) ?? [];
      assert.ok(match && label, `${variable.name}: ${query}`);
      const values = await p.labelValues(label, fillVariables(match));
      const expected = {
        job: 'ops-e2e-app',
        instance: new URL(app?.metricsUrl ?? '').host,
        host: '127.0.0.1',
      };
      assert.ok(
        values.includes(expected[variable.name as keyof typeof expected]),
        `${variable.name}: ${values.join(', ')}`,
      );
    }
    // The circuit and health panels read the state the alerts fired on.
    const circuit = queries.find((q) => /circuit state/i.test(q.panel));
    const [value] = (await p.query(circuit?.expr ?? '')).filter(
      (s) => s.metric.server_port === String(upstream.port),
    );
    assert.ok(
      ['1', '2'].includes(value?.value[1] ?? ''),
      `circuit half-open (1) or open (2), got ${value?.value[1]}`,
    );
  });

  it('upstream healed: the alerts resolve', async () => {
    assert.ok(prometheus);
    const p = prometheus;
    upstream.setFailing(false);
    const healedAt = performance.now();
    await waitFor(
      'ResilientFetchCircuitOpen and ResilientFetchHostFailed to resolve',
      async () => {
        const names = new Set(ours(await p.alerts()).map((a) => a.labels.alertname));
        return !names.has('ResilientFetchCircuitOpen') && !names.has('ResilientFetchHostFailed')
          ? true
          : undefined;
      },
      30_000,
    );
    console.log(`# alerts resolved ${Math.round(performance.now() - healedAt)} ms after the upstream healed`);
    const [closed] = await p.query(
      `resilient_fetch_circuit_state{server_port="${upstream.port}",state="closed"}`,
    );
    assert.equal(closed?.value[1], '1');
    assert.ok(alertNames.length === 5);
  });

  it('the spans a user would look at in Jaeger arrive over OTLP: attempts, resends, status, redacted URL', async () => {
    await receiver.waitFor(
      (r) =>
        r.spans.some((s) => (s.attributes['http.request.resend_count'] as number) >= 1) &&
        r.spans.some((s) => s.attributes['http.response.status_code'] === 200) &&
        r.spans.some((s) => s.attributes['error.type'] === 'ERR_RF_CIRCUIT_OPEN'),
      10_000,
    );
    const spans = receiver.spans.filter(
      (s) => s.scope === 'resilient-fetch' && s.attributes['server.port'] === upstream.port,
    );
    assert.ok(spans.length > 0);
    for (const span of spans) {
      assert.equal(span.kind, 3, 'CLIENT');
      assert.equal(span.name, 'GET');
      assert.equal(span.resource['service.name'], 'ops-e2e-app');
      assert.match(
        String(span.resource['service.instance.id']),
        /-\d+$/,
        'service.instance.id set by the app',
      );
    }
    const attempts = spans.filter((s) => s.attributes['url.full'] !== undefined);
    for (const span of attempts) {
      assert.match(String(span.attributes['url.full']), /[?&]sig=REDACTED(&|$)/);
      assert.doesNotMatch(String(span.attributes['url.full']), /demo-signature/);
    }
    const failed = attempts.find((s) => s.attributes['http.response.status_code'] === 503);
    assert.equal(failed?.statusCode, 2, 'a 503 attempt has status ERROR');
    assert.equal(failed?.attributes['error.type'], '503');
    const resend = attempts.find((s) => (s.attributes['http.request.resend_count'] as number) >= 1);
    assert.ok(resend, 'a retried attempt carries http.request.resend_count');
    const ok = attempts.find((s) => s.attributes['http.response.status_code'] === 200);
    assert.equal(ok?.statusCode, 0, 'a 200 attempt is not an error');
    assert.deepEqual(receiver.refused, []);
  });

  it('the app shuts down by itself on SIGTERM (load stopped, fetch closed, telemetry flushed)', async () => {
    const child = app?.process;
    assert.ok(child);
    const exited = new Promise<[number | null, string | null]>((resolve) =>
      child.once('exit', (code, signal) => resolve([code, signal])),
    );
    const stoppedAt = performance.now();
    child.kill('SIGTERM');
    const timeout = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const [code, signal] = await exited;
    clearTimeout(timeout);
    assert.deepEqual([code, signal], [0, null], app?.output());
    assert.ok(performance.now() - stoppedAt < 10_000);
  });
});
