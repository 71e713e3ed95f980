/** OpenTelemetry spans and metrics, with in-memory exporters and a real upstream. */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, beforeEach, describe, it } from 'node:test';
import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createResilientFetch } from '../../src/index.ts';
import { redactUrl } from '../../src/telemetry/redact.ts';
import { points, TestReader } from '../helpers/metrics.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('telemetry', () => {
  let server: TestServer;
  let seen: IncomingHttpHeaders[] = [];
  let status = 200;
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const contextManager = new AsyncLocalStorageContextManager().enable();

  before(async () => {
    context.setGlobalContextManager(contextManager);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    server = await startServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(status).end('x');
    });
  });
  after(async () => {
    await server.close();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => {
    exporter.reset();
    seen = [];
    status = 200;
  });

  const make = (options: Parameters<typeof createResilientFetch>[0] = {}) =>
    createResilientFetch({ ...options, telemetry: { tracerProvider, meterProvider } });

  it('makes one CLIENT span per attempt with the semconv attributes, each resend counted', async () => {
    const rfetch = make({ retry: { baseDelayMs: 5, jitter: 'none' }, circuitBreaker: false });
    status = 503;
    const res = await rfetch(`${server.url}/items?id=1`);
    assert.equal(res.status, 503);
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 4, 'one span per attempt (1 + 3 retries)');
    spans.forEach((span, i) => {
      assert.equal(span.name, 'GET');
      assert.equal(span.kind, SpanKind.CLIENT);
      assert.equal(span.attributes['http.request.method'], 'GET');
      assert.equal(span.attributes['server.address'], '127.0.0.1');
      assert.equal(span.attributes['server.port'], server.port);
      assert.equal(span.attributes['url.full'], `${server.url}/items?id=1`);
      assert.equal(span.attributes['http.response.status_code'], 503);
      assert.equal(span.attributes['error.type'], '503');
      assert.equal(span.attributes['network.protocol.version'], '1.1');
      assert.equal(span.attributes['http.request.resend_count'], i === 0 ? undefined : i);
      assert.equal(span.status.code, SpanStatusCode.ERROR);
    });
    const retries = spans
      .slice(0, 3)
      .map((span) => span.events.find((e) => e.name === 'resilient_fetch.retry'));
    assert.ok(retries.every((e) => e?.attributes?.['resilient_fetch.reason'] === '503'));
    assert.equal(retries[0]?.attributes?.['resilient_fetch.retry.delay_ms'], 5);
    await rfetch.close();
  });

  it('is a child of the caller span and propagates W3C trace context without touching the caller headers', async () => {
    const rfetch = make();
    const headers = new Headers({ 'x-caller': '1' });
    const parent = tracerProvider.getTracer('test').startSpan('parent');
    await context.with(trace.setSpan(context.active(), parent), async () => {
      await (await rfetch(server.url, { headers })).text();
    });
    parent.end();
    assert.deepEqual([...headers.keys()], ['x-caller'], "the caller's Headers are not mutated");
    const [attempt] = exporter.getFinishedSpans().filter((s) => s.name === 'GET');
    assert.ok(attempt);
    assert.equal(attempt.parentSpanContext?.spanId, parent.spanContext().spanId);
    const traceparent = seen[0]?.traceparent;
    assert.equal(typeof traceparent, 'string');
    assert.equal(traceparent, `00-${attempt.spanContext().traceId}-${attempt.spanContext().spanId}-01`);
    assert.equal(seen[0]?.['x-caller'], '1');
    await rfetch.close();
  });

  it('records the peer address and port of the connection each attempt went out on', async () => {
    const rfetch = make();
    // Both routes: the fast transport (a record of headers) and Node's fetch (a Headers object).
    await (await rfetch(`${server.url}/a`, { headers: { 'x-a': '1' } })).text();
    await (await rfetch(`${server.url}/b`, { headers: new Headers({ 'x-b': '1' }) })).text();
    assert.equal(rfetch.stats().sent.fast, 1);
    assert.equal(rfetch.stats().sent.fetch, 1);
    const spans = exporter.getFinishedSpans();
    assert.equal(spans.length, 2);
    for (const span of spans) {
      assert.equal(span.attributes['network.peer.address'], '127.0.0.1');
      assert.equal(span.attributes['network.peer.port'], server.port);
      assert.equal(span.attributes['network.protocol.version'], '1.1');
    }
    await rfetch.close();
  });

  it('makes each redirect hop the fast transport follows a span of its own, with its own traceparent', async () => {
    const redirecting = await startServer((req, res) => {
      seen.push(req.headers);
      if (req.url === '/from') res.writeHead(302, { location: `${server.url}/to` }).end();
      else res.writeHead(200).end('x');
    });
    const rfetch = make({ retry: { baseDelayMs: 5, jitter: 'none' }, circuitBreaker: false });
    status = 503;
    const res = await rfetch(`${redirecting.url}/from`, { headers: { 'X-Caller': '1' } });
    assert.equal(res.status, 503);
    assert.equal(res.redirected, true);
    const spans = exporter.getFinishedSpans();
    // Four attempts (1 + 3 retries), each a redirect hop and then the target: eight requests, eight spans.
    assert.equal(spans.length, 8);
    assert.equal(seen.length, 8);
    spans.forEach((span, i) => {
      const first = i % 2 === 0;
      assert.equal(span.attributes['http.request.resend_count'], i === 0 ? undefined : i);
      assert.equal(span.attributes['url.full'], first ? `${redirecting.url}/from` : `${server.url}/to`);
      assert.equal(span.attributes['server.port'], first ? redirecting.port : server.port);
      assert.equal(span.attributes['http.response.status_code'], first ? 302 : 503);
      assert.equal(span.status.code, first ? SpanStatusCode.UNSET : SpanStatusCode.ERROR);
      const { traceId, spanId } = span.spanContext();
      assert.equal(seen[i]?.traceparent, `00-${traceId}-${spanId}-01`, `request ${i} carries its own span`);
      assert.equal(seen[i]?.['x-caller'], '1');
    });
    await rfetch.close();
    await redirecting.close();
  });

  it('redacts credentials and signed query parameters in url.full', () => {
    const params = new Set(['sig', 'X-Amz-Signature']);
    assert.equal(
      redactUrl('https://user:pw@h.example/p?a=1&sig=secret&X-Amz-Signature=abc&b=%20x', params),
      'https://REDACTED:REDACTED@h.example/p?a=1&sig=REDACTED&X-Amz-Signature=REDACTED&b=%20x',
    );
    assert.equal(redactUrl('https://h.example/p?a=1', params), 'https://h.example/p?a=1');
  });

  it('does not mark a caller abort as an error, and marks a network failure with its code', async () => {
    const rfetch = make({ retry: false, circuitBreaker: false });
    const hanging = await startServer(() => {});
    const controller = new AbortController();
    const pending = rfetch(hanging.url, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 30));
    const activeNow = (await points(reader, 'http.client.active_requests')).find(
      (p) => p.attributes['server.port'] === hanging.port,
    );
    assert.equal(activeNow?.value, 1, 'the waiting attempt is counted as active');
    controller.abort(new Error('stop'));
    await assert.rejects(pending, /stop/);
    const activeAfter = (await points(reader, 'http.client.active_requests')).find(
      (p) => p.attributes['server.port'] === hanging.port,
    );
    assert.ok(activeAfter === undefined || activeAfter.value === 0, 'and no longer once it ended');
    await hanging.close();
    const closed = await startServer(() => {});
    await closed.close(); // its port is now free: connections are refused
    await assert.rejects(rfetch(`http://127.0.0.1:${closed.port}/`));
    const spans = exporter.getFinishedSpans();
    const aborted = spans.find((s) => s.attributes['server.port'] === hanging.port);
    assert.ok(aborted, 'the aborted attempt has its span');
    assert.notEqual(aborted.status.code, SpanStatusCode.ERROR, 'an abort is not an error');
    assert.equal(aborted.attributes['error.type'], undefined);
    const refused = spans.find((s) => s.attributes['server.port'] === closed.port);
    assert.equal(refused?.attributes['error.type'], 'ECONNREFUSED');
    assert.equal(refused?.status.code, SpanStatusCode.ERROR);
    await rfetch.close();
  });

  it('records attempt and call durations, retries, rejections, circuit and health state as metrics', async () => {
    // A meter of its own: the other tests' calls to the same server would add to these series.
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const rfetch = createResilientFetch({
      telemetry: { tracerProvider, meterProvider },
      retry: { baseDelayMs: 5, jitter: 'none', maxRetries: 1 },
      circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    status = 503;
    for (let i = 0; i < 3; i++)
      await rfetch(server.url).then(
        (r) => r.text(),
        () => undefined,
      );
    const attempts = await points(reader, 'http.client.request.duration');
    const mine = attempts.filter((p) => p.attributes['server.port'] === server.port);
    assert.equal(
      mine.reduce((n, p) => n + (p.value as { count: number }).count, 0),
      4,
      'two calls x two attempts; the third call was refused',
    );
    assert.ok(mine.every((p) => p.attributes['http.response.status_code'] === 503));
    const calls = await points(reader, 'resilient_fetch.call.duration');
    const outcomes = Object.fromEntries(
      calls
        .filter((p) => p.attributes['server.port'] === server.port)
        .map((p) => [p.attributes['resilient_fetch.outcome'], (p.value as { count: number }).count]),
    );
    assert.deepEqual(outcomes, { failure: 2, rejected: 1 });
    const retries = await points(reader, 'resilient_fetch.retries');
    assert.deepEqual(
      retries
        .filter((p) => p.attributes['server.port'] === server.port)
        .map((p) => [p.attributes['resilient_fetch.reason'], p.value]),
      [['503', 2]],
    );
    const rejections = await points(reader, 'resilient_fetch.rejections');
    assert.deepEqual(
      rejections
        .filter((p) => p.attributes['server.port'] === server.port)
        .map((p) => [p.attributes['resilient_fetch.reason'], p.value]),
      [['ERR_RF_CIRCUIT_OPEN', 1]],
    );
    const circuit = await points(reader, 'resilient_fetch.circuit.state');
    const open = circuit.find(
      (p) => p.attributes['server.port'] === server.port && p.attributes.state === 'open',
    );
    assert.equal(open?.value, 1);
    const health = await points(reader, 'resilient_fetch.health.state');
    const failed = health.find(
      (p) => p.attributes['server.port'] === server.port && p.attributes.state === 'failed',
    );
    assert.equal(failed?.value, 1, 'an open circuit is FAILED');
    assert.ok(circuit.every((p) => Object.keys(p.attributes).every((k) => !/url|path|query/.test(k))));
    // The refused call is visible in the trace too.
    const refused = exporter
      .getFinishedSpans()
      .find((s) => s.attributes['error.type'] === 'ERR_RF_CIRCUIT_OPEN');
    assert.ok(refused, 'a call refused by the open circuit leaves a span');
    await rfetch.close();
  });

  it('reports hosts beyond maxHosts as _other in metric attributes', async () => {
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: false,
      telemetry: { tracerProvider, meterProvider, maxHosts: 0 },
    });
    await (await rfetch(server.url)).text();
    const calls = await points(reader, 'resilient_fetch.call.duration');
    assert.ok(
      calls.some(
        (p) => p.attributes['server.address'] === '_other' && p.attributes['server.port'] === undefined,
      ),
    );
    await rfetch.close();
  });
});
