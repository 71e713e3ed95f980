/**
 * Rate-limit pacing, against real servers that enforce the limit they announce (a request before the
 * reset gets a 429): what each header family says, the wait measured against the reset the server asked
 * for, no 429 collected while paced, an abort or the deadline ending a wait with nothing sent, other hosts
 * and the total cap untouched, `rateLimit: false` and `maxWaitMs`, stats and metrics, malformed values.
 */
import assert from 'node:assert/strict';
import type { OutgoingHttpHeaders } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { createResilientFetch, readRateLimit } from '../../src/index.ts';
import { type Behaviour, type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { points, TestReader } from '../helpers/metrics.ts';
import { create, fresh } from '../helpers/policies.ts';
import { settle } from '../helpers/settle.ts';

const quickFixed = { strategy: 'fixed', baseDelayMs: 20, jitter: 'none' } as const;

/**
 * A path whose first hit answers 200 with `headers` (saying nothing remains for `resetMs`), and which
 * then enforces it: a hit before the reset gets a 429, a later one a 200.
 */
function limited(server: FaultServer, path: string, resetMs: number, headers: OutgoingHttpHeaders): void {
  let resetAt = 0;
  server.route(path, (hit): Behaviour => {
    if (hit === 1) {
      resetAt = performance.now() + resetMs;
      return respond(200, 'first', headers);
    }
    return performance.now() < resetAt ? respond(429, 'too early') : respond(200, `hit ${hit}`);
  });
}

/** Milliseconds between the first and the second request the server saw on `path`. */
const secondAfter = (server: FaultServer, path: string): number => {
  const [gap] = server.gaps(path);
  assert.ok(gap !== undefined, 'a second request');
  return gap;
};

describe('rate-limit headers (readRateLimit)', () => {
  const now = 1_764_000_000_000;
  const read = (headers: Record<string, string>) => readRateLimit(new Headers(headers), now);

  it('the IETF fields: RateLimit (r, t) and RateLimit-Policy (q)', () => {
    assert.deepEqual(read({ ratelimit: '"default";r=0;t=30', 'ratelimit-policy': '"default";q=100;w=60' }), {
      remaining: 0,
      resetAt: now + 30_000,
      limit: 100,
      policy: 'default',
      source: 'ratelimit',
    });
    const two = read({ ratelimit: '"burst";r=5;t=1, "daily";r=0;t=3600' });
    assert.equal(two?.policy, 'daily');
    assert.equal(two?.resetAt, now + 3_600_000);
    assert.equal(read({ ratelimit: '"a";r=7;t=2;pk=:cGsx:, "b";r=3' })?.remaining, 3);
    assert.equal(read({ ratelimit: '"per, minute \\"x\\"";r=0;t=5' })?.policy, 'per, minute "x"');
  });

  it('RateLimit-* in delta seconds, X-RateLimit-* in epoch seconds or delta, OpenAI durations', () => {
    assert.equal(read({ 'ratelimit-remaining': '0', 'ratelimit-reset': '7' })?.resetAt, now + 7_000);
    const epoch = String(now / 1_000 + 42);
    assert.equal(read({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': epoch })?.resetAt, now + 42_000);
    assert.equal(read({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '42' })?.resetAt, now + 42_000);
    assert.equal(read({ 'x-ratelimit-remaining': '3', 'x-ratelimit-limit': '60' })?.limit, 60);
    for (const [text, ms] of [
      ['6m0s', 360_000],
      ['1s', 1_000],
      ['20ms', 20],
      ['1h2m3.5s', 3_723_500],
      ['0.5s', 500],
    ] as const) {
      const hint = read({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': text });
      assert.equal(hint?.resetAt, now + ms, text);
      assert.equal(hint?.policy, 'requests');
    }
    const tokens = read({
      'x-ratelimit-remaining-requests': '10',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-remaining-tokens': '0',
      'x-ratelimit-reset-tokens': '2s',
    });
    assert.deepEqual([tokens?.remaining, tokens?.resetAt, tokens?.policy], [0, now + 2_000, 'tokens']);
  });

  it('malformed values say nothing (negative, garbage, huge, conflicting, a policy said twice)', () => {
    const malformed: Array<Record<string, string>> = [
      { ratelimit: '"default";r=-1;t=5' },
      { ratelimit: '"default";r=0;t=abc' },
      { ratelimit: '"default";t=5' },
      { ratelimit: 'garbage(' },
      { ratelimit: '"a";r=0;t=5, "a";r=9;t=5' },
      { ratelimit: '"a";r=0;r=5' },
      { ratelimit: '"a";r=0;t=99999999999' },
      { ratelimit: '"a";r=0;t=5,' },
      { 'ratelimit-remaining': 'none' },
      { 'ratelimit-remaining': '0', 'ratelimit-reset': '-5' },
      { 'x-ratelimit-remaining': '0, 5', 'x-ratelimit-reset': '5' },
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '99999999999999' },
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now) },
      { 'x-ratelimit-remaining': '1e3' },
      { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '6 minutes' },
      { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '-1s' },
      { 'x-ratelimit-remaining-requests': '-3' },
    ];
    for (const headers of malformed) assert.equal(read(headers), undefined, JSON.stringify(headers));
    assert.equal(read({ 'content-type': 'text/plain' }), undefined);
  });
});

describe('rate-limit pacing', () => {
  let server: FaultServer;
  let other: FaultServer;
  before(async () => {
    server = await startFaultServer();
    other = await startFaultServer();
  });
  after(async () => {
    await server.close();
    await other.close();
  });

  const families: Array<[string, number, () => OutgoingHttpHeaders]> = [
    [
      'RateLimit (IETF)',
      1_000,
      () => ({ ratelimit: '"default";r=0;t=1', 'ratelimit-policy': '"default";q=5;w=1' }),
    ],
    ['RateLimit-Remaining / -Reset', 1_000, () => ({ 'ratelimit-remaining': '0', 'ratelimit-reset': '1' })],
    ['X-RateLimit-* (delta)', 1_000, () => ({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' })],
    [
      'OpenAI x-ratelimit-*-requests',
      300,
      () => ({ 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '300ms' }),
    ],
  ];
  for (const [label, resetMs, headers] of families) {
    it(`${label}: the next call waits for the reset, and collects no 429`, async () => {
      const path = fresh('family');
      limited(server, path, resetMs, headers());
      await using rfetch = create({ retry: quickFixed });
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200, await response.text());
      const gap = secondAfter(server, path);
      assert.ok(gap >= resetMs - 15 && gap < resetMs + 700, `waited ${gap} ms for a ${resetMs} ms reset`);
      assert.equal(server.hits(path), 2, 'no 429 collected on the way');
    });
  }

  it('X-RateLimit-Reset as epoch seconds (as GitHub sends it): waits until that second', async () => {
    const path = fresh('epoch');
    const resetEpoch = Math.floor(Date.now() / 1_000) + 2;
    server.route(path, (hit) =>
      hit === 1
        ? respond(200, 'first', { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(resetEpoch) })
        : respond(Date.now() < resetEpoch * 1_000 ? 429 : 200),
    );
    await using rfetch = create({ retry: quickFixed });
    await rfetch(`${server.url}${path}`);
    const response = await rfetch(`${server.url}${path}`);
    assert.equal(response.status, 200);
    assert.ok(Date.now() >= resetEpoch * 1_000 - 15);
    assert.equal(server.hits(path), 2);
  });

  it('calls started while paced all wait, then all go: none collects a 429', async () => {
    const path = fresh('many');
    limited(server, path, 300, {
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '300ms',
    });
    await using rfetch = create({ retry: false });
    await rfetch(`${server.url}${path}`);
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () => rfetch(`${server.url}${path}`).then((r) => r.status)),
    );
    assert.deepEqual(statuses, [200, 200, 200, 200, 200]);
    assert.ok(
      server.gaps(path).every((gap, i) => i > 0 || gap >= 285),
      `gaps ${server.gaps(path)}`,
    );
  });

  it('a retry waits for the reset a 429 announced, at least', async () => {
    const path = fresh('retry');
    let resetAt = 0;
    server.route(path, (hit) => {
      if (hit === 1) {
        resetAt = performance.now() + 300;
        const headers = { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': '300ms' };
        return respond(429, 'slow down', headers);
      }
      return respond(performance.now() < resetAt ? 429 : 200);
    });
    await using rfetch = create({ retry: quickFixed });
    const response = await rfetch(`${server.url}${path}`);
    assert.equal(response.status, 200);
    assert.equal(server.hits(path), 2);
    assert.ok(secondAfter(server, path) >= 285, `retried after ${secondAfter(server, path)} ms`);
  });

  it("the caller's abort ends a paced wait at once, with the caller's reason, nothing sent", async () => {
    const path = fresh('abort');
    limited(server, path, 5_000, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '5' });
    await using rfetch = create({ retry: quickFixed });
    await rfetch(`${server.url}${path}`);
    const controller = new AbortController();
    const reason = new Error('caller gave up');
    setTimeout(() => controller.abort(reason), 100);
    const result = await settle(rfetch(`${server.url}${path}`, { signal: controller.signal }), 3_000);
    assert.equal(result.status, 'rejected');
    assert.equal(result.status === 'rejected' && result.reason, reason);
    assert.ok(result.ms >= 90 && result.ms < 600, `ended after ${result.ms} ms`);
    assert.equal(server.hits(path), 1, 'nothing sent');
    assert.equal(rfetch.stats().hosts[server.host]?.circuit, 'closed');
  });

  it('the deadline ends a paced wait with a TimeoutError, nothing sent, not held against the host', async () => {
    const path = fresh('deadline');
    limited(server, path, 5_000, { ratelimit: '"default";r=0;t=5' });
    await using rfetch = create({ retry: quickFixed, circuitBreaker: { consecutiveFailures: 1 } });
    await rfetch(`${server.url}${path}`);
    const result = await settle(
      rfetch(`${server.url}${path}`, { resilience: { timeout: { deadlineMs: 300 } } }),
      3_000,
    );
    assert.equal(result.status, 'rejected');
    const error = result.status === 'rejected' ? result.reason : undefined;
    assert.ok(error instanceof DOMException && error.name === 'TimeoutError', String(error));
    assert.ok(result.ms >= 290 && result.ms < 900, `ended after ${result.ms} ms`);
    assert.equal(server.hits(path), 1, 'nothing sent');
    assert.equal(rfetch.stats().hosts[server.host]?.circuit, 'closed', 'one failure would have opened it');
    assert.equal(rfetch.health(server.host).failures.timeout, 0);
  });

  it('other hosts are not delayed, and a paced call holds no slot of the total cap', async () => {
    const path = fresh('paced-host');
    limited(server, path, 1_000, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
    other.route('/free', [respond(200)]);
    await using rfetch = create({ retry: quickFixed, limits: { maxInFlight: 1, maxQueue: 10 } });
    await rfetch(`${server.url}${path}`);
    const paced = rfetch(`${server.url}${path}`);
    const start = performance.now();
    for (let i = 0; i < 3; i++) assert.equal((await rfetch(`${other.url}/free`)).status, 200);
    assert.ok(performance.now() - start < 500, 'the other host answered at once');
    assert.equal(rfetch.stats().queue?.active, 0, 'the paced call holds no slot');
    assert.equal((await paced).status, 200);
    assert.equal(server.hits(path), 2);
  });

  it('a reset further away than rateLimit.maxWaitMs is not waited for: the call goes out as today', async () => {
    const path = fresh('too-far');
    limited(server, path, 3_000, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '3' });
    await using rfetch = create({ retry: false, rateLimit: { maxWaitMs: 500 } });
    await rfetch(`${server.url}${path}`);
    const result = await settle(rfetch(`${server.url}${path}`));
    assert.equal(result.status === 'fulfilled' && result.value.status, 429);
    assert.ok(result.ms < 400, `sent after ${result.ms} ms`);
    assert.equal(
      rfetch.stats().hosts[server.host]?.rateLimit?.remaining,
      0,
      'what the host said is still shown',
    );
  });

  it('rateLimit: false for one host: its calls are not paced, and nothing is kept', async () => {
    const path = fresh('off');
    limited(server, path, 1_000, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
    await using rfetch = create({ retry: false, hosts: { [server.host]: { rateLimit: false } } });
    await rfetch(`${server.url}${path}`);
    const result = await settle(rfetch(`${server.url}${path}`));
    assert.equal(result.status === 'fulfilled' && result.value.status, 429);
    assert.ok(result.ms < 400);
    assert.equal(rfetch.stats().hosts[server.host]?.rateLimit, null);
  });

  it('configureHost() turns pacing off and on live, validated with the pattern in the path', async () => {
    const path = fresh('live');
    limited(server, path, 1_000, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1' });
    await using rfetch = create({ retry: false });
    await rfetch(`${server.url}${path}`);
    assert.equal(rfetch.stats().hosts[server.host]?.rateLimit?.pacedUntil !== 0, true, 'paced');
    rfetch.configureHost(server.host, { rateLimit: false });
    const result = await settle(rfetch(`${server.url}${path}`));
    assert.equal(
      result.status === 'fulfilled' && result.value.status,
      429,
      'sent at once, as without pacing',
    );
    assert.ok(result.ms < 400);
    assert.throws(
      () => rfetch.configureHost(server.host, { rateLimit: { maxWaitMs: Number.NaN } }),
      new RegExp(
        `option hosts\\.${server.host.replaceAll('.', '\\.')}\\.rateLimit\\.maxWaitMs must be a finite number`,
      ),
    );
  });

  it('stats().hosts[host].rateLimit shows what the host said last; metrics count the paced calls and their wait', async () => {
    const reader = new TestReader();
    const meterProvider = new MeterProvider({ readers: [reader] });
    const path = fresh('stats');
    limited(server, path, 300, {
      ratelimit: '"per-minute";r=0;t=1',
      'ratelimit-policy': '"per-minute";q=60;w=60',
    });
    await using rfetch = create({ retry: false, telemetry: { meterProvider } });
    const before = Date.now();
    await rfetch(`${server.url}${path}`);
    const said = rfetch.stats().hosts[server.host]?.rateLimit;
    assert.ok(said);
    assert.deepEqual(
      [said.remaining, said.limit, said.policy, said.source],
      [0, 60, 'per-minute', 'ratelimit'],
    );
    assert.ok(
      said.resetAt !== undefined && said.resetAt >= before + 1_000 && said.resetAt <= Date.now() + 1_000,
    );
    assert.equal(said.pacedUntil, said.resetAt);
    await rfetch(`${server.url}${path}`);
    const [point] = await points(reader, 'resilient_fetch.rate_limit.wait.duration');
    const value = point?.value as { count: number; sum: number } | undefined;
    assert.equal(value?.count, 1);
    assert.ok(value && value.sum >= 0.9 && value.sum < 1.8, `waited ${value?.sum} s`);
    assert.equal(point?.attributes['server.port'], server.port);
    await meterProvider.shutdown();
  });

  it('malformed headers change nothing: no wait, and what the host said before is kept', async () => {
    await using rfetch = create({ retry: false });
    const good = fresh('good');
    server.route(good, [respond(200, 'ok', { 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': '30' })]);
    await rfetch(`${server.url}${good}`);
    const bad: OutgoingHttpHeaders[] = [
      { ratelimit: '"default";r=-1;t=5' },
      { ratelimit: '"default";r=0;t=soon' },
      { ratelimit: '"a";r=0;t=5, "a";r=9;t=5' },
      { 'x-ratelimit-remaining': ['0', '5'], 'x-ratelimit-reset': '5' },
      { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '99999999999999' },
      { 'ratelimit-remaining': '0', 'ratelimit-reset': '-1' },
      { 'x-ratelimit-remaining-requests': '0', 'x-ratelimit-reset-requests': 'later' },
    ];
    for (const headers of bad) {
      const path = fresh('bad');
      server.route(path, [respond(200, 'ok', headers)]);
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const result = await settle(rfetch(`${server.url}${path}`));
      assert.ok(
        result.status === 'fulfilled' && result.ms < 300,
        `${JSON.stringify(headers)}: ${result.ms} ms`,
      );
      assert.equal(rfetch.stats().hosts[server.host]?.rateLimit?.remaining, 5, JSON.stringify(headers));
    }
  });

  it('rateLimit.maxWaitMs is validated like the other options', () => {
    assert.throws(
      () => createResilientFetch({ rateLimit: { maxWaitMs: -1 } }),
      (e: unknown) =>
        e instanceof RangeError &&
        /option rateLimit\.maxWaitMs must be a finite number between 0 and 2147483647, received -1/.test(
          e.message,
        ),
    );
    assert.throws(
      () => createResilientFetch({ rateLimit: true as unknown as false }),
      /option rateLimit must be an object or false, received true/,
    );
    assert.throws(
      () => createResilientFetch({ rateLimit: { waitMs: 1 } as never }),
      /unknown option rateLimit\.waitMs/,
    );
  });
});
