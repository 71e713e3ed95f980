/**
 * `resilient-fetch/otel` (startTelemetry) and `RESILIENT_FETCH_OTEL=1` in `resilient-fetch/register`,
 * exported for real: spans over OTLP/HTTP to a receiver on loopback, metrics scraped from the Prometheus
 * endpoint. One SDK in this process (NodeSDK registers globals); the register path runs in a child.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';
import { resolveOtelOptions, startTelemetry, type TelemetryHandle } from '../../src/otel.ts';
import { runInChild } from '../helpers/child.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../helpers/otlp-receiver.ts';
import { freePort, startServer, type TestServer } from '../helpers/server.ts';

describe('startTelemetry()', () => {
  let receiver: OtlpReceiver;
  let upstream: TestServer;
  let telemetry: TelemetryHandle;
  let hits = 0;

  before(async () => {
    receiver = await startOtlpReceiver();
    upstream = await startServer((_req, res) => {
      hits++;
      res.writeHead(hits === 1 ? 503 : 200).end('ok');
    });
    telemetry = startTelemetry({
      serviceName: 'otel-test',
      endpoint: receiver.url,
      metrics: 'prometheus',
      prometheus: { host: '127.0.0.1', port: await freePort() },
      spanExportDelayMs: 50,
    });
    await telemetry.ready;
  });
  after(async () => {
    await telemetry.shutdown();
    await upstream.close();
    await receiver.close();
  });

  it('exports one span per attempt over OTLP/HTTP: GET 503, then GET 200 with resend_count 1, sig redacted', async () => {
    const rfetch = createResilientFetch({ retry: { baseDelayMs: 5, jitter: 'none' } });
    const res = await rfetch(`${upstream.url}/files?name=a&sig=s3cr3t`);
    assert.equal(res.status, 200);
    await res.text();
    await telemetry.forceFlush();
    await receiver.waitFor((r) => r.spans.length >= 2);
    const spans = receiver.spans.filter((s) => s.scope === 'resilient-fetch');
    assert.deepEqual(
      spans.map((s) => [
        s.name,
        s.attributes['http.response.status_code'],
        s.attributes['http.request.resend_count'],
      ]),
      [
        ['GET', 503, undefined],
        ['GET', 200, 1],
      ],
    );
    for (const span of spans) {
      assert.equal(span.kind, 3, 'SPAN_KIND_CLIENT');
      assert.equal(span.attributes['url.full'], `${upstream.url}/files?name=a&sig=REDACTED`);
      assert.equal(span.resource['service.name'], 'otel-test');
    }
    assert.equal(spans[0]?.statusCode, 2, 'the 503 attempt is an error');
    assert.equal(spans[0]?.traceId === spans[1]?.traceId, false, 'no encompassing span: two root attempts');
    assert.deepEqual(receiver.refused, []);
    await rfetch.close();
  });

  it('serves the metrics on the Prometheus endpoint, semconv and resilient_fetch names', async () => {
    const rfetch = createResilientFetch();
    await (await rfetch(`${upstream.url}/scraped`)).text();
    const { prometheusUrl } = telemetry;
    assert.match(prometheusUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const page = await (await fetch(prometheusUrl as string)).text();
    const port = `server_port="${upstream.port}"`;
    const expected = [
      new RegExp(`^http_client_request_duration_bucket\\{.*${port}.*le="0\\.005"\\} \\d+$`),
      /^resilient_fetch_call_duration_count\{.*resilient_fetch_outcome="success".*\} [1-9]\d*$/,
      /^resilient_fetch_health_state\{.*[{,]state="unknown".*\} 1$/,
      /^resilient_fetch_circuit_state\{.*[{,]state="closed".*\} 1$/,
      /^target_info\{.*service_name="otel-test"/,
    ];
    const lines = page.split('\n');
    const families = lines.filter((l) => l.startsWith('# TYPE')).join('\n');
    for (const pattern of expected) {
      assert.ok(
        lines.some((l) => pattern.test(l)),
        `no line matches ${pattern} on the Prometheus page; families:\n${families}`,
      );
    }
    await rfetch.close();
  });

  it('refuses a second start while one runs, before touching the globals', () => {
    assert.throws(() => startTelemetry({ metrics: 'none' }), /already started/);
  });
});

describe('startTelemetry() options', () => {
  // Validation runs before anything starts; these never reach the SDK.
  const cases: Array<[unknown, RegExp, ErrorConstructor]> = [
    [
      { metrics: 'push' },
      /option metrics must be one of 'prometheus', 'otlp', 'both', 'none', received "push"/,
      RangeError,
    ],
    [
      { prometheus: { port: 70_000 } },
      /option prometheus\.port must be an integer between 1 and 65535, received 70000/,
      RangeError,
    ],
    [
      { prometheus: { port: '9464' } },
      /option prometheus\.port must be a number, received "9464"/,
      TypeError,
    ],
    [{ prometheus: { hots: 'x' } }, /unknown option prometheus\.hots/, TypeError],
    [
      { endpoint: 'localhost:4318' },
      /option endpoint must be an http: or https: URL, received "localhost:4318"/,
      TypeError,
    ],
    [{ serviceName: '' }, /option serviceName must be a non-empty string/, TypeError],
    [{ spanExportDelayMs: -1 }, /option spanExportDelayMs must be an integer between 0 and/, RangeError],
    [{ instrumentations: {} }, /option instrumentations must be an array, received an object/, TypeError],
    [{ tracing: true }, /unknown option tracing/, TypeError],
    ['x', /options must be an object, received "x"/, TypeError],
  ];
  for (const [options, message, Kind] of cases) {
    it(`throws ${Kind.name} for ${JSON.stringify(options)}`, () => {
      assert.throws(
        () => startTelemetry(options as Parameters<typeof startTelemetry>[0]),
        (error: Error) => {
          assert.ok(error instanceof Kind, `${error.name}: ${error.message}`);
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('reads the OTEL_* variables when options are unset, naming a bad one', () => {
    const saved = { ...process.env };
    try {
      process.env.OTEL_METRICS_EXPORTER = 'prometheus,otlp';
      process.env.OTEL_EXPORTER_PROMETHEUS_PORT = '9999';
      const resolved = resolveOtelOptions();
      assert.equal(resolved.metrics, 'both');
      assert.equal(resolved.prometheus.port, 9999);
      assert.equal(resolved.prometheus.host, 'localhost');
      process.env.OTEL_EXPORTER_PROMETHEUS_PORT = 'abc';
      assert.throws(
        () => resolveOtelOptions(),
        /option OTEL_EXPORTER_PROMETHEUS_PORT must be a number, received "abc"/,
      );
    } finally {
      process.env = saved;
    }
  });
});

describe('RESILIENT_FETCH_OTEL=1 with resilient-fetch/register', () => {
  let receiver: OtlpReceiver;
  before(async () => {
    receiver = await startOtlpReceiver();
  });
  after(() => receiver.close());

  // The app's plain global fetch, against its own loopback server; no telemetry code in the app.
  const app = `
    import http from 'node:http';
    const server = http.createServer((req, res) => res.end('hi')).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const res = await fetch('http://127.0.0.1:' + server.address().port + '/app?sig=abc');
    console.log(res.status, await res.text());
    server.close();
  `;

  it('exports the spans of the global fetch and exits by itself, flushing on the way out', async () => {
    const result = await runInChild(['--import', './src/register.ts', '--input-type=module', '-e', app], {
      timeoutMs: 15_000,
      env: {
        RESILIENT_FETCH_OTEL: '1',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_SERVICE_NAME: 'register-child',
      },
    });
    assert.equal(result.timedOut, false, 'the child must exit by itself');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), '200 hi');
    // The batch delay is 5 s: these arrived only because beforeExit flushed them.
    assert.ok(result.durationMs < 5_000, `exited in ${Math.round(result.durationMs)} ms`);
    const [span] = receiver.spans;
    assert.equal(receiver.spans.length, 1);
    assert.equal(span?.name, 'GET');
    assert.equal(span?.attributes['http.response.status_code'], 200);
    assert.match(String(span?.attributes['url.full']), /\/app\?sig=REDACTED$/);
    assert.equal(span?.resource['service.name'], 'register-child');
    assert.ok(
      receiver.metricNames.includes('http.client.request.duration'),
      'OTLP metrics pushed by default',
    );
    assert.ok(receiver.metricNames.includes('resilient_fetch.call.duration'));
    assert.deepEqual(receiver.refused, []);
  });

  it('without the variable, starts no SDK and adds no signal listener', async () => {
    const result = await runInChild(
      [
        '--import',
        './src/register.ts',
        '-e',
        `const api = globalThis[Symbol.for('opentelemetry.js.api.1')];
         console.log(typeof globalThis.fetch.close, api?.trace === undefined, process.listenerCount('SIGTERM'))`,
      ],
      { env: { RESILIENT_FETCH_OTEL: undefined } },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'function true 0');
  });

  it('on SIGTERM flushes the spans, then ends as the signal would', async () => {
    // setInterval keeps the app alive (a server would); the app is then stopped by a signal.
    const result = await runInChild(
      [
        '--import',
        './src/register.ts',
        '--input-type=module',
        '-e',
        `${app}; setInterval(() => {}, 1000); process.kill(process.pid, 'SIGTERM');`,
      ],
      {
        timeoutMs: 15_000,
        env: {
          RESILIENT_FETCH_OTEL: '1',
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_SERVICE_NAME: 'sigterm',
        },
      },
    );
    assert.equal(result.timedOut, false, 'the signal must end the child');
    assert.equal(result.signal, 'SIGTERM', result.stderr);
    assert.ok(result.durationMs < 5_000, `ended in ${Math.round(result.durationMs)} ms`);
    const spans = receiver.spans.filter((s) => s.resource['service.name'] === 'sigterm');
    assert.deepEqual(
      spans.map((s) => s.name),
      ['GET'],
    );
  });
});
