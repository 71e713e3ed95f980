/**
 * The connections of retried responses: a small 503 body is drained so its socket is reused, a large one
 * is cancelled, a broken or stalled one is still retried or ends at the deadline; keep-alive races and a
 * flapping upstream cost no call.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isTimeoutError } from '../helpers/errors.ts';
import {
  type Behaviour,
  type FaultServer,
  flapping,
  respond,
  startFaultServer,
} from '../helpers/fault-server.ts';
import { create, fresh, quick } from '../helpers/policies.ts';
import { sleep } from '../helpers/server.ts';
import { elapsedSince, settle } from '../helpers/settle.ts';

describe('retry policies', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  describe('connections of retried responses', () => {
    it('a small 503 body is drained: retries reuse the same socket, none is left after close()', async () => {
      const scripts: Array<[string, Behaviour]> = [
        ['with a content-length', respond(503, 'busy '.repeat(100))],
        ['chunked', { kind: 'respond', status: 503, body: 'busy '.repeat(100), chunked: true }],
        // Still arriving when the retry is decided: only a drain (not a cancel) keeps this socket.
        [
          'arriving in pieces',
          { kind: 'drip', status: 503, chunk: 'busy ', everyMs: 15, count: 6, declareLength: true },
        ],
      ];
      for (const [name, busy] of scripts) {
        await using own = await startFaultServer();
        own.route('/small', [busy, busy, respond(200)]);
        await using rfetch = create({ retry: quick });
        const response = await rfetch(`${own.url}/small`);
        assert.equal(response.status, 200);
        await response.text();
        const sockets = own.log('/small').map((hit) => hit.socketId);
        assert.deepEqual(sockets, [1, 1, 1], `${name}: sockets per attempt: ${sockets.join(', ')}`);
        assert.equal(own.connections, 1, name);
        await rfetch.close();
        await own.socketsClosed(2_000);
      }
    });

    it('a large 503 body is cancelled, not read: the call goes on and no socket is left after close()', async () => {
      await using own = await startFaultServer();
      // 1.6 MB over 5 s: reading it before the retry would take that long.
      const large: Behaviour = {
        kind: 'drip',
        status: 503,
        chunk: 'x'.repeat(16_384),
        everyMs: 50,
        count: 100,
        declareLength: true,
      };
      own.route('/large', [large, respond(200)]);
      await using rfetch = create({ retry: quick });
      const start = performance.now();
      const response = await rfetch(`${own.url}/large`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'ok');
      assert.equal(own.hits('/large'), 2);
      const ms = elapsedSince(start);
      assert.ok(ms < 1_500, `the retry came ${ms.toFixed(0)} ms later: the 503 body was read, not cancelled`);
      await rfetch.close();
      await own.socketsClosed(2_000);
    });

    it('a 503 whose body is truncated or reset is still retried', async () => {
      await using rfetch = create({ retry: quick });
      for (const ending of ['truncate', 'reset'] as const) {
        const path = fresh(`broken-503-${ending}`);
        server.route(path, [
          { kind: 'partialBody', status: 503, declaredLength: 1_000, sentBytes: 100, ending },
          respond(200),
        ]);
        const outcome = await settle(rfetch(`${server.url}${path}`), 3_000);
        assert.equal(outcome.status, 'fulfilled', ending);
        if (outcome.status === 'fulfilled') {
          assert.equal(outcome.value.status, 200);
          await outcome.value.text();
        }
        assert.equal(server.hits(path), 2, ending);
      }
    });

    it('a 503 whose body stalls does not hold the call past its deadline', async () => {
      const path = fresh('stalled-503');
      server.route(path, [
        { kind: 'partialBody', status: 503, declaredLength: 100, sentBytes: 10, ending: 'hang' },
        respond(200),
      ]);
      const rfetch = create({ retry: quick });
      try {
        const outcome = await settle(
          rfetch(`${server.url}${path}`, { resilience: { timeout: { deadlineMs: 500 } } }),
          1_500,
        );
        assert.notEqual(outcome.status, 'pending', 'the call was still pending 1.5 s into a 500 ms deadline');
        assert.ok(outcome.ms < 1_000, `settled after ${outcome.ms.toFixed(0)} ms`);
        if (outcome.status === 'rejected') assert.ok(isTimeoutError(outcome.reason), String(outcome.reason));
        if (outcome.status === 'fulfilled') assert.equal(outcome.value.status, 200);
      } finally {
        await rfetch.destroy();
      }
    });

    it('keep-alive race: a server closing idle sockets early costs no call', async () => {
      await using own = await startFaultServer({ idleCloseMs: 10 });
      own.route('/k', [respond(200)]);
      await using rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 5, jitter: 'none' } });
      let calls = 0;
      let raced = 0;
      // Calls land just before, at and after the server's idle close; stop once the race was seen a few times.
      for (let i = 0; i < 150 && raced < 5; i++) {
        const before = own.hits('/k');
        const response = await rfetch(`${own.url}/k`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'ok');
        calls++;
        if (own.hits('/k') - before > 1) raced++;
        await sleep(6 + (i % 8));
      }
      assert.ok(own.idleClosed > 0, 'the server closed idle sockets');
      assert.ok(raced > 0, `the race never happened in ${calls} calls: this run proved nothing`);
    });

    it('a flapping upstream: every call succeeds on its retry', async () => {
      const path = fresh('flapping');
      server.route(path, flapping(respond(503), respond(200)));
      await using rfetch = create({ retry: quick });
      for (let i = 0; i < 10; i++) {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        await response.text();
      }
      assert.equal(server.hits(path), 20);
    });
  });
});
