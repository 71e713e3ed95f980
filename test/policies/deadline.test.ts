/**
 * Attempt timeouts and deadlines against a real fault-injection server: attemptMs with retries and the
 * caller's signal on both routes, deadlineMs across attempts and backoffs, bodyTimeoutMs and
 * deadlineCoversBody for the body, per-request timeouts and retries, and every call settles.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ResilientRequestInit } from '../../src/options/types.ts';
import { isTimeoutError } from '../helpers/errors.ts';
import { type Behaviour, type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh, quick } from '../helpers/policies.ts';
import { sleep } from '../helpers/server.ts';
import { elapsedSince, settle } from '../helpers/settle.ts';

describe('deadlines', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  it('attemptMs: a hanging attempt times out and is retried; the next attempt succeeds', async () => {
    const path = fresh('attempt-hang');
    server.route(path, [{ kind: 'hang' }, respond(200)]);
    await using rfetch = create({ retry: quick, timeout: { attemptMs: 150 } });
    const start = performance.now();
    const response = await rfetch(`${server.url}${path}`);
    const ms = elapsedSince(start);
    assert.equal(response.status, 200);
    assert.equal(server.hits(path), 2);
    assert.ok(ms >= 150 && ms < 800, `${ms.toFixed(0)} ms`);
  });

  it('attemptMs and the caller signal act together on both routes (fast transport and Node fetch)', async () => {
    // The attempt's own abort and the caller's signal reach the fast transport separately, and Node's
    // fetch as one combined signal: each route must honour both.
    const routes = [
      ['fast', (url: string, signal: AbortSignal) => [url, { signal }]],
      ['fetch', (url: string, signal: AbortSignal) => [new Request(url, { signal })]],
      [
        'fetch',
        (url: string, signal: AbortSignal) => [url, { signal, headers: new Headers({ 'x-a': '1' }) }],
      ],
    ] as const;
    for (const [route, args] of routes) {
      await using rfetch = create({ retry: quick, timeout: { attemptMs: 150 } });
      await using patient = create({ retry: quick, timeout: { attemptMs: 5_000 } });
      const before = rfetch.stats().sent[route];
      const timedOut = fresh(`attempt-signal-${route}`);
      server.route(timedOut, [{ kind: 'hang' }, respond(200, 'second')]);
      const controller = new AbortController();
      const retried = await settle(
        rfetch(...(args(`${server.url}${timedOut}`, controller.signal) as [string])),
        1_500,
      );
      assert.equal(retried.status, 'fulfilled', `${route}: the hanging attempt timed out and was retried`);
      if (retried.status === 'fulfilled') assert.equal(await retried.value.text(), 'second');
      assert.equal(server.hits(timedOut), 2);
      assert.equal(rfetch.stats().sent[route], before + 2, `${route}: both attempts went that route`);

      // The caller's abort, with an attempt timeout far away: only the caller's signal can end the
      // attempt in time (a retry's backoff would also see the abort, but only after the timeout).
      const aborted = fresh(`attempt-signal-abort-${route}`);
      server.route(aborted, [{ kind: 'hang' }]);
      const caller = new AbortController();
      const pending = patient(...(args(`${server.url}${aborted}`, caller.signal) as [string]));
      await server.waitForHits(aborted, 1);
      const reason = new Error(`caller gave up (${route})`);
      caller.abort(reason);
      const outcome = await settle(pending, 1_000);
      assert.equal(outcome.status, 'rejected', `${route}: the caller's abort ended the attempt`);
      if (outcome.status === 'rejected')
        assert.equal(outcome.reason, reason, `${route}: the caller's reason`);
      assert.ok(outcome.ms < 500, `${route}: rejected ${outcome.ms.toFixed(0)} ms after the abort`);
      await sleep(200);
      assert.equal(server.hits(aborted), 1, `${route}: the abort was final, nothing was retried`);
    }
  });

  it('attemptMs: slow headers count as an attempt timeout', async () => {
    const path = fresh('attempt-slow-headers');
    server.route(path, [
      { kind: 'slowHeaders', delayMs: 600, next: respond(200, 'late') },
      respond(200, 'fast'),
    ]);
    await using rfetch = create({ retry: quick, timeout: { attemptMs: 150 } });
    const response = await rfetch(`${server.url}${path}`);
    assert.equal(await response.text(), 'fast');
    assert.equal(server.hits(path), 2);
  });

  it('every attempt timing out rejects with a DOMException TimeoutError after maxRetries + 1 attempts', async () => {
    const path = fresh('attempt-all-hang');
    server.route(path, [{ kind: 'hang' }]);
    await using rfetch = create({ retry: { ...quick, maxRetries: 2 }, timeout: { attemptMs: 100 } });
    const start = performance.now();
    const outcome = await settle(rfetch(`${server.url}${path}`), 3_000);
    assert.equal(outcome.status, 'rejected');
    if (outcome.status === 'rejected') {
      assert.ok(outcome.reason instanceof DOMException, String(outcome.reason));
      assert.equal(outcome.reason.name, 'TimeoutError');
    }
    const ms = elapsedSince(start);
    assert.equal(server.hits(path), 3);
    assert.ok(ms >= 3 * 100 + 2 * 20 - 5 && ms < 1_200, `${ms.toFixed(0)} ms`);
  });

  it('deadlineMs: the call rejects with TimeoutError at the deadline, across attempts and backoffs', async () => {
    const path = fresh('deadline-across');
    server.route(path, [{ kind: 'hang' }]);
    await using rfetch = create({
      retry: { ...quick, maxRetries: 10 },
      timeout: { attemptMs: 200, deadlineMs: 550 },
    });
    const outcome = await settle(rfetch(`${server.url}${path}`), 3_000);
    assert.equal(outcome.status, 'rejected');
    if (outcome.status === 'rejected') assert.ok(isTimeoutError(outcome.reason), String(outcome.reason));
    assert.ok(outcome.ms >= 545 && outcome.ms < 950, `${outcome.ms.toFixed(0)} ms`);
    const hits = server.hits(path);
    assert.ok(hits >= 2 && hits <= 3, `${hits} attempts in 550 ms of 200 ms attempts`);
  });

  it('a deadline shorter than attemptMs caps the attempt; nothing is sent after it', async () => {
    const path = fresh('deadline-caps');
    server.route(path, [{ kind: 'hang' }]);
    await using rfetch = create({ retry: quick, timeout: { attemptMs: 5_000, deadlineMs: 300 } });
    const outcome = await settle(rfetch(`${server.url}${path}`), 3_000);
    assert.equal(outcome.status, 'rejected');
    if (outcome.status === 'rejected') assert.ok(isTimeoutError(outcome.reason), String(outcome.reason));
    assert.ok(outcome.ms >= 295 && outcome.ms < 800, `${outcome.ms.toFixed(0)} ms`);
    await sleep(200);
    assert.equal(server.hits(path), 1);
  });

  it('the deadline and attemptMs end at the headers: a body that keeps flowing is read past both', async () => {
    const path = fresh('deadline-body');
    server.route(path, [{ kind: 'drip', chunk: 'x', everyMs: 60, count: 10 }]);
    await using rfetch = create({
      retry: quick,
      timeout: { attemptMs: 100, deadlineMs: 200 },
      pool: { bodyTimeoutMs: 300 },
    });
    const start = performance.now();
    const response = await rfetch(`${server.url}${path}`);
    assert.equal(await response.text(), 'x'.repeat(10));
    assert.ok(elapsedSince(start) >= 500, 'the body flowed well past the deadline');
  });

  it('bodyTimeoutMs guards the body: a stall longer than it errors the read', async () => {
    const path = fresh('body-stall');
    server.route(path, [
      { kind: 'partialBody', status: 200, declaredLength: 1_000, sentBytes: 100, ending: 'hang' },
    ]);
    await using rfetch = create({ retry: quick, pool: { bodyTimeoutMs: 150 } });
    const response = await rfetch(`${server.url}${path}`);
    assert.equal(response.status, 200);
    const outcome = await settle(response.text(), 3_000);
    assert.equal(outcome.status, 'rejected');
    if (outcome.status === 'rejected') assert.ok(outcome.reason instanceof TypeError, String(outcome.reason));
    // undici arms its body timer on a coarse clock (about 0.5 s ticks): a 150 ms timeout fires within ~1 s.
    assert.ok(outcome.ms >= 140 && outcome.ms < 2_500, `${outcome.ms.toFixed(0)} ms`);
  });

  it('deadlineCoversBody: a body still flowing at the deadline errors with TimeoutError', async () => {
    const path = fresh('deadline-covers');
    server.route(path, [{ kind: 'drip', chunk: 'x', everyMs: 50, count: 40 }]);
    await using rfetch = create({ retry: quick, timeout: { deadlineMs: 300, deadlineCoversBody: true } });
    const start = performance.now();
    const response = await rfetch(`${server.url}${path}`);
    const outcome = await settle(response.text(), 3_000);
    const ms = elapsedSince(start);
    assert.equal(outcome.status, 'rejected');
    if (outcome.status === 'rejected') assert.ok(isTimeoutError(outcome.reason), String(outcome.reason));
    assert.ok(ms >= 295 && ms < 800, `${ms.toFixed(0)} ms`);
  });

  it('deadlineCoversBody: a body that ends before the deadline is read whole', async () => {
    const path = fresh('deadline-covers-ok');
    server.route(path, [{ kind: 'drip', chunk: 'y', everyMs: 20, count: 5 }]);
    await using rfetch = create({ retry: quick, timeout: { deadlineMs: 1_000, deadlineCoversBody: true } });
    const response = await rfetch(`${server.url}${path}`);
    assert.equal(await response.text(), 'yyyyy');
  });

  it('per request: init.resilience.timeout overrides attemptMs and deadlineMs for that call only', async () => {
    const path = fresh('per-request-timeout');
    server.route(path, [{ kind: 'slowHeaders', delayMs: 300, next: respond(200) }]);
    await using rfetch = create({ retry: { ...quick, maxRetries: 0 }, timeout: { attemptMs: 5_000 } });
    const short = await settle(
      rfetch(`${server.url}${path}`, { resilience: { timeout: { attemptMs: 100 } } }),
      3_000,
    );
    assert.equal(short.status, 'rejected');
    if (short.status === 'rejected') assert.ok(isTimeoutError(short.reason));
    assert.ok(short.ms >= 95 && short.ms < 280, `${short.ms.toFixed(0)} ms`);
    const capped = await settle(
      rfetch(`${server.url}${path}`, { resilience: { timeout: { deadlineMs: 150 } } }),
      3_000,
    );
    assert.equal(capped.status, 'rejected');
    if (capped.status === 'rejected') assert.ok(isTimeoutError(capped.reason));
    assert.ok(capped.ms >= 145 && capped.ms < 280, `${capped.ms.toFixed(0)} ms`);
    const plain = await rfetch(`${server.url}${path}`);
    assert.equal(plain.status, 200, 'the instance timeout applies again');
    await plain.text();
  });

  it('per request: retry: false sends once, retry: { maxRetries: 1 } twice, then the instance rules again', async () => {
    await using rfetch = create({ retry: { ...quick, maxRetries: 3 } });
    const run = async (init: ResilientRequestInit | undefined) => {
      const path = fresh('per-request-retry');
      server.route(path, [respond(503)]);
      const response = await rfetch(`${server.url}${path}`, init);
      assert.equal(response.status, 503);
      await response.text();
      return server.hits(path);
    };
    assert.equal(await run({ resilience: { retry: false } }), 1);
    assert.equal(await run({ resilience: { retry: { maxRetries: 1 } } }), 2);
    assert.equal(await run(undefined), 4);
  });

  it('every call settles: hangs, slow headers, drips, resets and truncations', async () => {
    await using rfetch = create({
      retry: { ...quick, maxRetries: 1 },
      timeout: { attemptMs: 150 },
      pool: { bodyTimeoutMs: 200 },
    });
    const scenarios: Array<{
      name: string;
      behaviour: Behaviour;
      init?: ResilientRequestInit;
      expect: 'timeout' | 'fetch failed' | 'body error' | 'body timeout' | string;
    }> = [
      { name: 'hang', behaviour: { kind: 'hang' }, expect: 'timeout' },
      {
        name: 'slow headers',
        behaviour: { kind: 'slowHeaders', delayMs: 5_000, next: respond(200) },
        expect: 'timeout',
      },
      { name: 'reset before response', behaviour: { kind: 'reset' }, expect: 'fetch failed' },
      {
        name: 'reset mid-body',
        behaviour: { kind: 'partialBody', declaredLength: 5_000, sentBytes: 500, ending: 'reset' },
        expect: 'body error',
      },
      {
        name: 'truncated body',
        behaviour: { kind: 'partialBody', declaredLength: 5_000, sentBytes: 500, ending: 'truncate' },
        expect: 'body error',
      },
      {
        name: 'stalled body',
        behaviour: { kind: 'partialBody', declaredLength: 5_000, sentBytes: 500, ending: 'hang' },
        expect: 'body error',
      },
      {
        name: 'endless drip under a covering deadline',
        behaviour: { kind: 'drip', chunk: 'z', everyMs: 30, count: Number.POSITIVE_INFINITY },
        init: { resilience: { timeout: { deadlineMs: 400, deadlineCoversBody: true } } },
        expect: 'body timeout',
      },
      {
        name: 'finite drip',
        behaviour: { kind: 'drip', chunk: 'z', everyMs: 30, count: 8, declareLength: true },
        expect: 'z'.repeat(8),
      },
    ];
    const run = async ({ name, behaviour, init }: (typeof scenarios)[number]): Promise<string> => {
      const path = fresh(`settles-${name.replaceAll(' ', '-')}`);
      server.route(path, [behaviour]);
      let response: Response;
      try {
        response = await rfetch(`${server.url}${path}`, init);
      } catch (error) {
        if (isTimeoutError(error)) return 'timeout';
        return error instanceof TypeError && error.message === 'fetch failed'
          ? 'fetch failed'
          : String(error);
      }
      try {
        return await response.text();
      } catch (error) {
        if (isTimeoutError(error)) return 'body timeout';
        return error instanceof TypeError ? 'body error' : String(error);
      }
    };
    const outcomes = await Promise.all(scenarios.map((scenario) => settle(run(scenario), 4_000)));
    scenarios.forEach((scenario, i) => {
      const outcome = outcomes[i];
      assert.equal(outcome?.status, 'fulfilled', `${scenario.name}: still pending`);
      if (outcome?.status === 'fulfilled') assert.equal(outcome.value, scenario.expect, scenario.name);
    });
  });
});
