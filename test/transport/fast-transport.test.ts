/**
 * The fast transport (src/transport/fast/): which requests it takes, and the parts of Node's fetch it
 * reproduces that the contract test (test/transport/contract.test.ts) does not reach: zstd and stacked
 * codings, odd statuses and Location values, backpressure on a large body, and what an abort or a cancel
 * does to the connection. Where a behaviour is fetch's, the same request is made with Node's fetch and the two
 * observations must be equal.
 *
 * Run: node --test test/transport/fast-transport.test.ts
 */
import assert from 'node:assert/strict';
import { getEventListeners, once } from 'node:events';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { brotliCompressSync, gzipSync, zstdCompressSync } from 'node:zlib';
import { createResilientFetch, type ResilientFetch } from '../../src/index.ts';
import { startServer } from '../helpers/server.ts';

const nativeFetch = globalThis.fetch;
const text = 'fast transport body: '.repeat(16);

/** Raw responses by path, written on the socket as they are (then the socket is ended). */
const raw: Record<string, Buffer> = {
  '/zstd': response('content-encoding: zstd', zstdCompressSync(text)),
  '/gzip-then-br': response('content-encoding: gzip, br', brotliCompressSync(gzipSync(text))),
  '/split-coding': response(
    ['content-encoding: gzip', 'content-encoding: br'],
    brotliCompressSync(gzipSync(text)),
  ),
  '/unknown-coding': response('content-encoding: snappy', Buffer.from(text)),
  '/six-codings': response('content-encoding: gzip, gzip, gzip, gzip, gzip, gzip', Buffer.from('x')),
  '/status-999': Buffer.from('HTTP/1.1 999 Weird\r\ncontent-length: 2\r\n\r\nok'),
  '/location-utf8': Buffer.concat([
    Buffer.from('HTTP/1.1 302 Found\r\nlocation: /caf'),
    Buffer.from('é', 'utf8'),
    Buffer.from('\r\ncontent-length: 0\r\n\r\n'),
  ]),
  '/location-ftp': Buffer.from(
    'HTTP/1.1 302 Found\r\nlocation: ftp://127.0.0.1/x\r\ncontent-length: 0\r\n\r\n',
  ),
  '/redirect-no-location': Buffer.from('HTTP/1.1 302 Found\r\ncontent-length: 5\r\n\r\nstays'),
  '/two-locations': Buffer.from(
    'HTTP/1.1 302 Found\r\nlocation: /a\r\nlocation: /b\r\ncontent-length: 0\r\n\r\n',
  ),
  '/location-trailing-space': Buffer.from(
    'HTTP/1.1 302 Found\r\nlocation: /target  \r\ncontent-length: 0\r\n\r\n',
  ),
  '/location-bad-port': Buffer.from(
    'HTTP/1.1 302 Found\r\nlocation: http://127.0.0.1:10080/x\r\ncontent-length: 0\r\n\r\n',
  ),
  '/location-credentials': Buffer.from(
    'HTTP/1.1 302 Found\r\nlocation: //user:pw@127.0.0.1:<port>/x\r\ncontent-length: 0\r\n\r\n',
  ),
  '/status-control-char': Buffer.from('HTTP/1.1 200 O\x01K\r\ncontent-length: 2\r\n\r\nok'),
};

function response(headers: string | string[], body: Buffer): Buffer {
  const lines = Array.isArray(headers) ? headers : [headers];
  return Buffer.concat([
    Buffer.from(`HTTP/1.1 200 OK\r\n${lines.join('\r\n')}\r\ncontent-length: ${body.length}\r\n\r\n`),
    body,
  ]);
}

let rawOrigin: string;
let rawServer: ReturnType<typeof createServer>;
/** Paths the raw server was asked for, in order. */
const rawSeen: string[] = [];

/** What code written for fetch observes of a call: the Response and its body, or the rejection. */
async function observe(f: typeof fetch, url: string): Promise<unknown> {
  let res: Response;
  try {
    res = await f(url);
  } catch (error) {
    return { rejected: describe_(error) };
  }
  let body: unknown;
  try {
    body = await res.text();
  } catch (error) {
    body = { failed: describe_(error) };
  }
  return {
    status: res.status,
    ok: res.ok,
    statusText: res.statusText,
    url: res.url.replace(rawOrigin, '<origin>'),
    redirected: res.redirected,
    type: res.type,
    headers: [...res.headers],
    body,
  };
}

function describe_(error: unknown): unknown {
  if (!(error instanceof Error)) return { value: String(error) };
  const cause = (error as { cause?: unknown }).cause;
  return {
    name: error.name,
    message: error.message,
    className: error.constructor.name,
    cause: cause === undefined ? undefined : describe_(cause),
  };
}

describe('fast transport', () => {
  let rfetch: ResilientFetch;

  before(async () => {
    rawServer = createServer((socket) => {
      socket.once('data', (chunk) => {
        const path = chunk.toString('latin1').split(' ')[1] ?? '';
        rawSeen.push(path);
        const answer = raw[path] ?? Buffer.from('HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n');
        socket.end(answer.toString('latin1').replace('<port>', rawOrigin.split(':')[2] ?? ''), 'latin1');
      });
      socket.on('error', () => {});
    });
    rawServer.listen(0, '127.0.0.1');
    await once(rawServer, 'listening');
    rawOrigin = `http://127.0.0.1:${(rawServer.address() as AddressInfo).port}`;
    rfetch = createResilientFetch({ retry: false, circuitBreaker: false });
  });

  after(async () => {
    await rfetch.close({ drainTimeoutMs: 1000 });
    rawServer.close();
  });

  it('takes string and URL inputs with string, bytes and URLSearchParams bodies and record or array headers', async () => {
    await using server = await startEcho();
    const before = rfetch.stats().sent;
    const calls: Array<Promise<Response>> = [
      rfetch(`${server.origin}/a`),
      rfetch(new URL(`${server.origin}/b`)),
      rfetch(`${server.origin}/c`, { method: 'POST', body: 'text', headers: { 'X-Case': 'kept' } }),
      rfetch(`${server.origin}/d`, {
        method: 'put',
        body: new Uint8Array([1, 2, 3]),
        headers: [['x-a', '1']],
      }),
      rfetch(`${server.origin}/e`, { method: 'PATCH', body: new URLSearchParams({ q: '1' }) }),
    ];
    for (const res of await Promise.all(calls)) assert.equal((await res.text()).startsWith('echo '), true);
    const after = rfetch.stats().sent;
    assert.equal(after.fast - before.fast, 5);
    assert.equal(after.fetch - before.fetch, 0);
    // The caller's casing reaches the wire (fetch sends the name as first given).
    assert.ok(server.seen.some((r) => r.rawHeaders.includes('X-Case')));
  });

  it('hands to Node fetch what it does not reproduce: Request, Headers, FormData, a stream without duplex, Blob, other redirect modes', async () => {
    await using server = await startEcho();
    const before = rfetch.stats().sent;
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('s'));
        c.close();
      },
    });
    const form = new FormData();
    form.set('a', 'b');
    const calls = [
      rfetch(new Request(`${server.origin}/r`)),
      rfetch(`${server.origin}/h`, { headers: new Headers({ 'x-a': '1' }) }),
      rfetch(`${server.origin}/f`, { method: 'POST', body: form }),
      rfetch(`${server.origin}/s`, {
        method: 'POST',
        body: stream,
        duplex: 'half',
        headers: { 'content-length': '1' },
      } as RequestInit),
      rfetch(`${server.origin}/b`, { method: 'POST', body: new Blob(['b']) }),
      rfetch(`${server.origin}/m`, { redirect: 'manual' }),
      rfetch(`${server.origin}/c`, { cache: 'no-store' }),
      rfetch(`${server.origin}/i`, { headers: { 'if-none-match': '"x"' } }),
    ];
    for (const res of await Promise.all(calls)) assert.equal(res.status, 200);
    const after = rfetch.stats().sent;
    assert.equal(after.fetch - before.fetch, calls.length);
    assert.equal(after.fast - before.fast, 0);
  });

  it('sends a ReadableStream body (duplex: half) itself, chunked, as it is read', async () => {
    await using server = await startEcho();
    const before = rfetch.stats().sent;
    let pulls = 0;
    const stream = new ReadableStream({
      pull(c) {
        pulls++;
        if (pulls <= 3) c.enqueue(new TextEncoder().encode(`part${pulls};`));
        else c.close();
      },
    });
    const res = await rfetch(`${server.origin}/stream`, {
      method: 'POST',
      body: stream,
      duplex: 'half',
    } as RequestInit);
    assert.equal(await res.text(), 'echo POST /stream');
    const after = rfetch.stats().sent;
    assert.equal(after.fast - before.fast, 1);
    assert.equal(after.fetch - before.fetch, 0);
    const seen = server.seen.find((r) => r.url === '/stream');
    assert.equal(seen?.body, 'part1;part2;part3;');
    const names = (seen?.rawHeaders ?? []).filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.ok(names.includes('transfer-encoding') && !names.includes('content-length'));
  });

  for (const path of ['/zstd', '/gzip-then-br', '/split-coding', '/unknown-coding', '/six-codings']) {
    it(`decodes ${path.slice(1)} as Node's fetch does`, async () => {
      const native = await observe(nativeFetch, `${rawOrigin}${path}`);
      const fast = await observe(rfetch, `${rawOrigin}${path}`);
      assert.deepEqual(fast, native);
      if (path === '/zstd' || path.includes('br') || path === '/split-coding') {
        assert.equal((native as { body: unknown }).body, text);
      }
    });
  }

  it('a status above 599 resolves with that status, not ok, as fetch does', async () => {
    const native = await observe(nativeFetch, `${rawOrigin}/status-999`);
    const fast = await observe(rfetch, `${rawOrigin}/status-999`);
    assert.deepEqual(fast, native);
    assert.equal((native as { status: number }).status, 999);
  });

  it('a non-ASCII Location is read as UTF-8; a non-HTTP Location and a 3xx without Location as fetch does', async () => {
    for (const path of ['/location-utf8', '/location-ftp', '/redirect-no-location']) {
      rawSeen.length = 0;
      const native = await observe(nativeFetch, `${rawOrigin}${path}`);
      const nativeSeen = [...rawSeen];
      rawSeen.length = 0;
      const fast = await observe(rfetch, `${rawOrigin}${path}`);
      assert.deepEqual(fast, native, path);
      assert.deepEqual(rawSeen, nativeSeen, path);
    }
    assert.deepEqual(rawSeen, ['/redirect-no-location']);
  });

  it('odd redirects and reason phrases as fetch has them: repeated or padded Location, bad port, credentials, a control character', async () => {
    for (const path of [
      '/two-locations',
      '/location-trailing-space',
      '/location-bad-port',
      '/location-credentials',
      '/status-control-char',
    ]) {
      rawSeen.length = 0;
      const native = await observe(nativeFetch, `${rawOrigin}${path}`);
      const nativeSeen = [...rawSeen];
      rawSeen.length = 0;
      const before = rfetch.stats().sent.fast;
      const fast = await observe(rfetch, `${rawOrigin}${path}`);
      assert.deepEqual(fast, native, path);
      assert.deepEqual(rawSeen, nativeSeen, path);
      assert.ok(rfetch.stats().sent.fast > before, `${path} took the fast transport`);
    }
    const res = await rfetch(`${rawOrigin}/status-control-char`);
    assert.equal(res.clone().statusText, 'O\x01K', 'clone() keeps what the constructor could not take');
    await res.text();
  });

  it('reads the URL, headers and body when called: changes the caller makes afterwards are not sent', async () => {
    await using server = await startEcho();
    const run = async (f: typeof fetch) => {
      server.seen.length = 0;
      const url = new URL(`${server.origin}/before`);
      const bytes = new TextEncoder().encode('abc');
      const headers = { 'x-h': 'before' };
      const pairs: [string, string][] = [['x-p', 'before']];
      const form = new URLSearchParams({ a: '1' });
      const calls = [
        f(url, { headers }),
        f(`${server.origin}/bytes`, { method: 'POST', body: bytes, headers: pairs }),
        f(`${server.origin}/form`, { method: 'POST', body: form }),
      ];
      url.pathname = '/after';
      bytes[0] = 0x7a;
      headers['x-h'] = 'after';
      (pairs[0] as [string, string])[1] = 'after';
      form.set('a', '2');
      await Promise.all(calls.map(async (call) => (await call).text()));
      return server.seen.map((r) => ({
        url: r.url,
        body: r.body,
        h: r.rawHeaders.filter((v) => /before|after/.test(v)),
      }));
    };
    const native = await run(nativeFetch);
    assert.ok(native.some((r) => r.url === '/before'));
    assert.deepEqual(await run(rfetch), native);
  });

  it('a retried POST keeps the fast route and its bytes: URLSearchParams and bytes changed during the backoff are not resent changed', async () => {
    await using server = await startEcho();
    await using retrying = createResilientFetch({
      retry: { baseDelayMs: 50, jitter: 'none' },
      circuitBreaker: false,
    });
    const form = new URLSearchParams({ a: '1' });
    const bytes = new TextEncoder().encode('abc');
    const headers = { 'Idempotency-Key': 'k1' };
    const calls = [retrying(`${server.origin}/503-once`, { method: 'POST', body: form, headers })];
    form.set('a', '2');
    const first = await calls[0];
    assert.equal(first?.status, 200);
    await first?.text();
    assert.deepEqual(
      server.seen.map((r) => r.body),
      ['a=1', 'a=1'],
      'both attempts carry the form as it was at the call',
    );
    server.seen.length = 0;
    const second = retrying(`${server.origin}/503-once`, { method: 'PUT', body: bytes });
    bytes[0] = 0x7a;
    assert.equal((await second).status, 200);
    const bodies = server.seen.map((r) => r.body);
    assert.deepEqual(bodies, ['abc', 'abc'], 'both attempts carry the bytes of the call');
    assert.equal(retrying.stats().sent.fetch, 0, 'every attempt on the fast route');
    assert.equal(retrying.stats().sent.fast, 4, 'two calls, two attempts each');
  });

  it('a detached buffer is sent as an empty body; a method that is not a token is refused as fetch refuses it', async () => {
    await using server = await startEcho();
    const run = async (f: typeof fetch) => {
      const buffer = new ArrayBuffer(4);
      structuredClone(buffer, { transfer: [buffer] });
      const res = await f(`${server.origin}/detached`, { method: 'POST', body: buffer });
      const sent = await res.text();
      const refused = await f(`${server.origin}/m`, { method: 'po\u017ft' }).then(
        () => 'sent',
        (e: Error) => `${e.name}: ${e.message}`,
      );
      return { sent, refused, length: server.seen.at(-1)?.rawHeaders };
    };
    const native = await run(nativeFetch);
    const ours = await run(rfetch);
    assert.equal(ours.sent, native.sent);
    assert.equal(ours.refused, native.refused);
    assert.match(native.refused, /TypeError/);
  });

  it('an unread body whose Response is garbage-collected is cancelled and its connection closed, as in fetch', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let closed = false;
    await using server = await startServer((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024);
      const pump = () => {
        while (res.write(chunk)) {}
        res.once('drain', pump);
      };
      pump();
    });
    server.server.on('connection', (socket) => socket.on('close', () => (closed = true)));
    const before = rfetch.stats().sent.fast;
    // The Response is dropped unread: the endless body stalls once the buffers are full.
    await (async () => {
      await rfetch(`${server.url}/endless`);
    })();
    assert.equal(rfetch.stats().sent.fast, before + 1);
    for (let i = 0; i < 20 && !closed; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.equal(closed, true, 'the connection of the collected Response was closed');
  });

  it('a long-lived caller signal does not keep finished calls (and their bodies) alive', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await using server = await startEcho();
    const signal = new AbortController().signal; // never aborted, lives for the whole test
    const collected = { count: 0 };
    const registry = new FinalizationRegistry(() => collected.count++);
    for (let i = 0; i < 50; i++) {
      const res = await rfetch(`${server.origin}/${i}`, {
        signal,
        method: 'POST',
        body: 'x'.repeat(10_000),
      });
      registry.register(res, i);
      await res.text();
    }
    for (let i = 0; i < 10 && collected.count < 45; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(collected.count >= 45, `${collected.count} of 50 finished responses were collected`);
  });

  it('a signal shared by many calls carries one listener of ours, however many calls used it', async () => {
    await using server = await startEcho();
    const controller = new AbortController(); // an app-wide signal, never aborted during the calls
    for (let i = 0; i < 200; i++) {
      const res = await rfetch(`${server.origin}/${i}`, { signal: controller.signal });
      await res.text();
    }
    // One (none once the finished bodies are collected): Node's EventTarget walks every listener on
    // each add and remove, so one per call would make each call slower than the last.
    const listeners = getEventListeners(controller.signal, 'abort').length;
    assert.ok(listeners <= 1, `${listeners} abort listeners after 200 calls`);
    // Still an abort for a body that arrived but was not read yet (as in fetch).
    const unread = await rfetch(`${server.origin}/unread`, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 50)); // the whole body has arrived
    const reason = new Error('shutting down');
    controller.abort(reason);
    await assert.rejects(unread.text(), (error: unknown) => error === reason);
  });

  it('an unread body stays abortable while other calls on its signal come and go', async () => {
    await using server = await startEcho();
    const controller = new AbortController();
    const unread = await rfetch(`${server.origin}/unread`, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 50)); // its whole body has arrived
    // Calls that end with nothing to watch (no body; a body read to its end) on the same signal.
    await rfetch(`${server.origin}/head`, { signal: controller.signal, method: 'HEAD' });
    await (await rfetch(`${server.origin}/read`, { signal: controller.signal })).text();
    const reason = new Error('late');
    controller.abort(reason);
    await assert.rejects(unread.text(), (error: unknown) => error === reason);
  });

  it('per-call composite signals (AbortSignal.any) are released after their calls', async () => {
    // Node keeps a composite or timeout signal alive while it has an abort listener: a listener of ours
    // left on it would keep every call's signal (and what hangs on it) for as long as its sources live.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    await using server = await startEcho();
    const shutdown = new AbortController(); // lives for the whole test
    const collected = { count: 0 };
    const registry = new FinalizationRegistry(() => collected.count++);
    for (let i = 0; i < 50; i++) {
      const signal = AbortSignal.any([shutdown.signal, new AbortController().signal]);
      registry.register(signal, i);
      const res = await rfetch(`${server.origin}/${i}`, { signal });
      await res.text();
    }
    for (let i = 0; i < 20 && collected.count < 45; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.ok(collected.count >= 45, `${collected.count} of 50 per-call signals were collected`);
  });

  it('attempts ended by attemptMs leave nothing on a long-lived caller signal', async () => {
    await using hang = await startServer(() => {}); // never answers
    const timed = createResilientFetch({ retry: false, circuitBreaker: false, timeout: { attemptMs: 20 } });
    try {
      const signal = new AbortController().signal;
      const url = `${hang.url}/`;
      for (let i = 0; i < 20; i++) {
        await assert.rejects(timed(url, { signal, method: 'PUT', body: 'x'.repeat(1_000) }), {
          name: 'TimeoutError',
        });
      }
      assert.equal(timed.stats().sent.fast, 20);
      // Nothing is watched once the attempts have ended; before, each timed-out exchange stayed
      // listening (with its request body).
      assert.equal(getEventListeners(signal, 'abort').length, 0);
    } finally {
      await timed.destroy();
    }
  });

  it('clone() keeps url, redirected and type; the prototype is the global Response', async () => {
    await using server = await startEcho();
    const res = await rfetch(`${server.origin}/redirect-once`);
    const copy = res.clone();
    for (const r of [res, copy]) {
      assert.equal(Object.getPrototypeOf(r), Response.prototype);
      assert.equal(r.url, `${server.origin}/target`);
      assert.equal(r.redirected, true);
      assert.equal(r.type, 'basic');
    }
    assert.equal(await copy.text(), await res.text());
  });

  it('a large body is pulled as it is read: the server is held back while the reader waits', async () => {
    const size = 64 * 1024 * 1024;
    let written = 0;
    let blocked = false;
    await using server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      const chunk = Buffer.alloc(64 * 1024, 1);
      const pump = () => {
        while (written < size) {
          written += chunk.length;
          if (!res.write(chunk)) {
            blocked = true;
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    const res = await rfetch(`${server.url}/big`);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    await reader.read();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Socket buffers on both sides hold a few MiB at most; the rest waits for the reader.
    assert.equal(blocked, true);
    assert.ok(written < size / 2, `server wrote ${written} of ${size} bytes while the reader waited`);
    let total = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
    }
    assert.ok(total > size / 2);
  });

  it('an abort while the body streams errors the body with the reason and closes that connection', async () => {
    await using server = await startEcho();
    const controller = new AbortController();
    const res = await rfetch(`${server.origin}/hang-body`, { signal: controller.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), 'partial');
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(reader.read(), (error) => error === reason);
    await server.waitForClosedSockets(1);
  });

  it('an abort after the body arrived but before it was read errors it, as fetch does; after reading, nothing', async () => {
    await using server = await startEcho();
    const observe = async (f: typeof fetch) => {
      const controller = new AbortController();
      const res = await f(`${server.origin}/small`, { signal: controller.signal });
      await new Promise((resolve) => setTimeout(resolve, 50)); // the whole body has arrived
      controller.abort(new Error('late'));
      const unread = await res.text().then(
        (text) => ({ text }),
        (error: Error) => ({ error: error.message }),
      );
      const read = new AbortController();
      const res2 = await f(`${server.origin}/small`, { signal: read.signal });
      const text = await res2.text();
      read.abort(new Error('after'));
      return { unread, text };
    };
    const native = await observe(nativeFetch);
    assert.deepEqual(native, { unread: { error: 'late' }, text: 'echo GET /small' });
    assert.deepEqual(await observe(rfetch), native);
  });

  it('a fully read body leaves its connection for the next call; cancelling the body closes it', async () => {
    await using server = await startEcho();
    for (let i = 0; i < 6; i++) await (await rfetch(`${server.origin}/${i}`)).text();
    // Read bodies give their sockets back: six calls in a row share at most two sockets (Node's fetch
    // also opens a second one, as the first is freed just after its body ends), and none is closed.
    assert.ok(server.sockets.size <= 2, `${server.sockets.size} sockets for 6 sequential calls`);
    assert.equal(server.closedSockets(), 0);
    const res = await rfetch(`${server.origin}/hang-body`);
    await res.body?.cancel();
    await server.waitForClosedSockets(1);
  });
});

interface EchoServer {
  readonly origin: string;
  readonly seen: Array<{ url: string; rawHeaders: string[]; body: string }>;
  readonly sockets: Set<Socket>;
  waitForClosedSockets(count: number): Promise<void>;
  closedSockets(): number;
  close(): Promise<void>;
  /** close(), for `await using server = await startEcho()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** An HTTP server that echoes, redirects `/redirect-once` to `/target`, and half-answers `/hang-body`. */
async function startEcho(): Promise<EchoServer> {
  const seen: EchoServer['seen'] = [];
  const sockets = new Set<Socket>();
  let closed = 0;
  const server: Server = createHttpServer((req, res) => {
    const seenRequest = { url: req.url ?? '', rawHeaders: req.rawHeaders, body: '' };
    seen.push(seenRequest);
    req.setEncoding('latin1');
    req.on('data', (chunk: string) => {
      seenRequest.body += chunk;
    });
    if (req.url === '/503-once' && seen.filter((r) => r.url === '/503-once').length === 1) {
      req.on('end', () => res.writeHead(503, { 'retry-after': '0' }).end('busy'));
    } else if (req.url === '/redirect-once') {
      res.writeHead(302, { location: '/target', 'content-length': '0' }).end();
    } else if (req.url === '/hang-body') {
      res.writeHead(200, { 'content-length': '100' });
      res.write('partial');
    } else {
      req.on('end', () => res.end(`echo ${req.method} ${req.url}`));
    }
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => closed++);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    server.close();
    await once(server, 'close');
  };
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    sockets,
    closedSockets: () => closed,
    async waitForClosedSockets(count) {
      const until = Date.now() + 2000;
      while (closed < count) {
        if (Date.now() > until) throw new Error(`expected ${count} closed sockets, saw ${closed}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close,
    // An arrow, not close.bind(): Node 24's `await using` refuses a bound function as the disposer.
    [Symbol.asyncDispose]: () => close(),
  };
}
