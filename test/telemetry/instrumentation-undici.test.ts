/**
 * An app that also runs OpenTelemetry's undici/fetch instrumentation (getNodeAutoInstrumentations()
 * enables it) gets one span per attempt, one traceparent, and one http.client.request.duration series.
 * Its own file: the instrumentation subscribes to undici's diagnostics channels for the whole process.
 */
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createResilientFetch } from '../../src/index.ts';
import { TestReader } from '../helpers/metrics.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

describe('with OpenTelemetry instrumentation-undici enabled', () => {
  let server: TestServer;
  const seen: IncomingHttpHeaders[] = [];
  let status = 200;
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const instrumentation = new UndiciInstrumentation();

  before(async () => {
    context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    instrumentation.setTracerProvider(tracerProvider);
    instrumentation.setMeterProvider(meterProvider);
    instrumentation.enable();
    server = await startServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(status).end('x');
    });
  });
  after(async () => {
    instrumentation.disable();
    await server.close();
    context.disable();
    propagation.disable();
  });

  it('gives our attempts one span and one traceparent each, and leaves the app its own fetch spans', async () => {
    const rfetch = createResilientFetch({
      retry: { baseDelayMs: 5, jitter: 'none', maxRetries: 1 },
      telemetry: { tracerProvider, meterProvider },
    });
    status = 503;
    await (await rfetch(`${server.url}/ours`)).text();
    const ours = exporter.getFinishedSpans();
    assert.equal(ours.length, 2, `two attempts, two spans: ${ours.map((s) => s.instrumentationScope.name)}`);
    assert.ok(ours.every((s) => s.instrumentationScope.name === 'resilient-fetch'));
    assert.equal(seen.length, 2);
    for (const headers of seen) {
      assert.equal(typeof headers.traceparent, 'string');
      assert.ok(!String(headers.traceparent).includes(','), `one traceparent: ${headers.traceparent}`);
    }
    assert.deepEqual(
      seen.map((h) => String(h.traceparent).split('-')[2]),
      ours.map((s) => s.spanContext().spanId),
      'each attempt carries its own span as parent',
    );
    // The app's own global fetch is still instrumented by instrumentation-undici.
    exporter.reset();
    status = 200;
    await (await fetch(`${server.url}/app`)).text();
    const app = exporter.getFinishedSpans();
    assert.equal(app.length, 1);
    assert.match(app[0]?.instrumentationScope.name ?? '', /instrumentation-undici/);
    await rfetch.close();
  });

  it('records one http.client.request.duration series, not two', async () => {
    const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
    const durations = resourceMetrics.scopeMetrics.flatMap((scope) =>
      scope.metrics
        .filter((m) => m.descriptor.name === 'http.client.request.duration')
        .map((m) => [scope.scope.name, m.dataPoints.length] as const),
    );
    assert.ok(durations.length > 0, 'the duration metric exists');
    assert.ok(
      durations.every(([scope]) => scope !== 'resilient-fetch'),
      `only instrumentation-undici records it: ${JSON.stringify(durations)}`,
    );
    assert.equal(durations.length, 1);
  });
});
