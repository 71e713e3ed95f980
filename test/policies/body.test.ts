/** Body replay: every attempt carries exactly the bytes of the first, whatever the caller does meanwhile. */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';

interface Seen {
  body: string;
  type: string | undefined;
}

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
