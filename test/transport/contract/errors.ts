/** Contract cases: requests fetch refuses and network failures, as a rejection describes them. */
import assert from 'node:assert/strict';
import {
  type Case,
  closedPort,
  defineCase,
  describeError,
  type ErrorObservation,
  expectRejection,
  headerOf,
  pairs,
  seenBy,
  server,
  tls,
} from '../../helpers/contract.ts';
import { settle } from '../../helpers/settle.ts';

export const errorCases: Case[] = [
  defineCase(
    'headers the HTTP/1.1 client polices (expect, keep-alive, transfer-encoding, upgrade, content-length, connection)',
    async (f, base) => {
      const call = (headers: Record<string, string>, init: RequestInit = {}) =>
        settle(f(`${base}/echo`, { ...init, headers })).then(async (out) =>
          out.status === 'fulfilled'
            ? { status: out.value.status, text: await out.value.text() }
            : describeError(out.reason),
        );
      const post = { method: 'POST', body: 'x' };
      return {
        expect: await call({ expect: '100-continue' }, post),
        keepAlive: await call({ 'keep-alive': 'timeout=5' }),
        transferEncoding: await call({ 'transfer-encoding': 'chunked' }, post),
        upgrade: await call({ upgrade: 'websocket' }),
        contentLengthTooLong: await call({ 'content-length': '10' }, post),
        // A caller's `connection: close` is sent and honoured; `host` cannot be overridden.
        connectionClose: await call({ connection: 'close', host: 'example.test' }),
        connectionCloseSeen: server
          .seen(base)
          .filter((r) => r.method === 'GET')
          .map((r) => [headerOf(pairs(r.rawHeaders), 'connection'), headerOf(pairs(r.rawHeaders), 'host')]),
      };
    },
    (o) => {
      const cause = (x: unknown) => (x as ErrorObservation).cause?.code;
      assert.equal(cause(o.expect), 'UND_ERR_NOT_SUPPORTED');
      assert.equal(cause(o.keepAlive), 'UND_ERR_INVALID_ARG');
      assert.equal(cause(o.transferEncoding), 'UND_ERR_INVALID_ARG');
      assert.equal(cause(o.upgrade), 'UND_ERR_INVALID_ARG');
      assert.equal(cause(o.contentLengthTooLong), 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
      assert.deepEqual(o.connectionClose, { status: 200, text: 'echo:GET /echo' });
      assert.deepEqual(o.connectionCloseSeen, [['close', '<host>']]);
    },
  ),
  defineCase(
    'error: connection refused is TypeError "fetch failed" with cause ECONNREFUSED',
    (f) => expectRejection(() => f(`http://127.0.0.1:${closedPort}/`)),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.equal(o.error?.cause?.code, 'ECONNREFUSED');
    },
  ),
  defineCase(
    'error: TLS with a self-signed certificate is refused before any request is sent',
    async (f) => {
      const before = tls.requests();
      return { ...(await expectRejection(() => f(`${tls.origin}/`))), requests: tls.requests() - before };
    },
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.match(String(o.error?.cause?.code), /SELF_SIGNED/);
      assert.equal(o.requests, 0);
    },
  ),
  defineCase(
    'error: https: URL to a plain-HTTP server',
    (f) => expectRejection(() => f(`https://127.0.0.1:${server.port}/echo`)),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.ok(o.error?.cause, 'the TLS failure is the cause');
    },
  ),
  defineCase(
    'error: socket destroyed before the response headers',
    async (f, base) => ({
      ...(await expectRejection(() => f(`${base}/destroy-before-headers`))),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.equal(o.error?.cause?.code, 'UND_ERR_SOCKET');
      assert.equal(o.seen, 1);
    },
  ),
  defineCase(
    'error: socket destroyed mid-body (the body read rejects)',
    async (f, base) => {
      const res = await f(`${base}/destroy-mid-body`);
      const read = await settle(res.text());
      return {
        status: res.status,
        read: read.status === 'fulfilled' ? { text: read.value } : describeError(read.reason),
      };
    },
    (o) => {
      assert.equal(o.status, 200);
      const error = o.read as ErrorObservation;
      assert.equal(error.className, 'TypeError');
      assert.equal(error.message, 'terminated');
      assert.equal(error.cause?.code, 'UND_ERR_SOCKET');
    },
  ),
  defineCase(
    'error: invalid and relative URLs',
    async (f) => ({
      invalid: await expectRejection(() => f('not a url')),
      relative: await expectRejection(() => f('/relative/path')),
      empty: await expectRejection(() => f('')),
    }),
    (o) => {
      assert.equal(o.invalid.returnedPromise, true);
      assert.equal(o.invalid.error?.className, 'TypeError');
      assert.equal(o.invalid.error?.message, 'Failed to parse URL from not a url');
      assert.equal(o.invalid.error?.cause?.code, 'ERR_INVALID_URL');
      assert.equal(o.relative.error?.className, 'TypeError');
    },
  ),
  defineCase(
    'error: unsupported schemes (ftp:, file:, ws:)',
    async (f) => ({
      ftp: await expectRejection(() => f('ftp://127.0.0.1/file')),
      file: await expectRejection(() => f('file:///etc/hostname')),
      ws: await expectRejection(() => f('ws://127.0.0.1/')),
    }),
    (o) => {
      assert.equal(o.ftp.error?.className, 'TypeError');
      assert.equal(o.ftp.error?.message, 'fetch failed');
      assert.equal(o.file.error?.className, 'TypeError');
      assert.equal(o.ws.error?.className, 'TypeError');
    },
  ),
  defineCase(
    'error: URL with credentials',
    async (f, base) => ({
      ...(await expectRejection(() => f(`${base.replace('http://', 'http://user:pass@')}/echo`))),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.match(String(o.error?.message), /includes credentials/);
      assert.equal(o.seen, 0);
    },
  ),
  defineCase(
    'error: invalid and forbidden methods',
    async (f, base) => ({
      invalid: await expectRejection(() => f(`${base}/echo`, { method: 'GE T' })),
      connect: await expectRejection(() => f(`${base}/echo`, { method: 'CONNECT' })),
      trace: await expectRejection(() => f(`${base}/echo`, { method: 'trace' })),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.invalid.error?.className, 'TypeError');
      assert.match(String(o.invalid.error?.message), /GE T/);
      assert.equal(o.connect.error?.className, 'TypeError');
      assert.equal(o.trace.error?.className, 'TypeError');
      assert.equal(o.seen, 0);
    },
  ),
  defineCase(
    'error: invalid header name and value',
    async (f, base) => ({
      name: await expectRejection(() => f(`${base}/echo`, { headers: { 'bad name': 'x' } })),
      value: await expectRejection(() => f(`${base}/echo`, { headers: { 'x-ok': 'a\nb' } })),
      pair: await expectRejection(() =>
        f(`${base}/echo`, { headers: [['only-name']] as unknown as Headers }),
      ),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.name.error?.className, 'TypeError');
      assert.match(String(o.name.error?.message), /invalid header name/);
      assert.equal(o.value.error?.className, 'TypeError');
      assert.match(String(o.value.error?.message), /invalid header value/);
      assert.equal(o.pair.error?.className, 'TypeError');
      assert.equal(o.seen, 0);
    },
  ),
  defineCase(
    'error: zero arguments',
    (f) => expectRejection(() => (f as unknown as () => Promise<Response>)()),
    (o) => {
      assert.equal(o.returnedPromise, true);
      assert.equal(o.error?.className, 'TypeError');
      // Node's global fetch is a two-parameter wrapper: f() reads as f(undefined).
      assert.equal(o.error?.message, 'Failed to parse URL from undefined');
    },
  ),
  defineCase(
    'error: non-object init (number, string, boolean)',
    async (f, base) => {
      const call = (init: unknown) => () => f(`${base}/echo`, init as RequestInit);
      return {
        number: await expectRejection(call(5)),
        string: await expectRejection(call('GET')),
        boolean: await expectRejection(call(true)),
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.number.error?.className, 'TypeError');
      assert.equal(o.string.error?.className, 'TypeError');
      assert.equal(o.boolean.error?.className, 'TypeError');
      assert.equal(o.seen, 0);
    },
  ),
];
