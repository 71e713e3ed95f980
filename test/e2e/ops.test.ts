/**
 * The operations kit, checked with the real tools that can run here: promtool (Prometheus 2.42, Debian) for
 * the alert rules and the Prometheus configuration, Debian's docker-compose for the compose file (offline
 * `config -q`), and a YAML parser for the Collector configuration (no Collector, Jaeger or Grafana binary
 * can be installed here). A missing tool fails the test with the apt-get command that installs it.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { repoRoot, runInChild } from '../helpers/child.ts';
import { metricNamesIn, requireTool, runTool } from '../helpers/ops.ts';

const ops = join(repoRoot, 'examples/ops');
const readYaml = (path: string): unknown => parse(readFileSync(path, 'utf8'));

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleTest {
  alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }>;
}

const rules = (readYaml(join(ops, 'alert-rules.yml')) as { groups: Array<{ rules: AlertRule[] }> }).groups
  .flatMap((g) => g.rules)
  .filter((r) => r.alert);

describe('alert rules (examples/ops/alert-rules.yml)', () => {
  it('pass `promtool check rules`', async () => {
    const promtool = await requireTool('promtool');
    const result = await runTool(promtool, ['check', 'rules', join(ops, 'alert-rules.yml')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, new RegExp(`SUCCESS: ${rules.length} rules found`));
  });

  it('cover the five conditions of the issue, each with a for:, a severity and annotations naming the host', () => {
    const exprs = rules.map((r) => r.expr).join('\n');
    assert.match(exprs, /resilient_fetch_health_state\{state=~"failed\|timeout"\}/, 'host FAILED or TIMEOUT');
    assert.match(exprs, /resilient_fetch_circuit_state\{state="closed"\}/, 'circuit not closed');
    assert.match(exprs, /resilient_fetch_outcome=~"failure\|timeout\|rejected"/, 'call error ratio');
    assert.match(exprs, /resilient_fetch_retries_denied_total/, 'retry budget exhausted');
    assert.match(exprs, /histogram_quantile\(0\.99,/, 'p99 latency');
    assert.equal(rules.length, 5);
    for (const rule of rules) {
      assert.match(rule.for ?? '', /^\d+[smh]$/, `${rule.alert}: for:`);
      assert.ok(rule.labels?.severity, `${rule.alert}: severity label`);
      for (const key of ['summary', 'description']) {
        const text = rule.annotations?.[key] ?? '';
        assert.match(
          text,
          /\{\{ \$labels\.server_address \}\}:\{\{ \$labels\.server_port \}\}/,
          `${rule.alert} ${key}`,
        );
      }
      assert.match(
        rule.expr,
        /by \(job, instance, server_address, server_port/,
        `${rule.alert}: per process and host`,
      );
    }
  });

  it('pass their unit tests (`promtool test rules`), which show every alert firing and not firing', async () => {
    const promtool = await requireTool('promtool');
    const tests = (readYaml(join(ops, 'alert-rules.test.yml')) as { tests: RuleTest[] }).tests.flatMap(
      (t) => t.alert_rule_test ?? [],
    );
    for (const rule of rules) {
      const cases = tests.filter((t) => t.alertname === rule.alert);
      assert.ok(
        cases.some((t) => t.exp_alerts.length > 0),
        `${rule.alert}: a case where it fires`,
      );
      assert.ok(
        cases.some((t) => t.exp_alerts.length === 0),
        `${rule.alert}: a case where it does not`,
      );
    }
    const result = await runTool(promtool, ['test', 'rules', join(ops, 'alert-rules.test.yml')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS/);
  });

  it('a unit test fails when an alert stops firing (the tests are not vacuous)', async () => {
    const promtool = await requireTool('promtool');
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'rf-rules-'));
    try {
      // The circuit alert made impossible: its firing case must now fail.
      const broken = readFileSync(join(ops, 'alert-rules.yml'), 'utf8').replace(
        /(resilient_fetch_circuit_state\{state="closed"\}\s*\)\s*)== 0/,
        '$1== 42',
      );
      assert.notEqual(broken, readFileSync(join(ops, 'alert-rules.yml'), 'utf8'));
      await writeFile(join(dir, 'alert-rules.yml'), broken);
      await writeFile(join(dir, 'alert-rules.test.yml'), readFileSync(join(ops, 'alert-rules.test.yml')));
      const result = await runTool(promtool, ['test', 'rules', join(dir, 'alert-rules.test.yml')]);
      assert.notEqual(result.code, 0);
      assert.match(result.stdout + result.stderr, /ResilientFetchCircuitOpen/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Prometheus configuration (examples/ops/prometheus.yml)', () => {
  it('passes `promtool check config` and loads the alert rules', async () => {
    const promtool = await requireTool('promtool');
    const result = await runTool(promtool, ['check', 'config', join(ops, 'prometheus.yml')]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /SUCCESS: 5 rules found/);
  });

  it('scrapes the Collector with honor_labels (job and instance per app instance) and its own metrics', () => {
    const config = readYaml(join(ops, 'prometheus.yml')) as {
      scrape_configs: Array<{
        job_name: string;
        honor_labels?: boolean;
        static_configs: [{ targets: string[] }];
      }>;
    };
    const byTarget = new Map(config.scrape_configs.map((s) => [s.static_configs[0].targets[0], s]));
    assert.equal(byTarget.get('otel-collector:8889')?.honor_labels, true);
    assert.ok(byTarget.has('otel-collector:8888'), "the Collector's own telemetry");
  });
});

interface CollectorConfig {
  extensions?: Record<string, unknown>;
  receivers?: Record<string, unknown>;
  processors?: Record<string, unknown>;
  exporters?: Record<string, Record<string, unknown> | null>;
  service: {
    extensions?: string[];
    telemetry?: { metrics?: { level?: string; readers?: unknown[] } };
    pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }>;
  };
}

describe('Collector configuration (otel-collector.yaml)', () => {
  const config = readYaml(join(repoRoot, 'otel-collector.yaml')) as CollectorConfig;
  const typeOf = (id: string) => id.split('/')[0];

  it('has a traces and a metrics pipeline, each complete, with every referenced component defined', () => {
    assert.deepEqual(Object.keys(config.service.pipelines).sort(), ['metrics', 'traces']);
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      assert.ok(pipeline.receivers.length > 0, `${name}: receivers`);
      assert.ok(pipeline.exporters.length > 0, `${name}: exporters`);
      for (const id of pipeline.receivers)
        assert.ok(config.receivers && id in config.receivers, `${name}: ${id}`);
      for (const id of pipeline.processors ?? [])
        assert.ok(config.processors && id in config.processors, `${name}: ${id}`);
      for (const id of pipeline.exporters)
        assert.ok(config.exporters && id in config.exporters, `${name}: ${id}`);
    }
    for (const id of config.service.extensions ?? [])
      assert.ok(config.extensions && id in config.extensions, `extension ${id}`);
  });

  it('puts memory_limiter first and batch in every pipeline', () => {
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      assert.equal(pipeline.processors?.[0], 'memory_limiter', name);
      assert.ok(pipeline.processors?.includes('batch'), `${name}: batch`);
    }
  });

  it('receives OTLP over gRPC on 4317 and HTTP on 4318, bound to 0.0.0.0 (reachable in a container)', () => {
    const otlp = config.receivers?.otlp as { protocols: Record<string, { endpoint: string }> };
    assert.equal(otlp.protocols.grpc?.endpoint, '0.0.0.0:4317');
    assert.equal(otlp.protocols.http?.endpoint, '0.0.0.0:4318');
  });

  it("uses today's component names: traces to Jaeger over otlp_grpc, no jaeger/logging/otlp/otlphttp exporters", () => {
    const exporterTypes = Object.keys(config.exporters ?? {}).map(typeOf);
    for (const gone of ['jaeger', 'logging', 'otlp', 'otlphttp'])
      assert.ok(!exporterTypes.includes(gone), gone);
    const traces = config.service.pipelines.traces?.exporters ?? [];
    assert.deepEqual(traces.map(typeOf), ['otlp_grpc']);
    const jaeger = config.exporters?.[traces[0] as string] as { endpoint?: string } | undefined;
    assert.equal(jaeger?.endpoint, 'jaeger:4317');
  });

  it('exposes metrics for Prometheus with the names of a direct scrape (see the translation note in the file)', () => {
    const metrics = config.service.pipelines.metrics;
    assert.deepEqual(metrics?.exporters, ['prometheus']);
    const prometheus = config.exporters?.prometheus as { endpoint: string; translation_strategy: string };
    assert.equal(prometheus.endpoint, '0.0.0.0:8889');
    // With suffixes: counters get _total as in the JS exporter; the unit suffix (_seconds) is avoided by
    // clearing the unit of the duration histograms before the exporter (checked against the app's real
    // units in test/e2e/prometheus.test.ts).
    assert.equal(prometheus.translation_strategy, 'UnderscoreEscapingWithSuffixes');
    const transform = metrics?.processors?.find((p) => typeOf(p) === 'transform');
    assert.ok(transform, 'a transform processor in the metrics pipeline');
    assert.ok((metrics?.processors ?? []).indexOf(transform) < (metrics?.processors ?? []).indexOf('batch'));
    const statements = JSON.stringify(config.processors?.[transform]);
    assert.match(statements, /set\(metric\.unit, \\"\\"\)/);
    assert.match(statements, /http\.client\.request\.duration/);
    assert.match(statements, /resilient_fetch\.call\.duration/);
  });

  it('has the health_check extension on 0.0.0.0 and exposes its own metrics', () => {
    assert.deepEqual(config.service.extensions, ['health_check']);
    const healthCheck = config.extensions?.health_check as { endpoint?: string } | undefined;
    assert.equal(healthCheck?.endpoint, '0.0.0.0:13133');
    const readers = JSON.stringify(config.service.telemetry?.metrics?.readers);
    assert.match(readers, /"host":"0\.0\.0\.0","port":8888/);
  });
});

describe('compose file (examples/ops/compose.yaml)', () => {
  const composeFile = join(ops, 'compose.yaml');

  it('passes `docker-compose config -q` (offline)', async () => {
    const compose = await requireTool('docker-compose');
    const result = await runTool(compose, ['-f', composeFile, 'config', '-q']);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.equal(result.stderr.trim(), '');
  });

  it('runs the app, the Collector with the top-level otel-collector.yaml, Jaeger, Prometheus and Grafana', () => {
    const compose = readYaml(composeFile) as {
      services: Record<string, { image: string; volumes?: string[]; environment?: Record<string, string> }>;
    };
    assert.deepEqual(Object.keys(compose.services).sort(), [
      'app',
      'grafana',
      'jaeger',
      'otel-collector',
      'prometheus',
    ]);
    // Every bind mount points at a file or directory of this repository.
    const mounts = Object.values(compose.services).flatMap((s) => s.volumes ?? []);
    for (const mount of mounts) {
      const source = resolve(dirname(composeFile), mount.split(':')[0] as string);
      assert.ok(existsSync(source), `${mount}: ${source} exists`);
    }
    const collectorMount = compose.services['otel-collector']?.volumes?.[0] ?? '';
    assert.equal(resolve(ops, collectorMount.split(':')[0] as string), join(repoRoot, 'otel-collector.yaml'));
    assert.match(compose.services['otel-collector']?.image ?? '', /opentelemetry-collector-contrib/);
    assert.equal(
      compose.services.app?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT,
      'http://otel-collector:4318',
    );
    const grafana = compose.services.grafana?.volumes?.join(' ') ?? '';
    assert.match(grafana, /grafana\/provisioning:/);
    assert.match(grafana, /grafana\/dashboards:/);
  });
});

interface Dashboard {
  templating: { list: Array<{ name: string; type: string; query: unknown }> };
  panels: Array<{
    title: string;
    datasource: { uid: string };
    targets: Array<{ expr: string; datasource: { uid: string } }>;
  }>;
}

describe('Grafana dashboard (examples/ops/grafana/dashboards/resilient-fetch.json)', () => {
  const dashboard = JSON.parse(
    readFileSync(join(ops, 'grafana/dashboards/resilient-fetch.json'), 'utf8'),
  ) as Dashboard;

  it('has a Prometheus datasource variable that every panel and query uses', () => {
    const variable = dashboard.templating.list.find((v) => v.type === 'datasource');
    assert.equal(variable?.query, 'prometheus');
    const uid = `\${${variable?.name}}`;
    for (const panel of dashboard.panels) {
      assert.equal(panel.datasource.uid, uid, panel.title);
      for (const target of panel.targets) assert.equal(target.datasource.uid, uid, panel.title);
    }
  });

  it('shows request rate, error ratio, p50/p99 latency, retries, rejections, circuit and health per host', () => {
    const all = dashboard.panels.map((p) => `${p.title}\n${p.targets.map((t) => t.expr).join('\n')}`);
    const find = (title: RegExp, expr: RegExp) =>
      assert.ok(
        all.some((p) => title.test(p.split('\n')[0] as string) && expr.test(p)),
        `${title} with ${expr}`,
      );
    find(/request rate/i, /rate\(resilient_fetch_call_duration_count/);
    find(/error ratio/i, /resilient_fetch_outcome=~"failure\|timeout\|rejected"/);
    find(/latency/i, /histogram_quantile\(0\.5,/);
    find(/latency/i, /histogram_quantile\(0\.99,/);
    find(/retries/i, /resilient_fetch_retries_total/);
    find(/rejections/i, /resilient_fetch_rejections_total/);
    find(/circuit state/i, /resilient_fetch_circuit_state/);
    find(/health state/i, /resilient_fetch_health_state/);
    for (const panel of dashboard.panels)
      for (const target of panel.targets)
        assert.match(target.expr, /server_address/, `${panel.title}: per host`);
  });

  it('selects only resilient-fetch metrics (each checked against a live scrape in test/e2e/prometheus.test.ts)', () => {
    const names = new Set(
      dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...metricNamesIn(t.expr)])),
    );
    assert.ok(names.size >= 7, [...names].join(', '));
    for (const name of names) assert.match(name, /^(resilient_fetch_|http_client_)/, name);
  });
});

describe('example app (examples/ops/app.ts) configuration', () => {
  const start = (env: NodeJS.ProcessEnv) =>
    runInChild(['examples/ops/app.ts'], {
      env: { OTEL_METRICS_EXPORTER: 'none', ...env },
      timeoutMs: 10_000,
    });

  it('refuses a bad resilience option before starting anything, naming it', async () => {
    const result = await start({ RESILIENT_FETCH_OPTIONS: '{"retry":{"maxRetries":-1}}' });
    assert.equal(result.timedOut, false);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /option retry\.maxRetries must be an integer >= 0, received -1/);
    assert.doesNotMatch(result.stdout, /"event":"ready"/);
  });

  it('refuses malformed variables with messages naming them', async () => {
    const cases: Array<[NodeJS.ProcessEnv, RegExp]> = [
      [{ RESILIENT_FETCH_OPTIONS: '{retry' }, /RESILIENT_FETCH_OPTIONS must be JSON/],
      [{ UPSTREAMS: 'ftp://example.com' }, /UPSTREAMS: "ftp:\/\/example\.com" is not an http\(s\) URL/],
      [{ CONCURRENCY: 'two' }, /CONCURRENCY must be an integer >= 0, received "two"/],
      [{ LOCAL_UPSTREAM_PORTS: '1,2' }, /LOCAL_UPSTREAM_PORTS must be 3 ports \(llm,payments,speech\)/],
    ];
    for (const [env, message] of cases) {
      const result = await start(env);
      assert.equal(result.code, 1, JSON.stringify(env));
      assert.match(result.stderr, message);
    }
  });
});
