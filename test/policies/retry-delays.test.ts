/**
 * How long a retry waits, timed server-side: the strategies, jitter and maxDelayMs, the documented
 * defaults, and Retry-After (seconds, the three HTTP-date forms, garbage, too long, past the deadline).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaults } from '../../src/index.ts';
import type { RetryOptions } from '../../src/options/types.ts';
import { computeRetryDelay } from '../../src/policies/retry-rules.ts';
import { burst, type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh } from '../helpers/policies.ts';
import { elapsedSince, settle } from '../helpers/settle.ts';

describe('retry policies', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  describe('strategies and delays (measured server-side)', () => {
    /** Runs one call against a path that fails `failures` times, returns the server-side gaps. */
    async function gapsFor(retry: RetryOptions, failures: number): Promise<number[]> {
      const path = fresh('delays');
      server.route(path, burst(failures, 503));
      await using rfetch = create({ retry: { maxRetries: failures, ...retry } });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      await response.text();
      assert.equal(server.hits(path), failures + 1);
      return server.gaps(path);
    }
    const show = (gaps: number[]) => gaps.map((g) => g.toFixed(0)).join(', ');
    // Lower bounds are strict (a delay is never cut short); upper bounds allow for a busy machine but stay
    // below what the next-closest strategy would wait.
    const slack = 140;

    it('exponential doubles from baseDelayMs', async () => {
      const gaps = await gapsFor({ strategy: 'exponential', baseDelayMs: 40, factor: 2, jitter: 'none' }, 3);
      [40, 80, 160].forEach((expected, i) => {
        const gap = gaps[i] ?? 0;
        assert.ok(gap >= expected - 2 && gap < expected + slack, `gap ${i + 1}: ${show(gaps)}`);
      });
    });

    it('linear adds baseDelayMs per retry', async () => {
      const gaps = await gapsFor({ strategy: 'linear', baseDelayMs: 50, jitter: 'none' }, 4);
      // Exponential would wait 400 ms before the fourth retry.
      [50, 100, 150, 200].forEach((expected, i) => {
        const gap = gaps[i] ?? 0;
        assert.ok(gap >= expected - 2 && gap < expected + slack, `gap ${i + 1}: ${show(gaps)}`);
      });
    });

    it('fixed waits baseDelayMs every time', async () => {
      const gaps = await gapsFor({ strategy: 'fixed', baseDelayMs: 60, jitter: 'none' }, 4);
      for (const [i, gap] of gaps.entries()) {
        assert.ok(gap >= 58 && gap < 60 + slack, `gap ${i + 1}: ${show(gaps)}`);
      }
    });

    it('none retries at once, whatever baseDelayMs says', async () => {
      const gaps = await gapsFor({ strategy: 'none', baseDelayMs: 1_000 }, 3);
      const total = gaps.reduce((a, b) => a + b, 0);
      assert.ok(total < 500, `three retries took ${total.toFixed(0)} ms: ${show(gaps)}`);
    });

    it('maxDelayMs caps the growth', async () => {
      const gaps = await gapsFor(
        { strategy: 'exponential', baseDelayMs: 40, factor: 4, maxDelayMs: 100, jitter: 'none' },
        3,
      );
      // Uncapped: 40, 160, 640.
      [40, 100, 100].forEach((expected, i) => {
        const gap = gaps[i] ?? 0;
        assert.ok(gap >= expected - 2 && gap < expected + slack, `gap ${i + 1}: ${show(gaps)}`);
      });
    });

    it('default jitter is proportional, within 10% of the delay', async () => {
      const gaps = await gapsFor({ strategy: 'fixed', baseDelayMs: 150 }, 3);
      for (const [i, gap] of gaps.entries()) {
        assert.ok(gap >= 135 - 2 && gap < 165 + slack, `gap ${i + 1}: ${show(gaps)}`);
      }
    });

    it('the defaults are the documented ones', () => {
      assert.equal(defaults.retry.strategy, 'exponential');
      assert.equal(defaults.retry.baseDelayMs, 1_000);
      assert.equal(defaults.retry.factor, 2);
      assert.equal(defaults.retry.maxDelayMs, 60_000);
      assert.equal(defaults.retry.maxRetries, 3);
      assert.equal(defaults.retry.jitter, 'proportional');
      assert.equal(defaults.retry.jitterRatio, 0.1);
      assert.deepEqual([...defaults.retry.statuses], [408, 429, 500, 502, 503, 504]);
      assert.deepEqual(defaults.retry.budget, { ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 10 });
      assert.equal(defaults.timeout.attemptMs, 60_000);
      assert.equal(defaults.timeout.deadlineMs, 120_000);
      assert.equal(defaults.timeout.deadlineCoversBody, false);
    });

    it('computeRetryDelay: each jitter kind stays within its range', () => {
      const base = {
        strategy: 'exponential',
        baseDelayMs: 100,
        factor: 2,
        maxDelayMs: 1_000,
        jitterRatio: 0.1,
      } as const;
      const at = (
        jitter: RetryOptions['jitter'] & string,
        retry: number,
        random: number,
        previous?: number,
      ) => computeRetryDelay(retry, { ...base, jitter }, previous, () => random);
      // proportional: 400 ms +- 10%
      assert.equal(at('proportional', 3, 0), 360);
      assert.equal(at('proportional', 3, 1), 440);
      assert.equal(at('proportional', 3, 0.5), 400);
      // full: [0, delay]
      assert.equal(at('full', 3, 0), 0);
      assert.equal(at('full', 3, 0.999), 399.6);
      // decorrelated: [base, 3 x previous], capped
      assert.equal(at('decorrelated', 2, 0, 150), 100);
      assert.equal(at('decorrelated', 2, 1, 150), 450);
      assert.equal(at('decorrelated', 2, 1, 900), 1_000);
      // none, and the cap after jitter
      assert.equal(at('none', 3, 0.7), 400);
      assert.equal(at('proportional', 10, 1), 1_000);
    });
  });

  describe('Retry-After', () => {
    const rfetchWith = (retry: RetryOptions = {}) =>
      create({ retry: { baseDelayMs: 10, jitter: 'none', maxDelayMs: 5_000, ...retry } });

    it('429 with Retry-After in seconds: the next attempt waits that long', async () => {
      const path = fresh('ra-seconds');
      server.route(path, [respond(429, 'slow down', { 'retry-after': '1' }), respond(200)]);
      await using rfetch = rfetchWith();
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      const [gap = 0] = server.gaps(path);
      assert.ok(gap >= 995 && gap < 1_500, `gap ${gap.toFixed(0)} ms for Retry-After: 1`);
    });

    it('Retry-After: 0 retries at once despite a long backoff', async () => {
      const path = fresh('ra-zero');
      server.route(path, [respond(503, 'busy', { 'retry-after': '0' }), respond(200)]);
      await using rfetch = rfetchWith({ baseDelayMs: 3_000 });
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const [gap = 0] = server.gaps(path);
      assert.ok(gap < 500, `gap ${gap.toFixed(0)} ms`);
    });

    it('503 with Retry-After as an HTTP-date: the next attempt waits until that date', async () => {
      const path = fresh('ra-date');
      let expected = 0;
      server.route(path, (hit) => {
        if (hit > 1) return respond(200);
        const at = Math.ceil((Date.now() + 400) / 1_000) * 1_000;
        expected = at - Date.now();
        return respond(503, 'busy', { 'retry-after': new Date(at).toUTCString() });
      });
      await using rfetch = rfetchWith();
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const [gap = 0] = server.gaps(path);
      assert.ok(
        gap >= expected - 20 && gap < expected + 500,
        `gap ${gap.toFixed(0)}, date ${expected} ms ahead`,
      );
    });

    it('an HTTP-date in the past retries at once', async () => {
      const path = fresh('ra-past');
      server.route(path, [
        respond(503, 'busy', { 'retry-after': new Date(Date.now() - 60_000).toUTCString() }),
        respond(200),
      ]);
      await using rfetch = rfetchWith({ baseDelayMs: 3_000 });
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const [gap = 0] = server.gaps(path);
      assert.ok(gap < 500, `gap ${gap.toFixed(0)} ms`);
    });

    it('a Retry-After longer than maxDelayMs is not waited for: that response is returned', async () => {
      await using rfetch = rfetchWith({ maxDelayMs: 1_000 });
      for (const value of ['120', new Date(Date.now() + 3_600_000).toUTCString()]) {
        const path = fresh('ra-too-long');
        server.route(path, [respond(503, 'come back later', { 'retry-after': value }), respond(200)]);
        const start = performance.now();
        const response = await rfetch(`${server.url}${path}`);
        const ms = elapsedSince(start);
        assert.equal(response.status, 503, value);
        assert.equal(response.headers.get('retry-after'), value);
        assert.equal(await response.text(), 'come back later');
        assert.equal(server.hits(path), 1, value);
        assert.ok(ms < 500, `${value}: took ${ms.toFixed(0)} ms`);
      }
    });

    it('garbage, negative, fractional and absurd values neither throw nor wait', async () => {
      await using rfetch = rfetchWith({ maxDelayMs: 2_000 });
      const garbage = [
        'soon',
        '-5',
        '1.5',
        ' ',
        '0x10',
        '+3',
        'Wed, 99 Foo 2020 99:99:99 GMT',
        'Thu, garbage',
      ];
      for (const value of garbage) {
        const path = fresh('ra-garbage');
        server.route(path, [respond(503, 'busy', { 'retry-after': value }), respond(200)]);
        const outcome = await settle(rfetch(`${server.url}${path}`), 2_000);
        assert.equal(outcome.status, 'fulfilled', `${JSON.stringify(value)}: ${outcome.status}`);
        // Unreadable: the computed backoff (10 ms) applies.
        assert.equal(server.hits(path), 2, JSON.stringify(value));
        assert.ok(outcome.ms < 500, `${JSON.stringify(value)} took ${outcome.ms.toFixed(0)} ms`);
      }
      for (const value of ['9'.repeat(40), 'Fri, 31 Dec 9999 23:59:59 GMT']) {
        const path = fresh('ra-absurd');
        server.route(path, [respond(503, 'busy', { 'retry-after': value }), respond(200)]);
        const outcome = await settle(rfetch(`${server.url}${path}`), 2_000);
        assert.equal(outcome.status, 'fulfilled', `${value}: ${outcome.status}`);
        assert.equal(server.hits(path), 1, `${value}: far beyond maxDelayMs, so not waited for`);
        assert.ok(outcome.ms < 500, `${value} took ${outcome.ms.toFixed(0)} ms`);
      }
    });

    it('a Retry-After beyond the deadline is not waited for: the call ends before its deadline', async () => {
      const path = fresh('ra-deadline');
      server.route(path, [respond(503, 'busy', { 'retry-after': '2' }), respond(200)]);
      await using rfetch = rfetchWith();
      const outcome = await settle(
        rfetch(`${server.url}${path}`, { resilience: { timeout: { deadlineMs: 600 } } }),
        3_000,
      );
      assert.notEqual(outcome.status, 'pending');
      assert.ok(outcome.ms < 600, `settled after ${outcome.ms.toFixed(0)} ms`);
      assert.equal(server.hits(path), 1);
    });

    it('an RFC 850 HTTP-date (an obsolete form recipients must accept) is waited for', async () => {
      const path = fresh('ra-rfc850');
      let expected = 0;
      server.route(path, (hit) => {
        if (hit > 1) return respond(200);
        const at = new Date(Math.ceil((Date.now() + 400) / 1_000) * 1_000);
        expected = at.getTime() - Date.now();
        const [day, month] = [
          at.toLocaleDateString('en-US', { weekday: 'long', timeZone: 'UTC' }),
          at.toLocaleDateString('en-US', { month: 'short', timeZone: 'UTC' }),
        ];
        const pad = (n: number) => String(n).padStart(2, '0');
        const value = `${day}, ${pad(at.getUTCDate())}-${month}-${pad(at.getUTCFullYear() % 100)} ${pad(
          at.getUTCHours(),
        )}:${pad(at.getUTCMinutes())}:${pad(at.getUTCSeconds())} GMT`;
        return respond(503, 'busy', { 'retry-after': value });
      });
      await using rfetch = rfetchWith();
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const [gap = 0] = server.gaps(path);
      assert.ok(gap >= expected - 20, `gap ${gap.toFixed(0)}, date ${expected} ms ahead`);
    });

    it('an asctime HTTP-date is read as GMT, whatever the local time zone', async () => {
      const path = fresh('ra-asctime');
      let expected = 0;
      server.route(path, (hit) => {
        if (hit > 1) return respond(200);
        const at = new Date(Math.ceil((Date.now() + 400) / 1_000) * 1_000);
        expected = at.getTime() - Date.now();
        // asctime: "Sun Nov  6 08:49:37 1994", always GMT.
        const [weekday, , month] = at.toUTCString().split(/[ ,]+/);
        const time = at.toISOString().slice(11, 19);
        const value = `${weekday} ${month} ${String(at.getUTCDate()).padStart(2, ' ')} ${time} ${at.getUTCFullYear()}`;
        return respond(503, 'busy', { 'retry-after': value });
      });
      const zone = process.env.TZ;
      process.env.TZ = 'America/New_York';
      const rfetch = rfetchWith();
      try {
        assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
        const [gap = 0] = server.gaps(path);
        assert.ok(
          gap >= expected - 20 && gap < expected + 500,
          `gap ${gap.toFixed(0)}, date ${expected} ms ahead`,
        );
      } finally {
        if (zone === undefined) delete process.env.TZ;
        else process.env.TZ = zone;
        await rfetch.close();
      }
    });
  });
});
