/**
 * Hostile upstreams (issue 17, item 3), on real servers on loopback: a decompression bomb, headers that
 * arrive one byte at a time, a body that never ends, a redirect loop, redirects to other schemes and to a
 * credentialed URL, absurd Retry-After values, and header values with CR/LF from the caller. Where fetch's
 * behaviour is the spec, Node's fetch runs the same case and the two must be seen alike.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import zlib from 'node:zlib';
import { createResilientFetch } from '../../src/index.ts';
import { describeError, expectRejection } from '../helpers/contract.ts';
import { isTimeoutError } from '../helpers/errors.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';
import { settle } from '../helpers/settle.ts';

const bombSize = 32 * 1024 * 1024;

describe('hostile upstreams', () => {
  let server: TestServer;
  let bomb: Buffer;
  const hits = new Map<string, number>();
  const hitsOf = (path: string) => hits.get(path) ?? 0;

  before(async () => {
    bomb = zlib.gzipSync(Buffer.alloc(bombSize), { level: 9 });
    server = await startServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      hits.set(url.pathname, hitsOf(url.pathname) + 1);
      switch (url.pathname) {
        case '/bomb':
          res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length }).end(bomb);
          return;
        case '/loop':
          res.writeHead(302, { location: `/loop?n=${Number(url.searchParams.get('n') ?? 0) + 1}` }).end();
          return;
        case '/to':
          res.writeHead(302, { location: url.searchParams.get('location') ?? '/' }).end();
          return;
        case '/retry-after':
          res.writeHead(503, { 'retry-after': url.searchParams.get('value') ?? '' }).end('busy');
          return;
        default:
          res.end('ok');
      }
    });
  });
  after(() => server.close());

  const make = () =>
    createResilientFetch({
      retry: { maxRetries: 2, baseDelayMs: 20, jitter: 'none', maxDelayMs: 2_000 },
      circuitBreaker: false,
    });

  it('a gzip bomb with no cap decodes in full, as Node fetch decodes it (the default stays fetch)', async () => {
    await using rfetch = make();
    assert.ok(bomb.length < 64 * 1024, `the bomb is small on the wire (${bomb.length} bytes)`);
    const ours = await (await rfetch(`${server.url}/bomb`)).arrayBuffer();
    const native = await (await fetch(`${server.url}/bomb`)).arrayBuffer();
    assert.equal(ours.byteLength, bombSize);
    assert.equal(native.byteLength, bombSize);
  });

  it('a gzip bomb with a cap: the body errors early with our error as the cause, memory stays flat', async () => {
    await using rfetch = createResilientFetch({ response: { maxBytes: 2 * 1024 * 1024, maxRatio: 100 } });
    const before = process.memoryUsage().arrayBuffers;
    const res = await rfetch(`${server.url}/bomb`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let decoded = 0;
    const error = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return undefined;
        decoded += value.byteLength;
      }
    })().catch((e: unknown) => e);
    assert.ok(error instanceof TypeError && error.message === 'terminated', String(error));
    assert.equal((error.cause as { code?: string }).code, 'ERR_RF_RESPONSE_TOO_LARGE');
    assert.ok(decoded <= 2 * 1024 * 1024, `${decoded} of ${bombSize} bytes decoded`);
    assert.ok(process.memoryUsage().arrayBuffers - before < 16 * 1024 * 1024);
  });

  it('response headers arriving one byte at a time are ended by the attempt timeout, the socket closed', async () => {
    let closed: Promise<unknown> = Promise.resolve();
    const drip = net.createServer((socket) => {
      closed = new Promise((resolve) => socket.once('close', resolve));
      socket.on('error', () => {});
      const head = `HTTP/1.1 200 OK\r\nx-slow: ${'a'.repeat(10_000)}`;
      let i = 0;
      const timer = setInterval(() => {
        if (socket.destroyed) clearInterval(timer);
        else socket.write(head[i++ % head.length] as string);
      }, 20);
      socket.on('close', () => clearInterval(timer));
    });
    drip.listen(0, '127.0.0.1');
    await once(drip, 'listening');
    const { port } = drip.address() as AddressInfo;
    await using rfetch = createResilientFetch({ retry: false, timeout: { attemptMs: 300 } });
    const out = await settle(rfetch(`http://127.0.0.1:${port}/`), 5_000);
    assert.equal(out.status, 'rejected');
    assert.ok(
      out.status === 'rejected' && isTimeoutError(out.reason),
      'a TimeoutError, as AbortSignal.timeout()',
    );
    assert.ok(
      out.ms >= 250 && out.ms < 2_000,
      `ended by the 300 ms attempt timeout (${Math.round(out.ms)} ms)`,
    );
    await closed;
    await new Promise((resolve) => drip.close(resolve));
  });

  it('an endless body read slowly: the server is held back, memory stays bounded', async () => {
    let sent = 0;
    const chunk = Buffer.alloc(64 * 1024, 'x');
    await using endless = await startServer((_req, res) => {
      res.writeHead(200);
      const pump = () => {
        while (!res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    await using rfetch = createResilientFetch({ retry: false });
    const before = process.memoryUsage().arrayBuffers;
    const res = await rfetch(endless.url);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    const started = performance.now();
    while (performance.now() - started < 600) {
      const { value } = await reader.read();
      received += value?.byteLength ?? 0;
      await sleep(5);
    }
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(received > 0);
    // Without back-pressure, loopback would have pushed gigabytes in that time.
    assert.ok(
      sent - received < 16 * 1024 * 1024,
      `in flight: ${sent - received} bytes (sent ${sent}, read ${received})`,
    );
    assert.ok(grown < 32 * 1024 * 1024, `arrayBuffers grew ${grown} bytes`);
    await reader.cancel();
    await endless.socketsClosed();
  });

  it('a redirect loop: 20 hops are followed, then fetch fails, as Node fetch fails', async () => {
    await using rfetch = make();
    const ours = await expectRejection(() => rfetch(`${server.url}/loop`));
    const oursHits = hitsOf('/loop');
    const native = await expectRejection(() => fetch(`${server.url}/loop`));
    assert.equal(oursHits, 21, 'the request and 20 redirects, not retried');
    assert.equal(hitsOf('/loop') - oursHits, 21);
    assert.deepEqual(ours, native);
    assert.equal(ours.error.cause?.message, 'redirect count exceeded');
  });

  for (const location of [
    'file:///etc/passwd',
    'data:text/plain,hi',
    'javascript:alert(1)',
    'ftp://127.0.0.1/x',
  ]) {
    it(`a redirect to ${location.split(':')[0]}: is refused as Node fetch refuses it`, async () => {
      await using rfetch = make();
      const url = `${server.url}/to?location=${encodeURIComponent(location)}`;
      const ours = await expectRejection(() => rfetch(url));
      const native = await expectRejection(() => fetch(url));
      assert.equal(ours.rejected, true);
      assert.deepEqual(ours, native);
    });
  }

  it('a Location pointing at a credentialed URL is refused before it is requested, as by Node fetch', async () => {
    await using rfetch = make();
    const target = `http://user:secret@127.0.0.1:${server.port}/creds`;
    const url = `${server.url}/to?location=${encodeURIComponent(target)}`;
    const ours = await expectRejection(() => rfetch(url));
    const native = await expectRejection(() => fetch(url));
    assert.equal(ours.rejected, true);
    assert.deepEqual(ours, native);
    assert.equal(hitsOf('/creds'), 0, 'nothing was sent to the credentialed URL');
    assert.ok(
      !JSON.stringify(describeError(ours)).includes('secret'),
      'the error does not repeat the password',
    );
  });

  it('a cross-origin redirect drops authorization, cookie and proxy-authorization, as Node fetch drops them', async () => {
    const seen: Array<Record<string, string | string[] | undefined>> = [];
    await using other = await startServer((req, res) => {
      seen.push(req.headers);
      res.end('landed');
    });
    await using rfetch = make();
    const url = `${server.url}/to?location=${encodeURIComponent(`${other.url}/landing`)}`;
    const headers = {
      authorization: 'Bearer t',
      cookie: 'sid=1',
      'proxy-authorization': 'Basic p',
      'x-kept': '1',
    };
    for (const f of [rfetch, fetch]) assert.equal(await (await f(url, { headers })).text(), 'landed');
    assert.equal(seen.length, 2);
    for (const headersSeen of seen) {
      assert.deepEqual(
        ['authorization', 'cookie', 'proxy-authorization', 'x-kept'].map((name) => headersSeen[name]),
        [undefined, undefined, undefined, '1'],
      );
    }
  });

  it('Retry-After that is huge, negative, fractional or garbage: never a long wait, never a throw', async () => {
    await using rfetch = make();
    const cases = [
      { value: '99999999999999999999', attempts: 1 }, // asks for more than maxDelayMs: the 503 is returned
      { value: '-5', attempts: 3 }, // not a delay: the backoff applies
      { value: '1.5', attempts: 3 },
      { value: 'soon', attempts: 3 },
      { value: 'Wed, 99 Foo 2026 99:99:99 GMT', attempts: 3 },
    ];
    for (const { value, attempts } of cases) {
      hits.delete('/retry-after');
      const out = await settle(rfetch(`${server.url}/retry-after?value=${encodeURIComponent(value)}`), 5_000);
      assert.equal(out.status, 'fulfilled', `Retry-After: ${value}`);
      assert.equal(out.status === 'fulfilled' && out.value.status, 503);
      assert.equal(hitsOf('/retry-after'), attempts, `attempts for Retry-After: ${value}`);
      assert.ok(out.ms < 1_000, `Retry-After: ${value} took ${Math.round(out.ms)} ms`);
    }
  });

  it('header values and names with CR/LF from the caller are rejected before anything is sent, as by Node fetch', async () => {
    await using rfetch = make();
    const before = server.connections;
    const inits: RequestInit[] = [
      { headers: { 'x-a': 'v\r\nx-injected: 1' } },
      { headers: [['x-a', 'v\nx-injected: 1']] },
      { headers: { 'x-a\r\nx-injected': '1' } },
      { method: 'GET\r\nX: 1' },
    ];
    for (const init of inits) {
      const ours = await expectRejection(() => rfetch(`${server.url}/crlf`, init));
      const native = await expectRejection(() => fetch(`${server.url}/crlf`, init));
      assert.equal(ours.rejected, true, JSON.stringify(init));
      assert.deepEqual(ours, native, JSON.stringify(init));
    }
    assert.equal(hitsOf('/crlf'), 0);
    assert.equal(server.connections, before, 'no connection was even opened');
  });
});
