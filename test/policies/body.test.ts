/**
 * Body replay: every attempt carries exactly the bytes of the first, whatever the caller does meanwhile;
 * each kind of body fetch accepts, hashed server-side; streams sent once unless bufferBodyBytes holds them.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';
import { burst, type FaultServer, sha256, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh, quick } from '../helpers/policies.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';

interface Seen {
  body: string;
  type: string | undefined;
}

/** What fetch accepts as a request body. */
type Body = NonNullable<RequestInit['body']>;

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

describe('replayed bodies', () => {
  let server: TestServer;
  let seen: Seen[] = [];
  let failFirst = 1;
  let readBeforeAnswer = true;
  before(async () => {
    server = await startServer(async (req: IncomingMessage, res) => {
      const answer = () => {
        if (seen.length <= failFirst) return void res.writeHead(503).end('busy');
        res.end('ok');
      };
      if (!readBeforeAnswer && seen.length < failFirst) {
        // Answer 503 before reading the body (a load balancer shedding load), then drop the rest.
        seen.push({ body: '<unread>', type: req.headers['content-type'] });
        res.writeHead(503, { connection: 'close' }).end('busy');
        req.resume();
        return;
      }
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      seen.push({ body: Buffer.concat(chunks).toString(), type: req.headers['content-type'] });
      answer();
    });
  });
  after(() => server.close());
  const reset = (failures: number, readFirst = true) => {
    seen = [];
    failFirst = failures;
    readBeforeAnswer = readFirst;
  };
  const rfetch = () =>
    createResilientFetch({ retry: { baseDelayMs: 60, jitter: 'none', bufferBodyBytes: 1024 } });

  it('URLSearchParams changed by the caller during the backoff: the retry sends the first bytes', async () => {
    reset(1);
    const rf = rfetch();
    const params = new URLSearchParams({ amount: '1' });
    const pending = rf(server.url, { method: 'PUT', body: params });
    await sleep(20);
    params.set('amount', '1000');
    assert.equal((await pending).status, 200);
    assert.deepEqual(
      seen.map((s) => s.body),
      ['amount=1', 'amount=1'],
    );
    assert.deepEqual(
      seen.map((s) => s.type),
      Array(2).fill('application/x-www-form-urlencoded;charset=UTF-8'),
    );
    await rf.close();
  });

  it('a buffered stream of Buffers overwritten by the caller: the retry sends the first bytes', async () => {
    reset(1);
    const rf = rfetch();
    const chunk = Buffer.from('AAAAA');
    const pending = rf(server.url, {
      method: 'PUT',
      body: (async function* () {
        yield chunk;
      })(),
      duplex: 'half',
    } as RequestInit);
    await sleep(20);
    chunk.write('zzzzz');
    assert.equal((await pending).status, 200);
    assert.deepEqual(
      seen.map((s) => s.body),
      ['AAAAA', 'AAAAA'],
    );
    await rf.close();
  });

  it('a small buffered stream is retried even when the server answered before reading it', async () => {
    reset(1, false);
    const rf = rfetch();
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('hello world'));
        controller.close();
      },
    });
    const res = await rf(server.url, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 200);
    assert.deepEqual(
      seen.map((s) => s.body),
      ['<unread>', 'hello world'],
    );
    await rf.close();
  });

  it('a stream larger than bufferBodyBytes is sent whole, once, and not retried', async () => {
    reset(1);
    const rf = rfetch();
    const big = 'x'.repeat(3_000);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < 3; i++)
          controller.enqueue(new TextEncoder().encode(big.slice(i * 1_000, (i + 1) * 1_000)));
        controller.close();
      },
    });
    const res = await rf(server.url, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 503, 'the last (only) attempt is what the caller gets');
    assert.equal(seen.length, 1);
    assert.equal(
      createHash('sha256')
        .update(seen[0]?.body ?? '')
        .digest('hex'),
      createHash('sha256').update(big).digest('hex'),
    );
    await rf.close();
  });

  it('a stream body is not retried without bufferBodyBytes', async () => {
    reset(1);
    const rf = createResilientFetch({ retry: { baseDelayMs: 10 } });
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('once'));
        controller.close();
      },
    });
    const res = await rf(server.url, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 503);
    assert.deepEqual(
      seen.map((s) => s.body),
      ['once'],
    );
    await rf.close();
  });
});

describe('retry policies', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

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
        await using rfetch = create({ retry: quick });
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
      });
    }

    it('a FormData body: same bytes and same multipart boundary on every attempt', async () => {
      const path = fresh('body-formdata');
      server.route(path, burst(2, 503));
      const form = new FormData();
      form.append('name', 'value ✓');
      form.append('file', new File([randomBytes(2_000)], 'data.bin', { type: 'application/octet-stream' }));
      await using rfetch = create({ retry: quick });
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
    });

    it('a byte buffer or URLSearchParams the caller changes after the first attempt does not change a retry', async () => {
      const path = fresh('body-mutated');
      server.route(path, burst(1, 503));
      const buffer = new Uint8Array(1_000).fill(1);
      const original = sha256(buffer);
      await using rfetch = create({ retry: { ...quick, baseDelayMs: 50 } });
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
    });

    it('a ReadableStream body is streamed once and not retried: the 503 is returned', async () => {
      const path = fresh('stream-once');
      server.route(path, burst(1, 503));
      await using rfetch = create({ retry: quick });
      const response = await rfetch(`${server.url}${path}`, {
        method: 'PUT',
        body: streamOf(bytes),
        duplex: 'half',
      });
      assert.equal(response.status, 503);
      await response.text();
      assert.equal(server.hits(path), 1);
      assert.equal(server.log(path)[0]?.bodySha256, sha256(bytes));
    });

    it('an async-iterable body is streamed once and not retried: the 503 is returned', async () => {
      const path = fresh('iterable-once');
      server.route(path, burst(1, 503));
      await using rfetch = create({ retry: quick });
      const response = await rfetch(`${server.url}${path}`, {
        method: 'PUT',
        body: iterableOf(bytes) as unknown as Body,
        duplex: 'half',
      });
      assert.equal(response.status, 503);
      await response.text();
      assert.equal(server.hits(path), 1);
      assert.equal(server.log(path)[0]?.bodySha256, sha256(bytes));
    });

    it('bufferBodyBytes: a stream within the limit is retried with identical bytes', async () => {
      await using rfetch = create({ retry: { ...quick, bufferBodyBytes: 4_096 } });
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
    });

    it('bufferBodyBytes: a Request input’s body within the limit is retried with identical bytes', async () => {
      const path = fresh('request-buffered');
      server.route(path, burst(1, 503));
      await using rfetch = create({ retry: { ...quick, bufferBodyBytes: 4_096 } });
      const response = await rfetch(new Request(`${server.url}${path}`, { method: 'PUT', body: text }));
      assert.equal(response.status, 200);
      await response.text();
      assert.deepEqual(
        server.log(path).map((hit) => hit.bodySha256),
        Array(2).fill(sha256(text)),
      );
    });

    it('bufferBodyBytes: a stream larger than the limit is sent once, whole, and not retried', async () => {
      const path = fresh('stream-too-big');
      server.route(path, burst(1, 503));
      await using rfetch = create({ retry: { ...quick, bufferBodyBytes: 1_000 } });
      const response = await rfetch(`${server.url}${path}`, {
        method: 'PUT',
        body: streamOf(bytes),
        duplex: 'half',
      });
      assert.equal(response.status, 503);
      await response.text();
      assert.equal(server.hits(path), 1);
      assert.equal(server.log(path)[0]?.bodySha256, sha256(bytes), 'the first attempt got every byte');
    });
  });
});
