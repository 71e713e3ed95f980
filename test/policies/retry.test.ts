/**
 * What is retried, against a real fault-injection server: which statuses and network errors, the
 * configurable lists and shouldRetry, and which methods (idempotency, Idempotency-Key, retryNonIdempotent).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { assertFetchFailed, codes } from '../helpers/errors.ts';
import { burst, type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh, quick } from '../helpers/policies.ts';
import { startServer } from '../helpers/server.ts';
import { elapsedSince } from '../helpers/settle.ts';

describe('retry policies', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  describe('what is retried', () => {
    for (const status of [408, 429, 500, 502, 503, 504]) {
      it(`retries a ${status} and resolves with the success that follows`, async () => {
        const path = fresh(`status-${status}`);
        server.route(path, burst(1, status));
        await using rfetch = create({ retry: quick });
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'ok');
        assert.equal(server.hits(path), 2);
      });
    }

    it('does not retry other statuses (400, 404, 409, 501, 505): one attempt, that response', async () => {
      await using rfetch = create({ retry: quick });
      for (const status of [400, 404, 409, 501, 505]) {
        const path = fresh(`final-${status}`);
        server.route(path, burst(1, status));
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, status);
        assert.equal(await response.text(), `status ${status}`);
        assert.equal(server.hits(path), 1, `status ${status} was sent again`);
      }
    });

    it('a 5xx burst then success: every attempt reaches the server, the caller sees the success', async () => {
      const path = fresh('burst');
      server.route(path, [respond(500), respond(502), respond(504), respond(200, 'finally')]);
      await using rfetch = create({ retry: quick });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'finally');
      assert.equal(server.hits(path), 4);
    });

    it('after the last attempt a 503 resolves with the last Response, its body intact', async () => {
      const path = fresh('always-503');
      server.route(path, (hit) => respond(503, `attempt ${hit}`, { 'x-attempt': String(hit) }));
      await using rfetch = create({ retry: { ...quick, maxRetries: 3 } });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 503);
      assert.equal(response.headers.get('x-attempt'), '4');
      assert.equal(await response.text(), 'attempt 4');
      assert.equal(server.hits(path), 4, 'maxRetries 3 means 4 attempts');
    });

    it('retries a connection reset before the response, then succeeds', async () => {
      const path = fresh('reset');
      server.route(path, [{ kind: 'reset' }, { kind: 'reset' }, respond(200)]);
      await using rfetch = create({ retry: quick });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'ok');
      assert.equal(server.hits(path), 3);
    });

    it('retries a socket the server closes without answering (other side closed)', async () => {
      const path = fresh('closed');
      server.route(path, [{ kind: 'close' }, respond(200)]);
      await using rfetch = create({ retry: quick });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      assert.equal(await response.text(), 'ok');
      assert.equal(server.hits(path), 2);
    });

    it('after the last attempt a network error rejects as fetch does: TypeError("fetch failed", { cause })', async () => {
      const path = fresh('always-reset');
      server.route(path, [{ kind: 'reset' }]);
      await using rfetch = create({ retry: { ...quick, maxRetries: 2 } });
      const error = await rfetch(`${server.url}${path}`).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      assertFetchFailed(error);
      assert.ok(
        codes(error).some((code) => code === 'ECONNRESET' || code === 'UND_ERR_SOCKET'),
        `cause codes: ${codes(error).join(', ')}`,
      );
      assert.equal(server.hits(path), 3);
    });

    it('retries a refused connection with backoff, then rejects with TypeError and ECONNREFUSED', async () => {
      const gone = await startServer((_req, res) => res.end());
      const url = gone.url;
      await gone.close();
      await using rfetch = create({
        retry: { strategy: 'fixed', baseDelayMs: 60, jitter: 'none', maxRetries: 3 },
      });
      let decisions = 0;
      const start = performance.now();
      const error = await rfetch(url, {
        resilience: {
          retry: {
            shouldRetry: () => {
              decisions++;
              return undefined;
            },
          },
        },
      }).then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      const ms = elapsedSince(start);
      assertFetchFailed(error);
      assert.ok(codes(error).includes('ECONNREFUSED'), `cause codes: ${codes(error).join(', ')}`);
      assert.equal(decisions, 3, 'three retries were decided');
      assert.ok(ms >= 3 * 60 - 5, `three 60 ms backoffs took only ${ms.toFixed(0)} ms`);
    });

    it('retries a DNS failure, then rejects with TypeError and the resolver error', async () => {
      await using rfetch = create({
        retry: { strategy: 'fixed', baseDelayMs: 50, jitter: 'none', maxRetries: 2 },
      });
      const start = performance.now();
      const error = await rfetch('http://no-such-host.invalid/').then(
        () => assert.fail('resolved'),
        (e: unknown) => e,
      );
      const ms = elapsedSince(start);
      assertFetchFailed(error);
      assert.ok(
        codes(error).some((code) => code === 'ENOTFOUND' || code === 'EAI_AGAIN'),
        `cause codes: ${codes(error).join(', ')}`,
      );
      assert.ok(ms >= 2 * 50 - 5, `two 50 ms backoffs took only ${ms.toFixed(0)} ms`);
    });

    it('the status list is configurable: listed statuses are retried, others are not', async () => {
      const notFound = fresh('custom-404');
      const unavailable = fresh('custom-503');
      server.route(notFound, burst(1, 404));
      server.route(unavailable, burst(1, 503));
      await using rfetch = create({ retry: { ...quick, statuses: [404] } });
      assert.equal((await rfetch(`${server.url}${notFound}`)).status, 200);
      assert.equal(server.hits(notFound), 2);
      const response = await rfetch(`${server.url}${unavailable}`);
      assert.equal(response.status, 503);
      await response.text();
      assert.equal(server.hits(unavailable), 1);
    });

    it('the error list is configurable: with errorCodes [] a reset is not retried', async () => {
      const path = fresh('no-error-codes');
      server.route(path, [{ kind: 'reset' }, respond(200)]);
      await using rfetch = create({ retry: { ...quick, errorCodes: [] } });
      await assert.rejects(rfetch(`${server.url}${path}`), (e: unknown) => {
        assertFetchFailed(e);
        return true;
      });
      assert.equal(server.hits(path), 1);
    });

    it('shouldRetry is told host, method, retry number and response; false stops the retries', async () => {
      const path = fresh('hook-false');
      server.route(path, (hit) => respond(503, `attempt ${hit}`));
      const seen: Array<{ host: string; method: string; retry: number; status: number | undefined }> = [];
      await using rfetch = create({
        retry: {
          ...quick,
          shouldRetry: ({ host, method, retry, response }) => {
            seen.push({ host, method, retry, status: response?.status });
            return retry < 2;
          },
        },
      });
      const response = await rfetch(`${server.url}${path}`, { method: 'DELETE' });
      assert.equal(response.status, 503);
      assert.equal(await response.text(), 'attempt 2', 'the hook said no before the third attempt');
      assert.equal(server.hits(path), 2);
      assert.deepEqual(seen, [
        { host: server.host, method: 'DELETE', retry: 1, status: 503 },
        { host: server.host, method: 'DELETE', retry: 2, status: 503 },
      ]);
    });

    it('a throwing shouldRetry never breaks the request: the rules decide', async () => {
      const path = fresh('hook-throws');
      server.route(path, burst(2, 503));
      await using rfetch = create({
        retry: {
          ...quick,
          shouldRetry: () => {
            throw new Error('hook bug');
          },
        },
      });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      assert.equal(server.hits(path), 3);
    });

    it('shouldRetry cannot add a retry the rules refuse (a 404 stays one attempt)', async () => {
      const path = fresh('hook-true');
      server.route(path, burst(1, 404));
      let asked = 0;
      await using rfetch = create({
        retry: {
          ...quick,
          shouldRetry: () => {
            asked++;
            return true;
          },
        },
      });
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 404);
      await response.text();
      assert.equal(server.hits(path), 1);
      assert.equal(asked, 0);
    });
  });

  describe('idempotency', () => {
    // TRACE is in the list too, but fetch refuses to send it at all ("'TRACE' HTTP method is unsupported").
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) {
      it(`${method} is retried`, async () => {
        const path = fresh(`method-${method}`);
        server.route(path, burst(1, 503));
        await using rfetch = create({ retry: quick });
        const response = await rfetch(`${server.url}${path}`, { method });
        assert.equal(response.status, 200);
        await response.arrayBuffer();
        assert.deepEqual(
          server.log(path).map((hit) => hit.method),
          [method, method],
        );
      });
    }

    for (const method of ['POST', 'PATCH', 'PROPFIND']) {
      it(`${method} without an Idempotency-Key is sent once and its 503 returned`, async () => {
        const path = fresh(`once-${method}`);
        server.route(path, burst(1, 503));
        await using rfetch = create({ retry: quick });
        const response = await rfetch(`${server.url}${path}`, { method, body: 'payload' });
        assert.equal(response.status, 503);
        await response.text();
        assert.equal(server.hits(path), 1);
      });
    }

    it('POST and PATCH with an Idempotency-Key are retried (object, Headers, tuples, Request headers)', async () => {
      await using rfetch = create({ retry: quick });
      const key = { 'Idempotency-Key': 'k-1' };
      const cases: Array<[string, (url: string) => Promise<Response>]> = [
        ['object', (url) => rfetch(url, { method: 'POST', body: 'a', headers: key })],
        ['Headers', (url) => rfetch(url, { method: 'PATCH', body: 'b', headers: new Headers(key) })],
        [
          'tuples',
          (url) => rfetch(url, { method: 'POST', body: 'c', headers: [['idempotency-key', 'k-2']] }),
        ],
        ['Request', (url) => rfetch(new Request(url, { method: 'POST', headers: key }))],
      ];
      for (const [name, call] of cases) {
        const path = fresh(`key-${name}`);
        server.route(path, burst(1, 503));
        const response = await call(`${server.url}${path}`);
        assert.equal(response.status, 200, name);
        await response.text();
        assert.equal(server.hits(path), 2, `${name}: attempts`);
      }
    });

    it('retryNonIdempotent for one host retries its POSTs and not another host’s', async () => {
      await using other = await startFaultServer();
      const path = fresh('post-opt-in');
      server.route(path, burst(1, 503));
      other.route(path, burst(1, 503));
      await using rfetch = create({
        retry: quick,
        hosts: { [server.host]: { retry: { retryNonIdempotent: true } } },
      });
      const opted = await rfetch(`${server.url}${path}`, { method: 'POST', body: 'x' });
      assert.equal(opted.status, 200);
      assert.equal(server.hits(path), 2);
      const plain = await rfetch(`${other.url}${path}`, { method: 'POST', body: 'x' });
      assert.equal(plain.status, 503);
      await Promise.all([opted.text(), plain.text()]);
      assert.equal(other.hits(path), 1);
    });
  });
});
