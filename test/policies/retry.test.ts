/**
 * Retry and deadline policies against a real fault-injection server: what is retried, idempotency, body
 * replay (hashed server-side), strategies and Retry-After (timed server-side), connection reuse, the retry
 * budget, aborts, attempt timeouts and deadlines, per-host and per-request overrides, bad per-request options.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch, defaults, type ResilientFetchOptions } from '../../src/index.ts';
import type { ResilientRequestInit, RetryOptions } from '../../src/options/types.ts';
import { computeRetryDelay } from '../../src/policies/retry-rules.ts';
import {
  type Behaviour,
  burst,
  type FaultServer,
  flapping,
  respond,
  sha256,
  startFaultServer,
} from '../helpers/fault-server.ts';
import { causes, sleep, startServer } from '../helpers/server.ts';

/** What fetch accepts as a request body. */
type Body = NonNullable<RequestInit['body']>;

/** Fast retries with exact delays, for tests that are not about the delay. */
const quick = { baseDelayMs: 20, jitter: 'none' } as const satisfies RetryOptions;

let pathCount = 0;
/** A path no other test uses. */
const fresh = (name: string): string => `/${name}-${++pathCount}`;

/** A resilientFetch whose close() never waits long. */
const create = (options: ResilientFetchOptions = {}) =>
  createResilientFetch({ drainTimeoutMs: 2_000, ...options });

const codes = (error: unknown): unknown[] => causes(error).map((e) => (e as { code?: unknown }).code);

const elapsedSince = (start: number): number => performance.now() - start;

type Outcome<T> =
  | { status: 'fulfilled'; value: T; ms: number }
  | { status: 'rejected'; reason: unknown; ms: number }
  | { status: 'pending'; ms: number };

/** Waits for `promise` at most `guardMs`, and says how it ended and when. */
async function settle<T>(promise: Promise<T>, guardMs = 3_000): Promise<Outcome<T>> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<'pending'>((resolve) => {
    timer = setTimeout(resolve, guardMs, 'pending');
  });
  const result = await Promise.race([
    promise.then(
      (value) => ({ status: 'fulfilled' as const, value }),
      (reason: unknown) => ({ status: 'rejected' as const, reason }),
    ),
    guard,
  ]);
  clearTimeout(timer);
  const ms = elapsedSince(start);
  return result === 'pending' ? { status: 'pending', ms } : { ...result, ms };
}

const isTimeoutError = (error: unknown): boolean =>
  error instanceof DOMException && error.name === 'TimeoutError';

/** Asserts `error` is fetch's network failure: TypeError('fetch failed') with a cause. */
function assertFetchFailed(error: unknown): void {
  assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`);
  assert.equal(error.message, 'fetch failed');
  assert.ok(error.cause !== undefined, 'the network error is kept as cause');
}

const streamOf = (bytes: Uint8Array, chunkSize = 256): ReadableStream<Uint8Array> =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (let i = 0; i < bytes.byteLength; i += chunkSize) controller.enqueue(bytes.slice(i, i + chunkSize));
      controller.close();
    },
  });

async function* iterableOf(bytes: Uint8Array, chunkSize = 256): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += chunkSize) {
    await sleep(1);
    yield bytes.slice(i, i + chunkSize);
  }
}

const randomBytes = (length: number): Uint8Array => {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 7919 + 13) % 251;
  return bytes;
};

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
        const rfetch = create({ retry: quick });
        try {
          const response = await rfetch(`${server.url}${path}`);
          assert.equal(response.status, 200);
          assert.equal(await response.text(), 'ok');
          assert.equal(server.hits(path), 2);
        } finally {
          await rfetch.close();
        }
      });
    }

    it('does not retry other statuses (400, 404, 409, 501, 505): one attempt, that response', async () => {
      const rfetch = create({ retry: quick });
      try {
        for (const status of [400, 404, 409, 501, 505]) {
          const path = fresh(`final-${status}`);
          server.route(path, burst(1, status));
          const response = await rfetch(`${server.url}${path}`);
          assert.equal(response.status, status);
          assert.equal(await response.text(), `status ${status}`);
          assert.equal(server.hits(path), 1, `status ${status} was sent again`);
        }
      } finally {
        await rfetch.close();
      }
    });

    it('a 5xx burst then success: every attempt reaches the server, the caller sees the success', async () => {
      const path = fresh('burst');
      server.route(path, [respond(500), respond(502), respond(504), respond(200, 'finally')]);
      const rfetch = create({ retry: quick });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'finally');
        assert.equal(server.hits(path), 4);
      } finally {
        await rfetch.close();
      }
    });

    it('after the last attempt a 503 resolves with the last Response, its body intact', async () => {
      const path = fresh('always-503');
      server.route(path, (hit) => respond(503, `attempt ${hit}`, { 'x-attempt': String(hit) }));
      const rfetch = create({ retry: { ...quick, maxRetries: 3 } });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 503);
        assert.equal(response.headers.get('x-attempt'), '4');
        assert.equal(await response.text(), 'attempt 4');
        assert.equal(server.hits(path), 4, 'maxRetries 3 means 4 attempts');
      } finally {
        await rfetch.close();
      }
    });

    it('retries a connection reset before the response, then succeeds', async () => {
      const path = fresh('reset');
      server.route(path, [{ kind: 'reset' }, { kind: 'reset' }, respond(200)]);
      const rfetch = create({ retry: quick });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'ok');
        assert.equal(server.hits(path), 3);
      } finally {
        await rfetch.close();
      }
    });

    it('retries a socket the server closes without answering (other side closed)', async () => {
      const path = fresh('closed');
      server.route(path, [{ kind: 'close' }, respond(200)]);
      const rfetch = create({ retry: quick });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'ok');
        assert.equal(server.hits(path), 2);
      } finally {
        await rfetch.close();
      }
    });

    it('after the last attempt a network error rejects as fetch does: TypeError("fetch failed", { cause })', async () => {
      const path = fresh('always-reset');
      server.route(path, [{ kind: 'reset' }]);
      const rfetch = create({ retry: { ...quick, maxRetries: 2 } });
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('retries a refused connection with backoff, then rejects with TypeError and ECONNREFUSED', async () => {
      const gone = await startServer((_req, res) => res.end());
      const url = gone.url;
      await gone.close();
      const rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 60, jitter: 'none', maxRetries: 3 } });
      let decisions = 0;
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('retries a DNS failure, then rejects with TypeError and the resolver error', async () => {
      const rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 50, jitter: 'none', maxRetries: 2 } });
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('the status list is configurable: listed statuses are retried, others are not', async () => {
      const notFound = fresh('custom-404');
      const unavailable = fresh('custom-503');
      server.route(notFound, burst(1, 404));
      server.route(unavailable, burst(1, 503));
      const rfetch = create({ retry: { ...quick, statuses: [404] } });
      try {
        assert.equal((await rfetch(`${server.url}${notFound}`)).status, 200);
        assert.equal(server.hits(notFound), 2);
        const response = await rfetch(`${server.url}${unavailable}`);
        assert.equal(response.status, 503);
        await response.text();
        assert.equal(server.hits(unavailable), 1);
      } finally {
        await rfetch.close();
      }
    });

    it('the error list is configurable: with errorCodes [] a reset is not retried', async () => {
      const path = fresh('no-error-codes');
      server.route(path, [{ kind: 'reset' }, respond(200)]);
      const rfetch = create({ retry: { ...quick, errorCodes: [] } });
      try {
        await assert.rejects(rfetch(`${server.url}${path}`), (e: unknown) => {
          assertFetchFailed(e);
          return true;
        });
        assert.equal(server.hits(path), 1);
      } finally {
        await rfetch.close();
      }
    });

    it('shouldRetry is told host, method, retry number and response; false stops the retries', async () => {
      const path = fresh('hook-false');
      server.route(path, (hit) => respond(503, `attempt ${hit}`));
      const seen: Array<{ host: string; method: string; retry: number; status: number | undefined }> = [];
      const rfetch = create({
        retry: {
          ...quick,
          shouldRetry: ({ host, method, retry, response }) => {
            seen.push({ host, method, retry, status: response?.status });
            return retry < 2;
          },
        },
      });
      try {
        const response = await rfetch(`${server.url}${path}`, { method: 'DELETE' });
        assert.equal(response.status, 503);
        assert.equal(await response.text(), 'attempt 2', 'the hook said no before the third attempt');
        assert.equal(server.hits(path), 2);
        assert.deepEqual(seen, [
          { host: server.host, method: 'DELETE', retry: 1, status: 503 },
          { host: server.host, method: 'DELETE', retry: 2, status: 503 },
        ]);
      } finally {
        await rfetch.close();
      }
    });

    it('a throwing shouldRetry never breaks the request: the rules decide', async () => {
      const path = fresh('hook-throws');
      server.route(path, burst(2, 503));
      const rfetch = create({
        retry: {
          ...quick,
          shouldRetry: () => {
            throw new Error('hook bug');
          },
        },
      });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        assert.equal(server.hits(path), 3);
      } finally {
        await rfetch.close();
      }
    });

    it('shouldRetry cannot add a retry the rules refuse (a 404 stays one attempt)', async () => {
      const path = fresh('hook-true');
      server.route(path, burst(1, 404));
      let asked = 0;
      const rfetch = create({
        retry: {
          ...quick,
          shouldRetry: () => {
            asked++;
            return true;
          },
        },
      });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 404);
        await response.text();
        assert.equal(server.hits(path), 1);
        assert.equal(asked, 0);
      } finally {
        await rfetch.close();
      }
    });
  });

  describe('idempotency', () => {
    // TRACE is in the list too, but fetch refuses to send it at all ("'TRACE' HTTP method is unsupported").
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']) {
      it(`${method} is retried`, async () => {
        const path = fresh(`method-${method}`);
        server.route(path, burst(1, 503));
        const rfetch = create({ retry: quick });
        try {
          const response = await rfetch(`${server.url}${path}`, { method });
          assert.equal(response.status, 200);
          await response.arrayBuffer();
          assert.deepEqual(
            server.log(path).map((hit) => hit.method),
            [method, method],
          );
        } finally {
          await rfetch.close();
        }
      });
    }

    for (const method of ['POST', 'PATCH', 'PROPFIND']) {
      it(`${method} without an Idempotency-Key is sent once and its 503 returned`, async () => {
        const path = fresh(`once-${method}`);
        server.route(path, burst(1, 503));
        const rfetch = create({ retry: quick });
        try {
          const response = await rfetch(`${server.url}${path}`, { method, body: 'payload' });
          assert.equal(response.status, 503);
          await response.text();
          assert.equal(server.hits(path), 1);
        } finally {
          await rfetch.close();
        }
      });
    }

    it('POST and PATCH with an Idempotency-Key are retried (object, Headers, tuples, Request headers)', async () => {
      const rfetch = create({ retry: quick });
      const key = { 'Idempotency-Key': 'k-1' };
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('retryNonIdempotent for one host retries its POSTs and not another host’s', async () => {
      const other = await startFaultServer();
      const path = fresh('post-opt-in');
      server.route(path, burst(1, 503));
      other.route(path, burst(1, 503));
      const rfetch = create({
        retry: quick,
        hosts: { [server.host]: { retry: { retryNonIdempotent: true } } },
      });
      try {
        const opted = await rfetch(`${server.url}${path}`, { method: 'POST', body: 'x' });
        assert.equal(opted.status, 200);
        assert.equal(server.hits(path), 2);
        const plain = await rfetch(`${other.url}${path}`, { method: 'POST', body: 'x' });
        assert.equal(plain.status, 503);
        await Promise.all([opted.text(), plain.text()]);
        assert.equal(other.hits(path), 1);
      } finally {
        await rfetch.close();
        await other.close();
      }
    });
  });

  describe('request bodies', () => {
    const text = 'héllo wörld ✓ '.repeat(50);
    const bytes = randomBytes(3_000);
    const replayable: Array<{ name: string; body: () => Body; expected?: Uint8Array; type?: string }> = [
      { name: 'string', body: () => text, expected: new TextEncoder().encode(text), type: 'text/plain' },
      { name: 'Uint8Array', body: () => bytes.slice(), expected: bytes },
      { name: 'ArrayBuffer', body: () => bytes.slice().buffer, expected: bytes },
      {
        name: 'DataView',
        body: () => new DataView(bytes.slice().buffer, 100, 500),
        expected: bytes.slice(100, 600),
      },
      {
        name: 'Blob',
        body: () => new Blob([bytes], { type: 'application/x-test' }),
        expected: bytes,
        type: 'application/x-test',
      },
      {
        name: 'URLSearchParams',
        body: () => new URLSearchParams({ a: '1', b: 'x y&z' }),
        expected: new TextEncoder().encode('a=1&b=x+y%26z'),
        type: 'application/x-www-form-urlencoded',
      },
    ];
    for (const { name, body, expected, type } of replayable) {
      it(`a ${name} body: every attempt carries the same bytes`, async () => {
        const path = fresh(`body-${name}`);
        server.route(path, burst(2, 503));
        const rfetch = create({ retry: quick });
        try {
          const response = await rfetch(`${server.url}${path}`, { method: 'PUT', body: body() });
          assert.equal(response.status, 200);
          await response.text();
          const log = server.log(path);
          assert.equal(log.length, 3);
          for (const hit of log) {
            assert.equal(
              hit.bodySha256,
              sha256(expected ?? new Uint8Array()),
              `attempt ${hit.n}: bytes differ`,
            );
            assert.equal(hit.headers['content-length'], String(expected?.byteLength));
            if (type) assert.ok(hit.headers['content-type']?.startsWith(type), hit.headers['content-type']);
          }
        } finally {
          await rfetch.close();
        }
      });
    }

    it('a FormData body: same bytes and same multipart boundary on every attempt', async () => {
      const path = fresh('body-formdata');
      server.route(path, burst(2, 503));
      const form = new FormData();
      form.append('name', 'value ✓');
      form.append('file', new File([randomBytes(2_000)], 'data.bin', { type: 'application/octet-stream' }));
      const rfetch = create({ retry: quick });
      try {
        // A POST made retryable by its key: the same replay rules apply to it.
        const response = await rfetch(`${server.url}${path}`, {
          method: 'POST',
          body: form,
          headers: { 'idempotency-key': 'form-1' },
        });
        assert.equal(response.status, 200);
        await response.text();
        const log = server.log(path);
        assert.equal(log.length, 3);
        const [first] = log;
        const contentType = first?.headers['content-type'] ?? '';
        const boundary = /boundary=(.+)$/.exec(contentType)?.[1];
        assert.ok(boundary, `multipart content-type: ${contentType}`);
        assert.ok((first?.bodyLength ?? 0) > 2_000);
        for (const hit of log) {
          assert.equal(hit.headers['content-type'], contentType, `attempt ${hit.n}: another boundary`);
          assert.equal(hit.bodySha256, first?.bodySha256, `attempt ${hit.n}: bytes differ`);
        }
      } finally {
        await rfetch.close();
      }
    });

    it('a byte buffer or URLSearchParams the caller changes after the first attempt does not change a retry', async () => {
      const path = fresh('body-mutated');
      server.route(path, burst(1, 503));
      const buffer = new Uint8Array(1_000).fill(1);
      const original = sha256(buffer);
      const rfetch = create({ retry: { ...quick, baseDelayMs: 50 } });
      try {
        const pending = rfetch(`${server.url}${path}`, { method: 'PUT', body: buffer });
        await server.waitForHits(path, 1);
        buffer.fill(2);
        assert.equal((await pending).status, 200);
        assert.deepEqual(
          server.log(path).map((hit) => hit.bodySha256),
          [original, original],
        );
        const formPath = fresh('params-mutated');
        server.route(formPath, burst(1, 503));
        const params = new URLSearchParams({ a: '1' });
        const sent = rfetch(`${server.url}${formPath}`, { method: 'PUT', body: params });
        await server.waitForHits(formPath, 1);
        params.set('a', '2');
        assert.equal((await sent).status, 200);
        assert.deepEqual(
          server.log(formPath).map((hit) => hit.bodySha256),
          [sha256('a=1'), sha256('a=1')],
        );
      } finally {
        await rfetch.close();
      }
    });

    it('a ReadableStream body is streamed once and not retried: the 503 is returned', async () => {
      const path = fresh('stream-once');
      server.route(path, burst(1, 503));
      const rfetch = create({ retry: quick });
      try {
        const response = await rfetch(`${server.url}${path}`, {
          method: 'PUT',
          body: streamOf(bytes),
          duplex: 'half',
        });
        assert.equal(response.status, 503);
        await response.text();
        assert.equal(server.hits(path), 1);
        assert.equal(server.log(path)[0]?.bodySha256, sha256(bytes));
      } finally {
        await rfetch.close();
      }
    });

    it('an async-iterable body is streamed once and not retried: the 503 is returned', async () => {
      const path = fresh('iterable-once');
      server.route(path, burst(1, 503));
      const rfetch = create({ retry: quick });
      try {
        const response = await rfetch(`${server.url}${path}`, {
          method: 'PUT',
          body: iterableOf(bytes) as unknown as Body,
          duplex: 'half',
        });
        assert.equal(response.status, 503);
        await response.text();
        assert.equal(server.hits(path), 1);
        assert.equal(server.log(path)[0]?.bodySha256, sha256(bytes));
      } finally {
        await rfetch.close();
      }
    });

    it('bufferBodyBytes: a stream within the limit is retried with identical bytes', async () => {
      const rfetch = create({ retry: { ...quick, bufferBodyBytes: 4_096 } });
      try {
        const bodies: Array<[string, () => Body]> = [
          ['ReadableStream', () => streamOf(bytes)],
          ['async iterable', () => iterableOf(bytes) as unknown as Body],
        ];
        for (const [name, body] of bodies) {
          const path = fresh('stream-buffered');
          server.route(path, burst(2, 503));
          const response = await rfetch(`${server.url}${path}`, {
            method: 'PUT',
            body: body(),
            duplex: 'half',
          });
          assert.equal(response.status, 200, name);
          await response.text();
          assert.deepEqual(
            server.log(path).map((hit) => hit.bodySha256),
            Array(3).fill(sha256(bytes)),
            `${name}: every attempt carries the stream's bytes`,
          );
        }
      } finally {
        await rfetch.close();
      }
    });

    it('bufferBodyBytes: a Request input’s body within the limit is retried with identical bytes', async () => {
      const path = fresh('request-buffered');
      server.route(path, burst(1, 503));
      const rfetch = create({ retry: { ...quick, bufferBodyBytes: 4_096 } });
      try {
        const response = await rfetch(new Request(`${server.url}${path}`, { method: 'PUT', body: text }));
        assert.equal(response.status, 200);
        await response.text();
        assert.deepEqual(
          server.log(path).map((hit) => hit.bodySha256),
          Array(2).fill(sha256(text)),
        );
      } finally {
        await rfetch.close();
      }
    });

    it('bufferBodyBytes: a stream larger than the limit is sent once, whole, and not retried', async () => {
      const path = fresh('stream-too-big');
      server.route(path, burst(1, 503));
      const rfetch = create({ retry: { ...quick, bufferBodyBytes: 1_000 } });
      try {
        const response = await rfetch(`${server.url}${path}`, {
          method: 'PUT',
          body: streamOf(bytes),
          duplex: 'half',
        });
        assert.equal(response.status, 503);
        await response.text();
        assert.equal(server.hits(path), 1);
        assert.equal(server.log(path)[0]?.bodySha256, sha256(bytes), 'the first attempt got every byte');
      } finally {
        await rfetch.close();
      }
    });
  });

  describe('strategies and delays (measured server-side)', () => {
    /** Runs one call against a path that fails `failures` times, returns the server-side gaps. */
    async function gapsFor(retry: RetryOptions, failures: number): Promise<number[]> {
      const path = fresh('delays');
      server.route(path, burst(failures, 503));
      const rfetch = create({ retry: { maxRetries: failures, ...retry } });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        await response.text();
        assert.equal(server.hits(path), failures + 1);
        return server.gaps(path);
      } finally {
        await rfetch.close();
      }
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
      const rfetch = rfetchWith();
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 200);
        const [gap = 0] = server.gaps(path);
        assert.ok(gap >= 995 && gap < 1_500, `gap ${gap.toFixed(0)} ms for Retry-After: 1`);
      } finally {
        await rfetch.close();
      }
    });

    it('Retry-After: 0 retries at once despite a long backoff', async () => {
      const path = fresh('ra-zero');
      server.route(path, [respond(503, 'busy', { 'retry-after': '0' }), respond(200)]);
      const rfetch = rfetchWith({ baseDelayMs: 3_000 });
      try {
        assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
        const [gap = 0] = server.gaps(path);
        assert.ok(gap < 500, `gap ${gap.toFixed(0)} ms`);
      } finally {
        await rfetch.close();
      }
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
      const rfetch = rfetchWith();
      try {
        assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
        const [gap = 0] = server.gaps(path);
        assert.ok(
          gap >= expected - 20 && gap < expected + 500,
          `gap ${gap.toFixed(0)}, date ${expected} ms ahead`,
        );
      } finally {
        await rfetch.close();
      }
    });

    it('an HTTP-date in the past retries at once', async () => {
      const path = fresh('ra-past');
      server.route(path, [
        respond(503, 'busy', { 'retry-after': new Date(Date.now() - 60_000).toUTCString() }),
        respond(200),
      ]);
      const rfetch = rfetchWith({ baseDelayMs: 3_000 });
      try {
        assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
        const [gap = 0] = server.gaps(path);
        assert.ok(gap < 500, `gap ${gap.toFixed(0)} ms`);
      } finally {
        await rfetch.close();
      }
    });

    it('a Retry-After longer than maxDelayMs is not waited for: that response is returned', async () => {
      const rfetch = rfetchWith({ maxDelayMs: 1_000 });
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('garbage, negative, fractional and absurd values neither throw nor wait', async () => {
      const rfetch = rfetchWith({ maxDelayMs: 2_000 });
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
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('a Retry-After beyond the deadline is not waited for: the call ends before its deadline', async () => {
      const path = fresh('ra-deadline');
      server.route(path, [respond(503, 'busy', { 'retry-after': '2' }), respond(200)]);
      const rfetch = rfetchWith();
      try {
        const outcome = await settle(
          rfetch(`${server.url}${path}`, { resilience: { timeout: { deadlineMs: 600 } } }),
          3_000,
        );
        assert.notEqual(outcome.status, 'pending');
        assert.ok(outcome.ms < 600, `settled after ${outcome.ms.toFixed(0)} ms`);
        assert.equal(server.hits(path), 1);
      } finally {
        await rfetch.close();
      }
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
      const rfetch = rfetchWith();
      try {
        assert.equal((await rfetch(`${server.url}${path}`)).status, 200);
        const [gap = 0] = server.gaps(path);
        assert.ok(gap >= expected - 20, `gap ${gap.toFixed(0)}, date ${expected} ms ahead`);
      } finally {
        await rfetch.close();
      }
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
        const own = await startFaultServer();
        own.route('/small', [busy, busy, respond(200)]);
        const rfetch = create({ retry: quick });
        try {
          const response = await rfetch(`${own.url}/small`);
          assert.equal(response.status, 200);
          await response.text();
          const sockets = own.log('/small').map((hit) => hit.socketId);
          assert.deepEqual(sockets, [1, 1, 1], `${name}: sockets per attempt: ${sockets.join(', ')}`);
          assert.equal(own.connections, 1, name);
          await rfetch.close();
          await own.socketsClosed(2_000);
        } finally {
          await rfetch.close();
          await own.close();
        }
      }
    });

    it('a large 503 body is cancelled, not read: the call goes on and no socket is left after close()', async () => {
      const own = await startFaultServer();
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
      const rfetch = create({ retry: quick });
      try {
        const start = performance.now();
        const response = await rfetch(`${own.url}/large`);
        assert.equal(response.status, 200);
        assert.equal(await response.text(), 'ok');
        assert.equal(own.hits('/large'), 2);
        const ms = elapsedSince(start);
        assert.ok(
          ms < 1_500,
          `the retry came ${ms.toFixed(0)} ms later: the 503 body was read, not cancelled`,
        );
        await rfetch.close();
        await own.socketsClosed(2_000);
      } finally {
        await rfetch.close();
        await own.close();
      }
    });

    it('a 503 whose body is truncated or reset is still retried', async () => {
      const rfetch = create({ retry: quick });
      try {
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
      } finally {
        await rfetch.close();
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
      const own = await startFaultServer({ idleCloseMs: 10 });
      own.route('/k', [respond(200)]);
      const rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 5, jitter: 'none' } });
      let calls = 0;
      let raced = 0;
      try {
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
      } finally {
        await rfetch.close();
        await own.close();
      }
    });

    it('a flapping upstream: every call succeeds on its retry', async () => {
      const path = fresh('flapping');
      server.route(path, flapping(respond(503), respond(200)));
      const rfetch = create({ retry: quick });
      try {
        for (let i = 0; i < 10; i++) {
          const response = await rfetch(`${server.url}${path}`);
          assert.equal(response.status, 200);
          await response.text();
        }
        assert.equal(server.hits(path), 20);
      } finally {
        await rfetch.close();
      }
    });
  });

  describe('retry budget', () => {
    it('retries add at most ratio x calls of the window; a denied call ends as its last attempt did', async () => {
      const ok = fresh('budget-ok');
      const failing = fresh('budget-fail');
      server.route(ok, [respond(200)]);
      server.route(failing, (hit) => respond(503, `attempt ${hit}`));
      const rfetch = create({
        retry: { ...quick, baseDelayMs: 5, maxRetries: 5, budget: { ratio: 0.2, minRetriesPerSecond: 0 } },
      });
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('the floor lets a quiet host retry: minRetriesPerSecond x window', async () => {
      const path = fresh('budget-floor');
      server.route(path, [respond(503)]);
      const rfetch = create({
        retry: { ...quick, baseDelayMs: 5, maxRetries: 5, budget: { ratio: 0, minRetriesPerSecond: 0.3 } },
      });
      try {
        const response = await rfetch(`${server.url}${path}`);
        assert.equal(response.status, 503);
        await response.text();
        assert.equal(server.hits(path), 4, '0.3/s over 10 s: 3 retries');
        assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 1);
      } finally {
        await rfetch.close();
      }
    });

    it('a spent budget ends a failing connection as fetch would: TypeError("fetch failed")', async () => {
      const path = fresh('budget-reset');
      server.route(path, [{ kind: 'reset' }, respond(200)]);
      const rfetch = create({ retry: { ...quick, budget: { ratio: 0, minRetriesPerSecond: 0 } } });
      try {
        await assert.rejects(rfetch(`${server.url}${path}`), (e: unknown) => {
          assertFetchFailed(e);
          return true;
        });
        assert.equal(server.hits(path), 1);
        assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 1);
      } finally {
        await rfetch.close();
      }
    });

    it('the default budget lets a host with no other traffic use all its retries', async () => {
      const path = fresh('budget-default');
      server.route(path, [respond(503)]);
      const rfetch = create({ retry: quick });
      try {
        await (await rfetch(`${server.url}${path}`)).text();
        assert.equal(server.hits(path), 4);
        assert.equal(rfetch.stats().hosts[server.host]?.retriesDenied, 0);
      } finally {
        await rfetch.close();
      }
    });

    it('budget: false turns it off, and the budget is per host', async () => {
      const other = await startFaultServer();
      const path = fresh('budget-off');
      server.route(path, [respond(503)]);
      other.route(path, [respond(503)]);
      const spent = { ratio: 0, minRetriesPerSecond: 0 };
      const rfetch = create({
        retry: { ...quick, budget: spent },
        hosts: { [other.host]: { retry: { budget: false } } },
      });
      try {
        await (await rfetch(`${server.url}${path}`)).text();
        assert.equal(server.hits(path), 1, 'spent budget: no retry');
        await (await rfetch(`${other.url}${path}`)).text();
        assert.equal(other.hits(path), 4, 'no budget: every retry');
        const hosts = rfetch.stats().hosts;
        assert.equal(hosts[server.host]?.retriesDenied, 1);
        assert.equal(hosts[other.host]?.retriesDenied, 0);
      } finally {
        await rfetch.close();
        await other.close();
      }
    });
  });

  describe('abort', () => {
    it('an abort during a 700 ms backoff rejects at once with signal.reason; no attempt starts after it', async () => {
      const path = fresh('abort-backoff');
      server.route(path, [respond(503)]);
      const rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 700, jitter: 'none' } });
      const controller = new AbortController();
      const reason = new Error('caller gave up');
      try {
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
      } finally {
        await rfetch.close();
      }
    });

    it('an already aborted signal rejects with its reason and sends nothing', async () => {
      const path = fresh('abort-before');
      server.route(path, [respond(200)]);
      const rfetch = create({ retry: quick });
      const controller = new AbortController();
      controller.abort();
      try {
        await assert.rejects(rfetch(`${server.url}${path}`, { signal: controller.signal }), (e: unknown) => {
          assert.equal(e, controller.signal.reason);
          assert.equal((e as DOMException).name, 'AbortError');
          return true;
        });
        await sleep(50);
        assert.equal(server.hits(path), 0);
      } finally {
        await rfetch.close();
      }
    });

    it('an abort during a hanging attempt rejects with the reason and is not retried', async () => {
      const path = fresh('abort-attempt');
      server.route(path, [{ kind: 'hang' }]);
      const rfetch = create({ retry: quick });
      const controller = new AbortController();
      try {
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
      } finally {
        await rfetch.close();
      }
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
      const rfetch = create({ retry: { strategy: 'fixed', baseDelayMs: 1_000, jitter: 'none' } });
      const controller = new AbortController();
      try {
        const pending = rfetch(new Request(`${server.url}${path}`, { signal: controller.signal }));
        await server.waitForHits(path, 1);
        controller.abort();
        const outcome = await settle(pending, 2_000);
        assert.equal(outcome.status, 'rejected');
        if (outcome.status === 'rejected') assert.equal((outcome.reason as DOMException).name, 'AbortError');
        assert.ok(outcome.ms < 200, `rejected ${outcome.ms.toFixed(0)} ms after the abort`);
        assert.equal(server.hits(path), 1);
      } finally {
        await rfetch.close();
      }
    });
  });
});

describe('deadlines', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  it('attemptMs: a hanging attempt times out and is retried; the next attempt succeeds', async () => {
    const path = fresh('attempt-hang');
    server.route(path, [{ kind: 'hang' }, respond(200)]);
    const rfetch = create({ retry: quick, timeout: { attemptMs: 150 } });
    try {
      const start = performance.now();
      const response = await rfetch(`${server.url}${path}`);
      const ms = elapsedSince(start);
      assert.equal(response.status, 200);
      assert.equal(server.hits(path), 2);
      assert.ok(ms >= 150 && ms < 800, `${ms.toFixed(0)} ms`);
    } finally {
      await rfetch.close();
    }
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
      const rfetch = create({ retry: quick, timeout: { attemptMs: 150 } });
      const patient = create({ retry: quick, timeout: { attemptMs: 5_000 } });
      try {
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
      } finally {
        await Promise.all([rfetch.close(), patient.close()]);
      }
    }
  });

  it('attemptMs: slow headers count as an attempt timeout', async () => {
    const path = fresh('attempt-slow-headers');
    server.route(path, [
      { kind: 'slowHeaders', delayMs: 600, next: respond(200, 'late') },
      respond(200, 'fast'),
    ]);
    const rfetch = create({ retry: quick, timeout: { attemptMs: 150 } });
    try {
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(await response.text(), 'fast');
      assert.equal(server.hits(path), 2);
    } finally {
      await rfetch.close();
    }
  });

  it('every attempt timing out rejects with a DOMException TimeoutError after maxRetries + 1 attempts', async () => {
    const path = fresh('attempt-all-hang');
    server.route(path, [{ kind: 'hang' }]);
    const rfetch = create({ retry: { ...quick, maxRetries: 2 }, timeout: { attemptMs: 100 } });
    try {
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
    } finally {
      await rfetch.close();
    }
  });

  it('deadlineMs: the call rejects with TimeoutError at the deadline, across attempts and backoffs', async () => {
    const path = fresh('deadline-across');
    server.route(path, [{ kind: 'hang' }]);
    const rfetch = create({
      retry: { ...quick, maxRetries: 10 },
      timeout: { attemptMs: 200, deadlineMs: 550 },
    });
    try {
      const outcome = await settle(rfetch(`${server.url}${path}`), 3_000);
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assert.ok(isTimeoutError(outcome.reason), String(outcome.reason));
      assert.ok(outcome.ms >= 545 && outcome.ms < 950, `${outcome.ms.toFixed(0)} ms`);
      const hits = server.hits(path);
      assert.ok(hits >= 2 && hits <= 3, `${hits} attempts in 550 ms of 200 ms attempts`);
    } finally {
      await rfetch.close();
    }
  });

  it('a deadline shorter than attemptMs caps the attempt; nothing is sent after it', async () => {
    const path = fresh('deadline-caps');
    server.route(path, [{ kind: 'hang' }]);
    const rfetch = create({ retry: quick, timeout: { attemptMs: 5_000, deadlineMs: 300 } });
    try {
      const outcome = await settle(rfetch(`${server.url}${path}`), 3_000);
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assert.ok(isTimeoutError(outcome.reason), String(outcome.reason));
      assert.ok(outcome.ms >= 295 && outcome.ms < 800, `${outcome.ms.toFixed(0)} ms`);
      await sleep(200);
      assert.equal(server.hits(path), 1);
    } finally {
      await rfetch.close();
    }
  });

  it('the deadline and attemptMs end at the headers: a body that keeps flowing is read past both', async () => {
    const path = fresh('deadline-body');
    server.route(path, [{ kind: 'drip', chunk: 'x', everyMs: 60, count: 10 }]);
    const rfetch = create({
      retry: quick,
      timeout: { attemptMs: 100, deadlineMs: 200 },
      pool: { bodyTimeoutMs: 300 },
    });
    try {
      const start = performance.now();
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(await response.text(), 'x'.repeat(10));
      assert.ok(elapsedSince(start) >= 500, 'the body flowed well past the deadline');
    } finally {
      await rfetch.close();
    }
  });

  it('bodyTimeoutMs guards the body: a stall longer than it errors the read', async () => {
    const path = fresh('body-stall');
    server.route(path, [
      { kind: 'partialBody', status: 200, declaredLength: 1_000, sentBytes: 100, ending: 'hang' },
    ]);
    const rfetch = create({ retry: quick, pool: { bodyTimeoutMs: 150 } });
    try {
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(response.status, 200);
      const outcome = await settle(response.text(), 3_000);
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected')
        assert.ok(outcome.reason instanceof TypeError, String(outcome.reason));
      // undici arms its body timer on a coarse clock (about 0.5 s ticks): a 150 ms timeout fires within ~1 s.
      assert.ok(outcome.ms >= 140 && outcome.ms < 2_500, `${outcome.ms.toFixed(0)} ms`);
    } finally {
      await rfetch.close();
    }
  });

  it('deadlineCoversBody: a body still flowing at the deadline errors with TimeoutError', async () => {
    const path = fresh('deadline-covers');
    server.route(path, [{ kind: 'drip', chunk: 'x', everyMs: 50, count: 40 }]);
    const rfetch = create({ retry: quick, timeout: { deadlineMs: 300, deadlineCoversBody: true } });
    try {
      const start = performance.now();
      const response = await rfetch(`${server.url}${path}`);
      const outcome = await settle(response.text(), 3_000);
      const ms = elapsedSince(start);
      assert.equal(outcome.status, 'rejected');
      if (outcome.status === 'rejected') assert.ok(isTimeoutError(outcome.reason), String(outcome.reason));
      assert.ok(ms >= 295 && ms < 800, `${ms.toFixed(0)} ms`);
    } finally {
      await rfetch.close();
    }
  });

  it('deadlineCoversBody: a body that ends before the deadline is read whole', async () => {
    const path = fresh('deadline-covers-ok');
    server.route(path, [{ kind: 'drip', chunk: 'y', everyMs: 20, count: 5 }]);
    const rfetch = create({ retry: quick, timeout: { deadlineMs: 1_000, deadlineCoversBody: true } });
    try {
      const response = await rfetch(`${server.url}${path}`);
      assert.equal(await response.text(), 'yyyyy');
    } finally {
      await rfetch.close();
    }
  });

  it('per request: init.resilience.timeout overrides attemptMs and deadlineMs for that call only', async () => {
    const path = fresh('per-request-timeout');
    server.route(path, [{ kind: 'slowHeaders', delayMs: 300, next: respond(200) }]);
    const rfetch = create({ retry: { ...quick, maxRetries: 0 }, timeout: { attemptMs: 5_000 } });
    try {
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
    } finally {
      await rfetch.close();
    }
  });

  it('per request: retry: false sends once, retry: { maxRetries: 1 } twice, then the instance rules again', async () => {
    const rfetch = create({ retry: { ...quick, maxRetries: 3 } });
    const run = async (init: ResilientRequestInit | undefined) => {
      const path = fresh('per-request-retry');
      server.route(path, [respond(503)]);
      const response = await rfetch(`${server.url}${path}`, init);
      assert.equal(response.status, 503);
      await response.text();
      return server.hits(path);
    };
    try {
      assert.equal(await run({ resilience: { retry: false } }), 1);
      assert.equal(await run({ resilience: { retry: { maxRetries: 1 } } }), 2);
      assert.equal(await run(undefined), 4);
    } finally {
      await rfetch.close();
    }
  });

  it('every call settles: hangs, slow headers, drips, resets and truncations', async () => {
    const rfetch = create({
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
    try {
      const outcomes = await Promise.all(scenarios.map((scenario) => settle(run(scenario), 4_000)));
      scenarios.forEach((scenario, i) => {
        const outcome = outcomes[i];
        assert.equal(outcome?.status, 'fulfilled', `${scenario.name}: still pending`);
        if (outcome?.status === 'fulfilled') assert.equal(outcome.value, scenario.expect, scenario.name);
      });
    } finally {
      await rfetch.close();
    }
  });
});

describe('per-host overrides', () => {
  let a: FaultServer;
  let b: FaultServer;
  before(async () => {
    a = await startFaultServer();
    b = await startFaultServer();
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  it('hosts["127.0.0.1:PORT"] applies to that port only', async () => {
    const path = fresh('host-exact');
    a.route(path, [respond(503)]);
    b.route(path, [respond(503)]);
    const rfetch = create({ retry: quick, hosts: { [a.host]: { retry: { maxRetries: 1 } } } });
    try {
      await (await rfetch(`${a.url}${path}`)).text();
      await (await rfetch(`${b.url}${path}`)).text();
      assert.equal(a.hits(path), 2);
      assert.equal(b.hits(path), 4);
    } finally {
      await rfetch.close();
    }
  });

  it('a hostname key applies to every port; an exact host:port key wins over it', async () => {
    const path = fresh('host-name');
    a.route(path, [respond(503)]);
    b.route(path, [respond(503)]);
    const rfetch = create({
      retry: quick,
      hosts: { '127.0.0.1': { retry: false }, [b.host]: { retry: { maxRetries: 2 } } },
    });
    try {
      await (await rfetch(`${a.url}${path}`)).text();
      await (await rfetch(`${b.url}${path}`)).text();
      assert.equal(a.hits(path), 1, 'hostname key: retries off');
      assert.equal(b.hits(path), 3, 'exact key: 2 retries');
    } finally {
      await rfetch.close();
    }
  });

  it('a per-host timeout applies to that host only', async () => {
    const path = fresh('host-timeout');
    a.route(path, [{ kind: 'slowHeaders', delayMs: 250, next: respond(200) }]);
    b.route(path, [{ kind: 'slowHeaders', delayMs: 250, next: respond(200) }]);
    const rfetch = create({ retry: false, hosts: { [a.host]: { timeout: { attemptMs: 100 } } } });
    try {
      const [slowA, slowB] = await Promise.all([
        settle(rfetch(`${a.url}${path}`), 2_000),
        settle(rfetch(`${b.url}${path}`), 2_000),
      ]);
      assert.equal(slowA.status, 'rejected');
      if (slowA.status === 'rejected') assert.ok(isTimeoutError(slowA.reason));
      assert.equal(slowB.status, 'fulfilled');
      if (slowB.status === 'fulfilled') await slowB.value.text();
    } finally {
      await rfetch.close();
    }
  });
});

describe('bad per-request options', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  const cases: Array<[unknown, ErrorConstructor, string]> = [
    ['fast', TypeError, 'init.resilience '],
    [{ retries: 3 }, TypeError, 'init.resilience.retries'],
    [{ retry: true }, TypeError, 'init.resilience.retry '],
    [{ retry: { maxRetries: -1 } }, RangeError, 'init.resilience.retry.maxRetries'],
    [{ retry: { maxRetries: 1.5 } }, RangeError, 'init.resilience.retry.maxRetries'],
    [{ retry: { baseDelayMs: Number.NaN } }, RangeError, 'init.resilience.retry.baseDelayMs'],
    [{ retry: { strategy: 'quadratic' } }, TypeError, 'init.resilience.retry.strategy'],
    [{ retry: { jitterRatio: 2 } }, RangeError, 'init.resilience.retry.jitterRatio'],
    [{ retry: { statuses: [503, 700] } }, RangeError, 'init.resilience.retry.statuses[1]'],
    [{ retry: { shouldRetry: 'yes' } }, TypeError, 'init.resilience.retry.shouldRetry'],
    [{ retry: { budget: false } }, TypeError, 'init.resilience.retry.budget'],
    [{ timeout: { attemptMs: 0 } }, RangeError, 'init.resilience.timeout.attemptMs'],
    [{ timeout: { deadlineMs: '1s' } }, TypeError, 'init.resilience.timeout.deadlineMs'],
    [{ timeout: { deadlineCoversBody: 1 } }, TypeError, 'init.resilience.timeout.deadlineCoversBody'],
  ];

  it('reject (never throw synchronously) with a TypeError or RangeError naming init.resilience.<path>', async () => {
    const path = fresh('bad-options');
    server.route(path, [respond(200)]);
    const rfetch = create();
    try {
      for (const [resilience, Kind, name] of cases) {
        let pending: Promise<Response> | undefined;
        assert.doesNotThrow(() => {
          pending = rfetch(`${server.url}${path}`, { resilience: resilience as never });
        }, JSON.stringify(resilience));
        await assert.rejects(pending as Promise<Response>, (e: unknown) => {
          assert.equal((e as Error).constructor, Kind, `${JSON.stringify(resilience)}: ${String(e)}`);
          assert.ok(
            (e as Error).message.includes(name.trim()),
            `${JSON.stringify(resilience)}: "${(e as Error).message}" does not name ${name}`,
          );
          return true;
        });
      }
      assert.equal(server.hits(path), 0, 'nothing was sent');
      assert.equal(rfetch.stats().inFlight, 0);
      const ok = await rfetch(`${server.url}${path}`, { resilience: { retry: { maxRetries: 0 } } });
      assert.equal(ok.status, 200, 'the instance works after bad calls');
      await ok.text();
    } finally {
      await rfetch.close();
    }
  });
});
