/** Per-host health: the status rule, the sliding window, and transitions driven by a real upstream. */
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import {
  type CallOutcome,
  classifyHealth,
  createResilientFetch,
  type HealthChange,
  type HealthCounts,
} from '../../src/index.ts';
import { HostHealthWindow } from '../../src/outcome/health.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';

const rules = { windowMs: 60_000, minCalls: 10, healthyRatio: 0.95, degradedRatio: 0.8 };
const counts = (calls: number, successes: number, failures: Partial<HealthCounts['failures']> = {}) => ({
  calls,
  successes,
  retries: 0,
  failures: { network: 0, timeout: 0, status_5xx: 0, status_429: 0, ...failures },
});

describe('classifyHealth', () => {
  it('applies the rules in order: circuit, minimum, healthy, timeout, degraded, failed', () => {
    assert.equal(classifyHealth(counts(100, 100), true, rules), 'FAILED', 'an open circuit is FAILED');
    assert.equal(classifyHealth(counts(9, 0, { network: 9 }), false, rules), 'UNKNOWN');
    assert.equal(classifyHealth(counts(0, 0), false, rules), 'UNKNOWN');
    assert.equal(classifyHealth(counts(100, 95, { status_5xx: 5 }), false, rules), 'HEALTHY');
    assert.equal(classifyHealth(counts(100, 94, { status_5xx: 6 }), false, rules), 'DEGRADED');
    assert.equal(classifyHealth(counts(100, 80, { network: 20 }), false, rules), 'DEGRADED');
    assert.equal(classifyHealth(counts(100, 79, { network: 21 }), false, rules), 'FAILED');
    assert.equal(classifyHealth(counts(100, 90, { timeout: 6, status_5xx: 4 }), false, rules), 'TIMEOUT');
    assert.equal(classifyHealth(counts(100, 10, { timeout: 50, network: 40 }), false, rules), 'TIMEOUT');
    assert.equal(classifyHealth(counts(100, 90, { timeout: 4, status_5xx: 6 }), false, rules), 'DEGRADED');
    assert.equal(classifyHealth(counts(100, 96, { timeout: 4 }), false, rules), 'HEALTHY', 'healthy wins');
  });
});

describe('HostHealthWindow', () => {
  const outcome = (result: CallOutcome['result'], extra: Partial<CallOutcome> = {}): CallOutcome => ({
    host: 'h:80',
    method: 'GET',
    startedAt: 0,
    durationMs: 10,
    attempts: 1,
    result,
    ...extra,
  });

  it('counts calls per kind, ignores aborted, rejected and invalid calls, and slides', () => {
    const window = new HostHealthWindow({ ...rules, windowMs: 10_000 });
    const t0 = 1_000_000;
    window.record(outcome('success', { attempts: 3 }), t0);
    window.record(outcome('failure', { failure: 'timeout' }), t0 + 1_000);
    window.record(outcome('failure', { failure: 'status_429' }), t0 + 2_000);
    window.record(outcome('aborted'), t0 + 2_000);
    window.record(outcome('rejected'), t0 + 2_000);
    window.record(outcome('invalid'), t0 + 2_000);
    let c = window.counts(t0 + 2_000);
    assert.equal(c.calls, 3);
    assert.equal(c.successes, 1);
    assert.equal(c.retries, 2);
    assert.deepEqual(c.failures, { network: 0, timeout: 1, status_5xx: 0, status_429: 1 });
    c = window.counts(t0 + 10_500);
    assert.equal(c.calls, 2, 'the first second left the window');
    c = window.counts(t0 + 12_999);
    assert.equal(c.calls, 0);
    assert.equal(window.latency(t0 + 40_000), null);
  });

  it('counts and latency cover the same span of time', () => {
    const window = new HostHealthWindow({ ...rules, windowMs: 5_000 });
    const t0 = 1_000_900;
    window.record(outcome('success', { durationMs: 42 }), t0);
    assert.equal(window.counts(t0 + 3_000).calls, 1);
    assert.equal(window.latency(t0 + 3_000)?.min, 42);
    // Whole-second buckets: at t0 + 4.2 s the call's second has left a 5 s window, for both.
    assert.equal(window.counts(t0 + 4_200).calls, 0);
    assert.equal(window.latency(t0 + 4_200), null);
  });

  it('summarises latency over the window', () => {
    const window = new HostHealthWindow(rules);
    const now = 5_000_000;
    for (let i = 1; i <= 100; i++) window.record(outcome('success', { durationMs: i }), now);
    const latency = window.latency(now);
    assert.deepEqual(latency, { min: 1, avg: 50.5, max: 100, p50: 50, p99: 99 });
  });
});

describe('health through resilientFetch', () => {
  let server: TestServer;
  let mode: 'ok' | 'fail' | 'slow' = 'ok';
  before(async () => {
    server = await startServer((_req, res) => {
      if (mode === 'fail') return void res.writeHead(503).end('down');
      if (mode === 'slow') {
        const timer = setTimeout(() => res.end('late'), 500);
        res.on('close', () => clearTimeout(timer));
        return;
      }
      res.end('ok');
    });
  });
  after(() => server.close());

  const drive = async (rfetch: ReturnType<typeof createResilientFetch>, n: number) => {
    for (let i = 0; i < n; i++) {
      const res = await rfetch(server.url).catch(() => undefined);
      await res?.arrayBuffer();
    }
  };

  it('goes UNKNOWN -> HEALTHY -> DEGRADED -> FAILED and tells each change', async () => {
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: false,
      health: { windowMs: 60_000, minCalls: 10 },
    });
    const changes: Array<[string, string]> = [];
    const published: HealthChange[] = [];
    const onPublish = (message: unknown) => published.push(message as HealthChange);
    diagnosticsChannel.subscribe('resilient-fetch:health', onPublish);
    rfetch.onHealthChange(({ from, to }) => changes.push([from, to]));
    const host = `127.0.0.1:${server.port}`;
    assert.equal(rfetch.health(host).status, 'UNKNOWN');
    mode = 'ok';
    await drive(rfetch, 20);
    assert.equal(rfetch.health(host).status, 'HEALTHY');
    mode = 'fail';
    await drive(rfetch, 3); // 20 ok of 23: 87%
    assert.equal(rfetch.health(host).status, 'DEGRADED');
    await drive(rfetch, 5); // 20 of 28: 71%
    const health = rfetch.health(host);
    assert.equal(health.status, 'FAILED');
    assert.equal(health.calls, 28);
    assert.equal(health.failures.status_5xx, 8);
    assert.ok(health.successRate !== null && Math.abs(health.successRate - 20 / 28) < 1e-9);
    assert.ok(health.latencyMs && health.latencyMs.max >= health.latencyMs.p50);
    assert.ok(health.lastRequestAt !== null && Date.now() - health.lastRequestAt < 5_000);
    assert.deepEqual(changes, [
      ['UNKNOWN', 'HEALTHY'],
      ['HEALTHY', 'DEGRADED'],
      ['DEGRADED', 'FAILED'],
    ]);
    assert.deepEqual(
      published.map((c) => [c.host, c.to]),
      changes.map(([, to]) => [host, to]),
    );
    assert.deepEqual(
      rfetch.health().map((h) => h.host),
      [host],
    );
    diagnosticsChannel.unsubscribe('resilient-fetch:health', onPublish);
    await rfetch.close();
  });

  it('recovers once the failures leave the window', async () => {
    // Two one-second buckets: the six calls below always fall in the window, whatever the second.
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: false,
      health: { windowMs: 2_000, minCalls: 5 },
    });
    const host = `127.0.0.1:${server.port}`;
    mode = 'fail';
    await drive(rfetch, 6);
    assert.equal(rfetch.health(host).status, 'FAILED');
    await sleep(3_100);
    mode = 'ok';
    await drive(rfetch, 6);
    assert.equal(rfetch.health(host).status, 'HEALTHY');
    await rfetch.close();
  });

  it('is TIMEOUT when timeouts dominate, and FAILED while the circuit is open', async () => {
    const rfetch = createResilientFetch({
      retry: false,
      timeout: { attemptMs: 50 },
      circuitBreaker: { consecutiveFailures: 12, halfOpenAfterMs: 60_000 },
      health: { minCalls: 10 },
    });
    const host = `127.0.0.1:${server.port}`;
    mode = 'ok';
    await drive(rfetch, 8);
    mode = 'slow';
    await drive(rfetch, 4);
    const health = rfetch.health(host);
    assert.equal(health.timeouts, 4);
    assert.equal(health.status, 'TIMEOUT');
    mode = 'fail';
    await drive(rfetch, 12);
    assert.equal(rfetch.health(host).circuit, 'open');
    assert.equal(rfetch.health(host).status, 'FAILED');
    rfetch.resetCircuit(host);
    assert.equal(rfetch.health(host).circuit, 'closed');
    await rfetch.close();
  });

  it('does not count the caller aborts nor calls refused by an open circuit', async () => {
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: { consecutiveFailures: 1, halfOpenAfterMs: 60_000 },
    });
    const host = `127.0.0.1:${server.port}`;
    mode = 'slow';
    const controller = new AbortController();
    const aborted = rfetch(server.url, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    await assert.rejects(aborted);
    assert.equal(rfetch.health(host).calls, 0);
    mode = 'fail';
    await drive(rfetch, 1);
    await drive(rfetch, 5); // refused: circuit open
    assert.equal(rfetch.health(host).calls, 1);
    await rfetch.close();
  });

  it('reports a circuit move once, with the call that caused it already counted', async () => {
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 100 },
      health: { minCalls: 3 },
    });
    const seen: string[] = [];
    rfetch.onHealthChange(({ from, to, health }) => seen.push(`${from}->${to}@${health.calls}`));
    mode = 'fail';
    await drive(rfetch, 2);
    await sleep(150);
    mode = 'ok';
    await drive(rfetch, 1); // the probe succeeds and closes the circuit
    assert.deepEqual(
      seen,
      ['UNKNOWN->FAILED@2'],
      'no flicker through UNKNOWN when the probe closes the circuit',
    );
    assert.equal(rfetch.health(server.url).calls, 3);
    assert.equal(rfetch.health(server.url).circuit, 'closed');
    await rfetch.close();
  });

  it('does not start tracking a host only asked about', async () => {
    const rfetch = createResilientFetch();
    assert.equal(rfetch.health('never-called.example:443').status, 'UNKNOWN');
    rfetch.resetCircuit('never-called.example:443');
    assert.deepEqual(rfetch.health(), []);
    assert.deepEqual(rfetch.stats().hosts, {});
    await rfetch.close();
  });
});
