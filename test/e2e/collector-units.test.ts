/**
 * The Collector path (otel-collector.yaml) clears the unit of every histogram the library records in
 * seconds: its Prometheus exporter would otherwise append `_seconds` to their names, which the JS
 * exporter the dashboards and alerts are written against does not. A real resilientFetch records every
 * one of them here (a call, a call queued under the total cap, a call paced to a rate-limit reset the
 * upstream announced), read through the SDK's own metric reader.
 *
 * Run: node --test test/e2e/collector-units.test.ts
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { MeterProvider, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { createResilientFetch } from '../../src/index.ts';
import { repoRoot } from '../helpers/child.ts';
import { TestReader } from '../helpers/metrics.ts';
import { startServer } from '../helpers/server.ts';

it('the Collector clears the unit of exactly the histograms the library records in seconds', async () => {
  let calls = 0;
  await using server = await startServer((_req, res) => {
    calls++;
    // The first answer says no request remains for 50 ms: the next call is paced to that reset.
    const headers =
      calls === 1 ? { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '50ms' } : {};
    setTimeout(() => res.writeHead(200, headers).end('ok'), 20);
  });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  await using rfetch = createResilientFetch({ telemetry: { meterProvider }, limits: { maxInFlight: 1 } });
  await (await rfetch(`${server.url}/first`)).text();
  // Two at once under a cap of one: the second waits in the queue; both were paced first.
  await Promise.all([1, 2].map(async (n) => (await rfetch(`${server.url}/${n}`)).text()));

  const { resourceMetrics } = (await reader.collect()) as { resourceMetrics: ResourceMetrics };
  const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  const inSeconds = metrics
    .filter((m) => m.descriptor.unit === 's' && m.dataPoints.length > 0)
    .map((m) => m.descriptor.name)
    .sort();
  assert.deepEqual(inSeconds, [
    'http.client.request.duration',
    'resilient_fetch.call.duration',
    'resilient_fetch.queue.wait.duration',
    'resilient_fetch.rate_limit.wait.duration',
  ]);

  const collector = readFileSync(join(repoRoot, 'otel-collector.yaml'), 'utf8');
  const condition = /set\(metric\.unit, ""\) where (.+)/.exec(collector)?.[1] ?? '';
  const cleared = [...condition.matchAll(/metric\.name == "([^"]+)"/g)].map((m) => m[1]).sort();
  assert.deepEqual(cleared, inSeconds);
  await meterProvider.shutdown();
});
