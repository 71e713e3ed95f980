/**
 * The retry budget: RetryBudget on its own (injected time), then through resilientFetch: retries add at
 * most ratio x calls of the window, the floor lets a quiet host retry, a denied call ends as its last
 * attempt did; per host, and off with false.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { defaults } from '../../src/options/defaults.ts';
import { RetryBudget } from '../../src/policies/retry-budget.ts';
import { assertFetchFailed } from '../helpers/errors.ts';
import { type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh, quick } from '../helpers/policies.ts';

describe('RetryBudget', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');

  /** Takes retries until the budget refuses one (at most `limit`); returns how many it allowed. */
  function drain(budget: RetryBudget, now: number, limit = 10_000): number {
    let allowed = 0;
    while (allowed < limit && budget.tryRetry(now)) allowed++;
    return allowed;
  }

  function recordCalls(budget: RetryBudget, count: number, now: number): void {
    for (let i = 0; i < count; i++) budget.recordCall(now);
  }

  it('allows exactly ratio x calls: 20 retries for 100 calls at 0.2 without a floor', () => {
    const budget = new RetryBudget({ ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 0 });
    assert.equal(budget.tryRetry(t0), false, 'no calls, no floor: no retry');
    recordCalls(budget, 100, t0);
    assert.equal(drain(budget, t0 + 500), 20);
    // A refused retry takes nothing: five more calls earn exactly one more.
    recordCalls(budget, 5, t0 + 600);
    assert.equal(drain(budget, t0 + 700), 1);
  });

  it('the floor allows minRetriesPerSecond x window retries with no calls at all', () => {
    assert.equal(drain(new RetryBudget({ ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 10 }), t0), 100);
    assert.equal(drain(new RetryBudget({ ratio: 0.2, windowMs: 5_000, minRetriesPerSecond: 2 }), t0), 10);
    assert.equal(drain(new RetryBudget(defaults.retry.budget), t0), 100);
    // Floor and ratio add up: 10 + 50 x 0.2.
    const both = new RetryBudget({ ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 1 });
    recordCalls(both, 50, t0);
    assert.equal(drain(both, t0), 20);
  });

  it('the window slides: retries taken longer than the window ago are forgotten', () => {
    const budget = new RetryBudget({ ratio: 0, windowMs: 10_000, minRetriesPerSecond: 1 });
    assert.equal(drain(budget, t0), 10);
    assert.equal(budget.tryRetry(t0 + 5_000), false);
    assert.equal(budget.tryRetry(t0 + 9_999), false, 'still inside the window');
    assert.equal(drain(budget, t0 + 10_000), 10, 'the retries of t0 left the window');
    assert.equal(drain(budget, t0 + 60_000), 10, 'a long pause forgets everything');
  });

  it('the window slides: calls older than the window no longer earn retries', () => {
    const budget = new RetryBudget({ ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 0 });
    recordCalls(budget, 50, t0);
    recordCalls(budget, 50, t0 + 5_000);
    assert.equal(drain(budget, t0 + 5_000), 20);
    // The 50 calls of t0 are gone; the 20 retries of t0+5s still count against the 50 calls left.
    assert.equal(budget.tryRetry(t0 + 10_000), false);
    // Everything of t0+5s is gone too: no calls, no floor, nothing allowed until new calls come.
    assert.equal(budget.tryRetry(t0 + 15_000), false);
    recordCalls(budget, 10, t0 + 15_000);
    assert.equal(drain(budget, t0 + 15_500), 2);
  });
});

describe('retry policies', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  describe('retry budget', () => {
    it('retries add at most ratio x calls of the window; a denied call ends as its last attempt did', async () => {
      const ok = fresh('budget-ok');
      const failing = fresh('budget-fail');
      server.route(ok, [respond(200)]);
      server.route(failing, (hit) => respond(503, `attempt ${hit}`));
      await using rfetch = create({
        retry: { ...quick, baseDelayMs: 5, maxRetries: 5, budget: { ratio: 0.2, minRetriesPerSecond: 0 } },
      });
      for (let i = 0; i < 10; i++) await (await rfetch(`${server.url}${ok}`)).text();
      // 11 calls: 2.2 retries allowed.
      const first = await rfetch(`${server.url}${failing}`);
      assert.equal(first.status, 503);
      assert.equal(await first.text(), 'attempt 3', 'the last attempt is what the caller gets');
      assert.equal(server.hits(failing), 3);
      assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 1);
      // 12 calls: 2.4 allowed, 2 spent: no retry at all.
      const second = await rfetch(`${server.url}${failing}`);
      assert.equal(second.status, 503);
      await second.text();
      assert.equal(server.hits(failing), 4);
      assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 2);
    });

    it('the floor lets a quiet host retry: minRetriesPerSecond x window', async () => {
      const path = fresh('budget-floor');
      server.route(path, [respond(503)]);
      await using rfetch = create({
        retry: { ...quick, baseDelayMs: 5, maxRetries: 5, budget: { ratio: 0, minRetriesPerSecond: 0.3 } },
      });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 503);
      await response.text();
      assert.equal(server.hits(path), 4, '0.3/s over 10 s: 3 retries');
      assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 1);
    });

    it('a spent budget ends a failing connection as fetch would: TypeError("fetch failed")', async () => {
      const path = fresh('budget-reset');
      server.route(path, [{ kind: 'reset' }, respond(200)]);
      await using rfetch = create({ retry: { ...quick, budget: { ratio: 0, minRetriesPerSecond: 0 } } });
      await assert.rejects(rfetch(`${server.url}${path}`), (e: unknown) => {
        assertFetchFailed(e);
        return true;
      });
      assert.equal(server.hits(path), 1);
      assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 1);
    });

    it('the default budget lets a host with no other traffic use all its retries', async () => {
      const path = fresh('budget-default');
      server.route(path, [respond(503)]);
      await using rfetch = create({ retry: quick });
      await (await rfetch(`${server.url}${path}`)).text();
      assert.equal(server.hits(path), 4);
      assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 0);
    });

    it('budget: false turns it off, and the budget is per host', async () => {
      await using other = await startFaultServer();
      const path = fresh('budget-off');
      server.route(path, [respond(503)]);
      other.route(path, [respond(503)]);
      const spent = { ratio: 0, minRetriesPerSecond: 0 };
      await using rfetch = create({
        retry: { ...quick, budget: spent },
        hosts: { [other.host]: { retry: { budget: false } } },
      });
      await (await rfetch(`${server.url}${path}`)).text();
      assert.equal(server.hits(path), 1, 'spent budget: no retry');
      await (await rfetch(`${other.url}${path}`)).text();
      assert.equal(other.hits(path), 4, 'no budget: every retry');
      const hosts = rfetch.stats().hosts;
      assert.equal(hosts[server.host]?.retriesDenied, 1);
      assert.equal(hosts[other.host]?.retriesDenied, 0);
    });
  });
});
