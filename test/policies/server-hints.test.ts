/**
 * What LLM and payment APIs say in their headers about retrying, against a real fault-injection server:
 * `retry-after-ms` and `x-ms-retry-after-ms` (milliseconds, before `Retry-After`), `x-should-retry`, and
 * the automatic `Idempotency-Key` (`retry.idempotencyKey: 'auto'`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';
import { type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh } from '../helpers/policies.ts';

/** A backoff far longer than any hint the tests send: a gap near the hint is the hint's doing. */
const slowBackoff = { strategy: 'fixed', baseDelayMs: 3_000, jitter: 'none' } as const;
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('server hints', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  describe('retry-after-ms and x-ms-retry-after-ms', () => {
    for (const name of ['retry-after-ms', 'x-ms-retry-after-ms']) {
      it(`a 503 with ${name}: 200 is retried after about 200 ms, not after the backoff`, async () => {
        const path = fresh(name);
        server.route(path, [respond(503, 'busy', { [name]: '200' }), respond(200)]);
        await using rfetch = create({ retry: slowBackoff });
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        const [gap] = server.gaps(path);
        assert.ok(gap !== undefined && gap >= 190 && gap < 1_500, `gap ${gap} ms`);
      });
    }

    it('retry-after-ms wins over Retry-After, and over x-ms-retry-after-ms', async () => {
      const path = fresh('precedence');
      const headers = { 'retry-after-ms': '120', 'x-ms-retry-after-ms': '2500', 'retry-after': '5' };
      server.route(path, [respond(503, 'busy', headers), respond(200)]);
      await using rfetch = create({ retry: slowBackoff });
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const [gap] = server.gaps(path);
      assert.ok(gap !== undefined && gap >= 110 && gap < 1_500, `gap ${gap} ms`);
    });

    it('a fraction of a millisecond is a number: 150.5 waits about 150 ms', async () => {
      const path = fresh('fraction');
      server.route(path, [respond(429, 'slow down', { 'retry-after-ms': '150.5' }), respond(200)]);
      await using rfetch = create({ retry: slowBackoff });
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const [gap] = server.gaps(path);
      assert.ok(gap !== undefined && gap >= 140 && gap < 1_500, `gap ${gap} ms`);
    });

    it('longer than retry.maxDelayMs: not waited for, the 503 is the answer (as a long Retry-After)', async () => {
      const path = fresh('too-long');
      server.route(path, [respond(503, 'busy', { 'retry-after-ms': '5000' }), respond(200)]);
      await using rfetch = create({ retry: { ...slowBackoff, maxDelayMs: 1_000 } });
      const start = performance.now();
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 503);
      assert.equal(await response.text(), 'busy');
      assert.equal(server.hits(path), 1);
      assert.ok(performance.now() - start < 1_000);
    });

    it('malformed values change nothing: the backoff applies, or the Retry-After beside them', async () => {
      const bad = [
        '-5',
        'abc',
        '100ms',
        '1e3',
        '1e400',
        '100, 200',
        '',
        ' ',
        '0x10',
        '+100',
        'Infinity',
        '99999999999',
        '1'.repeat(400),
      ];
      await using rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 80, jitter: 'none' } });
      for (const value of bad) {
        const path = fresh('malformed');
        server.route(path, [respond(503, 'busy', { 'retry-after-ms': value }), respond(200)]);
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200, `retry-after-ms: ${JSON.stringify(value)}`);
        const [gap] = server.gaps(path);
        assert.ok(gap !== undefined && gap >= 70 && gap < 1_000, `${JSON.stringify(value)}: gap ${gap} ms`);
      }
      const path = fresh('malformed-then-retry-after');
      const headers = { 'retry-after-ms': 'soon', 'x-ms-retry-after-ms': '-1', 'retry-after': '0' };
      server.route(path, [respond(503, 'busy', headers), respond(200)]);
      assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
      const [gap] = server.gaps(path);
      assert.ok(gap !== undefined && gap < 70, `Retry-After: 0 honoured, gap ${gap} ms`);
    });
  });

  describe('x-should-retry', () => {
    const quickFixed = { strategy: 'fixed', baseDelayMs: 20, jitter: 'none' } as const;

    it('false: a retryable 503 (or 429) is not retried; the caller gets it', async () => {
      await using rfetch = create({ retry: quickFixed });
      for (const status of [503, 429]) {
        const path = fresh(`no-retry-${status}`);
        server.route(path, [respond(status, 'final', { 'x-should-retry': 'false' }), respond(200)]);
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, status);
        assert.equal(await response.text(), 'final');
        assert.equal(server.hits(path), 1);
      }
    });

    it('true: a status outside the list (400, 409) is retried', async () => {
      await using rfetch = create({ retry: quickFixed });
      for (const status of [400, 409]) {
        const path = fresh(`retry-${status}`);
        server.route(path, [respond(status, 'try again', { 'x-should-retry': 'True' }), respond(200)]);
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200, `status ${status}`);
        assert.equal(server.hits(path), 2);
      }
    });

    it('true: within the idempotency rules (a POST without a key is not retried)', async () => {
      const path = fresh('post');
      server.route(path, [respond(409, 'conflict', { 'x-should-retry': 'true' }), respond(200)]);
      await using rfetch = create({ retry: quickFixed });
      const response = await rfetch(`${server.url}${path}`, { method: 'POST', body: 'x' });
      assert.equal(response.status, 409);
      assert.equal(server.hits(path), 1);
    });

    it('true: within the retry budget (a spent budget refuses it and counts the denial)', async () => {
      const path = fresh('budget');
      server.route(path, [respond(400, 'again', { 'x-should-retry': 'true' }), respond(200)]);
      await using rfetch = create({
        retry: { ...quickFixed, budget: { ratio: 0, minRetriesPerSecond: 0, windowMs: 1_000 } },
      });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 400);
      assert.equal(server.hits(path), 1);
      assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 1);
    });

    it('the shouldRetry hook keeps the last word, and sees the response the header came with', async () => {
      const path = fresh('hook');
      server.route(path, [respond(400, 'again', { 'x-should-retry': 'true' }), respond(200)]);
      const seen: number[] = [];
      await using rfetch = create({
        retry: {
          ...quickFixed,
          shouldRetry: ({ response }) => {
            seen.push(response?.status ?? 0);
            return false;
          },
        },
      });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 400);
      assert.deepEqual(seen, [400]);
      assert.equal(server.hits(path), 1);
      // And `false` is read before the hook: the hook is not even asked.
      const denied = fresh('hook-not-asked');
      server.route(denied, [respond(503, 'no', { 'x-should-retry': 'false' }), respond(200)]);
      assert.equal((await rfetch(`${server.url}${denied}`)).status, 503);
      assert.deepEqual(seen, [400]);
    });

    it('a success is never retried; other values (yes, 1, empty, two joined) change nothing', async () => {
      await using rfetch = create({ retry: quickFixed });
      const ok = fresh('ok');
      server.route(ok, [respond(200, 'ok', { 'x-should-retry': 'true' })]);
      assert.equal((await rfetch(`${server.url}${ok}`)).status, 200);
      assert.equal(server.hits(ok), 1);
      for (const value of ['yes', '1', '', 'true, false', 'maybe']) {
        const retried = fresh('odd-503');
        server.route(retried, [respond(503, 'busy', { 'x-should-retry': value }), respond(200)]);
        assert.equal(
          (await rfetch(`${server.url}${retried}`)).status,
          200,
          `503 with ${JSON.stringify(value)}`,
        );
        const final = fresh('odd-400');
        server.route(final, [respond(400, 'bad', { 'x-should-retry': value }), respond(200)]);
        assert.equal(
          (await rfetch(`${server.url}${final}`)).status,
          400,
          `400 with ${JSON.stringify(value)}`,
        );
        assert.equal(server.hits(final), 1);
      }
    });
  });

  describe("retry.idempotencyKey: 'auto'", () => {
    const quickFixed = { strategy: 'fixed', baseDelayMs: 20, jitter: 'none' } as const;

    it('a POST without a key gets one, the same on every attempt, and is retried', async () => {
      const path = fresh('auto-post');
      server.route(path, [respond(503), respond(502), respond(200)]);
      await using rfetch = create({
        hosts: { [server.host]: { retry: { ...quickFixed, idempotencyKey: 'auto' } } },
      });
      const headers = { 'content-type': 'application/json' };
      const response = await rfetch(`${server.url}${path}`, { method: 'POST', headers, body: '{"a":1}' });
      assert.equal(response.status, 200);
      const keys = server.log(path).map((hit) => hit.headers['idempotency-key']);
      assert.equal(keys.length, 3);
      assert.match(String(keys[0]), uuid);
      assert.ok(
        keys.every((key) => key === keys[0]),
        `keys: ${keys.join(', ')}`,
      );
      assert.ok(server.log(path).every((hit) => hit.headers['content-type'] === 'application/json'));
      assert.deepEqual(
        headers,
        { 'content-type': 'application/json' },
        "the caller's headers are not changed",
      );
    });

    it('each call gets its own key; PATCH too; a GET gets none', async () => {
      await using rfetch = create({ retry: { ...quickFixed, idempotencyKey: 'auto' } });
      const path = fresh('keys');
      server.route(path, [respond(200)]);
      await rfetch(`${server.url}${path}`, { method: 'POST', body: 'a' });
      await rfetch(`${server.url}${path}`, { method: 'PATCH', body: 'b' });
      await rfetch(`${server.url}${path}`);
      const [post, patch, get] = server.log(path).map((hit) => hit.headers['idempotency-key']);
      assert.match(String(post), uuid);
      assert.match(String(patch), uuid);
      assert.notEqual(post, patch);
      assert.equal(get, undefined);
    });

    it("a key the caller set is never replaced (record, Headers, pairs, a Request's headers)", async () => {
      await using rfetch = create({
        retry: { ...quickFixed, idempotencyKey: 'auto', bufferBodyBytes: 1_024 },
      });
      const inits: Array<[string, () => Parameters<typeof rfetch>]> = [
        [
          'record',
          () => [
            `${server.url}${path}`,
            { method: 'POST', body: 'x', headers: { 'Idempotency-Key': 'mine' } },
          ],
        ],
        [
          'Headers',
          () => [
            `${server.url}${path}`,
            { method: 'POST', body: 'x', headers: new Headers({ 'idempotency-key': 'mine' }) },
          ],
        ],
        [
          'pairs',
          () => [
            `${server.url}${path}`,
            { method: 'POST', body: 'x', headers: [['IDEMPOTENCY-KEY', 'mine']] },
          ],
        ],
        [
          'Request',
          () => [
            new Request(`${server.url}${path}`, {
              method: 'POST',
              body: 'x',
              headers: { 'idempotency-key': 'mine' },
            }),
          ],
        ],
      ];
      let path = '';
      for (const [label, args] of inits) {
        path = fresh(`mine-${label}`);
        server.route(path, [respond(503), respond(200)]);
        const response = await rfetch(...args());
        assert.equal(response.status, 200, label);
        assert.deepEqual(
          server.log(path).map((hit) => hit.headers['idempotency-key']),
          ['mine', 'mine'],
          label,
        );
      }
    });

    it('a Request input keeps its own headers beside the key', async () => {
      const path = fresh('request');
      server.route(path, [respond(503), respond(200)]);
      await using rfetch = create({
        retry: { ...quickFixed, idempotencyKey: 'auto', bufferBodyBytes: 1_024 },
      });
      const request = new Request(`${server.url}${path}`, {
        method: 'POST',
        body: 'payload',
        headers: { 'x-trace': 't1' },
      });
      assert.equal((await rfetch(request)).status, 200);
      const log = server.log(path);
      assert.equal(log.length, 2);
      assert.ok(log.every((hit) => hit.headers['x-trace'] === 't1' && hit.bodyLength === 7));
      assert.match(String(log[0]?.headers['idempotency-key']), uuid);
      assert.equal(log[0]?.headers['idempotency-key'], log[1]?.headers['idempotency-key']);
      assert.equal(request.headers.get('idempotency-key'), null, "the caller's Request is not changed");
    });

    it('per call (init.resilience.retry), and off by default: a POST then goes once, with no key', async () => {
      await using rfetch = create({ retry: quickFixed });
      const plain = fresh('default');
      server.route(plain, [respond(503), respond(200)]);
      assert.equal((await rfetch(`${server.url}${plain}`, { method: 'POST', body: 'x' })).status, 503);
      assert.equal(server.hits(plain), 1);
      assert.equal(server.log(plain)[0]?.headers['idempotency-key'], undefined);
      const perCall = fresh('per-call');
      server.route(perCall, [respond(503), respond(200)]);
      const response = await rfetch(`${server.url}${perCall}`, {
        method: 'POST',
        body: 'x',
        resilience: { retry: { idempotencyKey: 'auto' } },
      });
      assert.equal(response.status, 200);
      assert.equal(server.hits(perCall), 2);
    });

    it('with retries off no key is added (nothing would be sent twice)', async () => {
      const path = fresh('retry-off');
      server.route(path, [respond(200)]);
      await using rfetch = create({ retry: false });
      await rfetch(`${server.url}${path}`, { method: 'POST', body: 'x' });
      assert.equal(server.log(path)[0]?.headers['idempotency-key'], undefined);
    });

    it('bad values are refused at creation and per call, naming the option path', async () => {
      assert.throws(
        () => createResilientFetch({ retry: { idempotencyKey: 'yes' as 'auto' } }),
        (e: unknown) =>
          e instanceof TypeError &&
          /option retry\.idempotencyKey must be "auto" or false, received "yes"/.test(e.message),
      );
      assert.throws(
        () =>
          createResilientFetch({
            hosts: { 'a.example': { retry: { idempotencyKey: true as unknown as 'auto' } } },
          }),
        /option hosts\.a\.example\.retry\.idempotencyKey must be "auto" or false, received true/,
      );
      await using rfetch = create();
      await assert.rejects(
        rfetch(`${server.url}/x`, {
          method: 'POST',
          resilience: { retry: { idempotencyKey: 'on' as 'auto' } },
        }),
        /option init\.resilience\.retry\.idempotencyKey must be "auto" or false, received "on"/,
      );
    });
  });
});
