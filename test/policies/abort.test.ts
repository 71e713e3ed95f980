/**
 * The caller's abort (and destroy()) during a backoff or an attempt: the call rejects at once with the
 * signal's reason, and no attempt starts after it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertFetchFailed } from '../helpers/errors.ts';
import { type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh, quick } from '../helpers/policies.ts';
import { sleep } from '../helpers/server.ts';
import { settle } from '../helpers/settle.ts';

describe('retry policies', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  describe('abort', () => {
    it('an abort during a 700 ms backoff rejects at once with signal.reason; no attempt starts after it', async () => {
      const path = fresh('abort-backoff');
      server.route(path, [respond(503)]);
      await using rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 700, jitter: 'none' } });
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      const pending = rfetch(`${server.url}${path}`, { signal: controller.signal });
      await server.waitForHits(path, 1);
      const firstHit = performance.now();
      await sleep(50);
      const abortedAt = performance.now();
      controller.abort(reason);
      const outcome = await settle(pending, 2_000);
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assert.equal(outcome.reason, reason, 'the same object');
      const afterAbort = outcome.ms;
      assert.ok(afterAbort < 100, `rejected ${afterAbort.toFixed(0)} ms after the abort`);
      assert.ok(abortedAt - firstHit < 500);
      await sleep(Math.max(0, firstHit + 900 - performance.now()));
      assert.equal(server.hits(path), 1, 'an attempt started after the abort');
    });

    it('an already aborted signal rejects with its reason and sends nothing', async () => {
      const path = fresh('abort-before');
      server.route(path, [respond(200)]);
      await using rfetch = create({ retry: quick });
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(rfetch(`${server.url}${path}`, { signal: controller.signal }), (e: unknown) => {
        assert.equal(e, controller.signal.reason);
        assert.equal((e as DOMException).name, 'AbortError');
        return true;
      });
      await sleep(50);
      assert.equal(server.hits(path), 0);
    });

    it('an abort during a hanging attempt rejects with the reason and is not retried', async () => {
      const path = fresh('abort-attempt');
      server.route(path, [{ kind: 'hang' }]);
      await using rfetch = create({ retry: quick });
      const controller = new AbortController();
      const pending = rfetch(`${server.url}${path}`, { signal: controller.signal });
      await server.waitForHits(path, 1);
      const reason = { why: 'not an Error at all' };
      controller.abort(reason);
      const outcome = await settle(pending, 2_000);
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assert.equal(outcome.reason, reason);
      assert.ok(outcome.ms < 200);
      await sleep(100);
      assert.equal(server.hits(path), 1);
    });

    it('destroy() during a backoff ends the call at once; no attempt starts after it', async () => {
      const path = fresh('destroy-backoff');
      server.route(path, [respond(503)]);
      const rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 700, jitter: 'none' } });
      const pending = rfetch(`${server.url}${path}`);
      await server.waitForHits(path, 1);
      const firstHit = performance.now();
      await sleep(100); // well into the backoff: the 503 has been read
      const destroyed = rfetch.destroy();
      const outcome = await settle(pending, 2_000);
      await destroyed;
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assertFetchFailed(outcome.reason);
      assert.ok(outcome.ms < 200, `rejected ${outcome.ms.toFixed(0)} ms after destroy()`);
      await sleep(Math.max(0, firstHit + 900 - performance.now()));
      assert.equal(server.hits(path), 1);
    });

    it('the signal of a Request input cancels a backoff too', async () => {
      const path = fresh('abort-request');
      server.route(path, [respond(503)]);
      await using rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 1_000, jitter: 'none' } });
      const controller = new AbortController();
      const pending = rfetch(new Request(`${server.url}${path}`, { signal: controller.signal }));
      await server.waitForHits(path, 1);
      controller.abort();
      const outcome = await settle(pending, 2_000);
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assert.equal((outcome.reason as DOMException).name, 'AbortError');
      assert.ok(outcome.ms < 200, `rejected ${outcome.ms.toFixed(0)} ms after the abort`);
      assert.equal(server.hits(path), 1);
    });
  });
});
