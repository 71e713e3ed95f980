/**
 * The drop-in contract: code written for Node's global fetch works unchanged with resilientFetch.
 *
 * Every case below is one function `(f, base) => observation` run twice, once with the native fetch
 * (captured at import) and once with `createResilientFetch()`, against the same real server. The two
 * observations (plain JSON-able values) must be deeply equal once the values that legitimately differ
 * between two runs are normalised (the port, the per-run path prefix, a multipart boundary, a blob: URL's
 * uuid, the Date header). Each case also asserts what native fetch did, so it cannot pass vacuously.
 *
 * Run: node --test test/transport/contract.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Agent, type Dispatcher, Dispatcher1Wrapper, setGlobalDispatcher } from 'undici';
import { createResilientFetch, type ResilientFetch } from '../../src/index.ts';
import {
  bigByte,
  bigSize,
  type ContractServer,
  encodedText,
  type RawResponseKind,
  startContractServer,
  startTlsServer,
  type TlsServer,
} from '../helpers/contract-server.ts';
import { sha256 } from '../helpers/fault-server.ts';
import { freePort, sleep } from '../helpers/server.ts';
import { settle } from '../helpers/settle.ts';

const nativeFetch: typeof fetch = globalThis.fetch;

let server: ContractServer;
/** A second origin (another port), for cross-origin redirects. */
let other: ContractServer;
/** An HTTPS server whose certificate is self-signed. */
let tls: TlsServer;
let rfetch: ResilientFetch;
/** A port nothing listens on (bound once, then closed). */
let closedPort: number;

// ---------------------------------------------------------------------------------------------------
// Observation helpers: everything a case returns is plain data.

type Run<T> = (f: typeof fetch, base: string) => Promise<T>;

interface Case {
  readonly name: string;
  readonly run: Run<unknown>;
  readonly check: (native: never) => void;
  readonly todo?: string;
}

/** One row of the table. `check` receives the (normalised) native observation. */
function defineCase<T>(name: string, run: Run<T>, check: (native: T) => void, todo?: string): Case {
  return todo === undefined ? { name, run, check } : { name, run, check, todo };
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string): Uint8Array => encoder.encode(text);

interface ErrorObservation {
  readonly kind: string;
  readonly value?: string;
  readonly className?: string;
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly syscall?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly ownKeys?: string[];
  readonly isError?: boolean;
  readonly isTypeError?: boolean;
  readonly isDOMException?: boolean;
  readonly cause?: ErrorObservation | null;
}

/** What code written for fetch can see of a rejection: class, name, message, code and cause chain. */
function describeError(error: unknown, depth = 0): ErrorObservation {
  if (typeof error !== 'object' || error === null) return { kind: typeof error, value: String(error) };
  const e = error as Record<string, unknown>;
  const pick = (key: string) => (key in e ? { [key]: e[key] } : {});
  return {
    kind: 'object',
    className: (error as { constructor?: { name?: string } }).constructor?.name ?? '(none)',
    name: e.name,
    message: e.message,
    ...pick('code'),
    ...pick('errno'),
    ...pick('syscall'),
    ...pick('address'),
    ...pick('port'),
    ownKeys: Object.keys(e).sort(),
    isError: error instanceof Error,
    isTypeError: error instanceof TypeError,
    isDOMException: error instanceof DOMException,
    cause: 'cause' in e && depth < 3 ? describeError(e.cause, depth + 1) : null,
  };
}

/** How a call that must fail failed (or, if it did not, the status it resolved with). */
async function rejection(
  promise: Promise<Response>,
): Promise<{ rejected: boolean; error: ErrorObservation }> {
  const out = await settle(promise);
  if (out.status === 'fulfilled') {
    await out.value.body?.cancel();
    return { rejected: false, error: { kind: 'resolved', value: String(out.value.status) } };
  }
  return { rejected: true, error: describeError(out.reason) };
}

/** A synchronous throw would break `.then()` chains written for fetch, so it is recorded apart. */
function callShape(call: () => Promise<Response>): Promise<Response> | { thrown: unknown } {
  try {
    return call();
  } catch (thrown) {
    return { thrown };
  }
}

async function expectRejection(call: () => Promise<Response>) {
  const returned = callShape(call);
  if (!(returned instanceof Promise)) {
    return { returnedPromise: false, rejected: true, error: describeError(returned.thrown) };
  }
  return { returnedPromise: true, ...(await rejection(returned)) };
}

/** The response as code can see it, without the body. */
function describeResponse(res: Response) {
  return {
    isResponse: res instanceof Response,
    protoIsResponse: Object.getPrototypeOf(res) === Response.prototype,
    headersIsHeaders: res.headers instanceof Headers,
    bodyIsNull: res.body === null,
    bodyIsReadableStream: res.body instanceof ReadableStream,
    status: res.status,
    statusText: res.statusText,
    ok: res.ok,
    url: res.url,
    redirected: res.redirected,
    type: res.type,
    // `date` is the only header whose value legitimately differs between two runs.
    headers: [...res.headers].filter(([name]) => name !== 'date'),
  };
}

/** What the server received under `base`, one entry per request. */
function seenBy(base: string) {
  return server.seen(base).map((r) => ({
    method: r.method,
    url: r.url,
    headers: pairs(r.rawHeaders),
    body: r.body.toString('latin1'),
    bodyComplete: r.complete,
  }));
}

function pairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

const headerOf = (headers: Array<[string, string]> | undefined, name: string): string | undefined =>
  headers?.find(([n]) => n.toLowerCase() === name)?.[1];

function getReader(res: Response): ReadableStreamDefaultReader<Uint8Array> {
  if (!res.body) throw new Error('response has no body');
  return res.body.getReader();
}

/** Reads until the decoded text contains `marker` (or the stream ends). */
async function readUntil(reader: ReadableStreamDefaultReader<Uint8Array>, marker: string): Promise<string> {
  let text = '';
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

/**
 * Replaces what differs legitimately between the native and the resilientFetch run (the server's
 * host:port and the run prefix `/r/<n>`) and checks the observation is plain data.
 */
function normalise(value: unknown, base: string): unknown {
  const run = /\/r\/(\d+)$/.exec(base)?.[1] ?? '';
  const runPattern = new RegExp(`/r/${run}(?=[/?#]|$)`, 'g');
  const hostPort = `127.0.0.1:${server.port}`;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      return v
        .split(hostPort)
        .join('<host>')
        .split(`127.0.0.1:${other.port}`)
        .join('<other-host>')
        .replace(runPattern, '/r/<run>');
    }
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(walk);
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`observation holds a non-plain object (${proto?.constructor?.name}): return data`);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value);
}

// ---------------------------------------------------------------------------------------------------
// Shared case shapes.

/** Sends `init` to /echo and returns the response, its text and what the server received. */
async function echo(f: typeof fetch, base: string, init?: RequestInit, path = '/echo') {
  const res = await f(`${base}${path}`, init);
  const text = await res.text();
  return { response: describeResponse(res), text, seen: seenBy(base) };
}

type EchoObservation = Awaited<ReturnType<typeof echo>>;

/** The one request the server saw, with header lookup by lower-case name. */
function onlyRequest(o: EchoObservation) {
  assert.equal(o.seen.length, 1, 'the server saw exactly one request');
  const request = o.seen[0];
  assert.ok(request);
  return { ...request, header: (name: string) => headerOf(request.headers, name) };
}

/** Replaces the multipart boundary (random per request) wherever it appears. */
function withoutBoundary<T>(observation: T, contentType: string | undefined): T {
  const boundary = /boundary=(.+)$/.exec(contentType ?? '')?.[1];
  if (!boundary) return observation;
  return JSON.parse(JSON.stringify(observation).split(boundary).join('<boundary>')) as T;
}

// ---------------------------------------------------------------------------------------------------
// The table.

const inputCases: Case[] = [
  defineCase(
    'input: string URL (query kept, fragment not sent)',
    (f, base) => echo(f, base, undefined, '/echo?q=1&x=%20y#frag'),
    (o) => {
      assert.equal(onlyRequest(o).url, '/echo?q=1&x=%20y');
      assert.equal(o.response.url, 'http://<host>/r/<run>/echo?q=1&x=%20y');
      assert.equal(o.text, 'echo:GET /echo?q=1&x=%20y');
    },
  ),
  defineCase(
    'input: URL object',
    async (f, base) => {
      const url = new URL(`${base}/echo?via=url`);
      const res = await f(url);
      return { response: describeResponse(res), text: await res.text(), seen: seenBy(base), href: url.href };
    },
    (o) => {
      assert.equal(o.text, 'echo:GET /echo?via=url');
      assert.equal(o.response.url, o.href);
    },
  ),
  defineCase(
    'input: global Request with method, headers and body',
    async (f, base) => {
      const request = new Request(`${base}/echo`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-Req': 'yes' },
        body: '{"a":1}',
      });
      const bodyUsedBefore = request.bodyUsed;
      const res = await f(request);
      return {
        response: describeResponse(res),
        text: await res.text(),
        seen: seenBy(base),
        bodyUsedBefore,
        bodyUsedAfter: request.bodyUsed,
        requestMethodAfter: request.method,
        requestHeadersAfter: [...request.headers],
      };
    },
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.method, 'PUT');
      assert.equal(r.body, '{"a":1}');
      assert.equal(r.header('x-req'), 'yes');
      assert.equal(r.header('content-type'), 'application/json');
      assert.equal(o.bodyUsedBefore, false);
      assert.equal(o.bodyUsedAfter, true, 'native fetch consumes the Request body');
    },
  ),
  defineCase(
    'input: Request plus an init that overrides method and headers',
    async (f, base) => {
      const request = new Request(`${base}/echo`, {
        method: 'POST',
        headers: { 'x-from': 'request', 'x-only-request': '1' },
        body: 'from-request',
      });
      const res = await f(request, { method: 'PUT', headers: { 'x-from': 'init' } });
      return {
        response: describeResponse(res),
        text: await res.text(),
        seen: seenBy(base),
        bodyUsedAfter: request.bodyUsed,
        requestMethodAfter: request.method,
        requestHeadersAfter: [...request.headers],
      };
    },
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.method, 'PUT');
      assert.equal(r.body, 'from-request');
      assert.equal(r.header('x-from'), 'init');
      assert.equal(r.header('x-only-request'), undefined, 'init headers replace the Request headers');
      assert.equal(o.requestMethodAfter, 'POST');
      assert.deepEqual(o.requestHeadersAfter, [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-from', 'request'],
        ['x-only-request', '1'],
      ]);
    },
  ),
  defineCase(
    'input: a Request passed as the init (fetch(url, request))',
    async (f, base) => {
      const template = new Request(`${base}/ignored`, {
        method: 'PUT',
        headers: { 'x-template': 'yes' },
        body: 'template-body',
      });
      const out = await settle(f(`${base}/echo`, template));
      if (out.status === 'rejected') return { error: describeError(out.reason), seen: seenBy(base) };
      return {
        response: describeResponse(out.value),
        text: await out.value.text(),
        seen: seenBy(base),
        templateBodyUsed: template.bodyUsed,
      };
    },
    (o) => {
      assert.ok('response' in o, 'native fetch accepts a Request as init');
      assert.equal(o.seen.length, 1);
      assert.equal(o.seen[0]?.url, '/echo');
      assert.equal(o.seen[0]?.method, 'PUT');
      assert.equal(o.seen[0]?.body, 'template-body');
      assert.equal(headerOf(o.seen[0]?.headers, 'x-template'), 'yes');
    },
  ),
  defineCase(
    'input: init undefined, null and empty object',
    async (f, base) => {
      const url = `${base}/echo`;
      const out = [];
      for (const init of [undefined, null, {}]) {
        const res = await f(url, init as RequestInit);
        out.push({ status: res.status, text: await res.text() });
      }
      return { out, count: seenBy(base).length };
    },
    (o) => {
      assert.equal(o.count, 3);
      assert.ok(o.out.every((r) => r.status === 200 && r.text === 'echo:GET /echo'));
    },
  ),
  defineCase(
    'headers: a Headers instance (casing, trimming, appended duplicates)',
    (f, base) => {
      const headers = new Headers([['X-Mixed-Case', '  padded value  ']]);
      headers.append('x-dup', 'one');
      headers.append('X-Dup', 'two');
      return echo(f, base, { headers });
    },
    (o) => {
      const r = onlyRequest(o);
      // The casing a header was first given with reaches the wire; values are trimmed and combined.
      assert.ok(r.headers.some(([n, v]) => n === 'X-Mixed-Case' && v === 'padded value'));
      assert.ok(r.headers.some(([n, v]) => n === 'x-dup' && v === 'one, two'));
    },
  ),
  defineCase(
    'headers: an array of pairs',
    (f, base) =>
      echo(f, base, {
        headers: [
          ['X-Pair', 'a'],
          ['x-pair', 'b'],
          ['Accept', 'application/json'],
        ],
      }),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('x-pair'), 'a, b');
      assert.equal(r.header('accept'), 'application/json');
    },
  ),
  defineCase(
    'headers: a record, overriding the default user-agent, accept-encoding and accept-language',
    (f, base) =>
      echo(f, base, {
        headers: {
          'X-Record': 'r',
          'User-Agent': 'contract-test/1.0',
          'Accept-Encoding': 'identity',
          'Accept-Language': 'fr',
        },
      }),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('x-record'), 'r');
      assert.equal(r.header('user-agent'), 'contract-test/1.0');
      assert.equal(r.header('accept-encoding'), 'identity');
      assert.equal(r.header('accept-language'), 'fr');
    },
  ),
  defineCase(
    "the caller's init object, its Headers and its body are not mutated",
    async (f, base) => {
      const headers = new Headers({ 'x-a': '1' });
      const body = new Uint8Array([1, 2, 3]);
      const init: RequestInit = { method: 'post', headers, body, redirect: 'follow' };
      const snapshot = () => ({
        keys: Object.keys(init),
        method: init.method,
        sameHeaders: init.headers === headers,
        headerEntries: [...headers],
        sameBody: init.body === body,
        bodyBytes: [...body],
        bodyByteLength: body.byteLength,
        redirect: init.redirect,
      });
      const before = snapshot();
      const first = await echo(f, base, init);
      const afterFirst = snapshot();
      // The same init works a second time, and a frozen init works at all.
      const second = await echo(f, base, init);
      const frozen = await echo(f, base, Object.freeze({ method: 'PUT', body: 'frozen' }));
      return { before, afterFirst, afterSecond: snapshot(), first, second: second.text, frozen: frozen.text };
    },
    (o) => {
      assert.deepEqual(o.afterFirst, o.before);
      assert.deepEqual(o.afterSecond, o.before);
      const r = onlyRequest(o.first);
      assert.equal(r.method, 'POST');
      assert.equal(r.body, '\x01\x02\x03');
      assert.equal(o.second, 'echo:POST /echo');
      assert.equal(o.frozen, 'echo:PUT /echo');
    },
  ),
];

/** A body case: POST `body` to /echo and look at the bytes and headers the server received. */
function bodyCase(
  name: string,
  makeBody: () => NonNullable<RequestInit['body']>,
  expected: { body: string; contentType: string | undefined; contentLength?: string },
): Case {
  return defineCase(
    name,
    async (f, base) => {
      const o = await echo(f, base, { method: 'POST', body: makeBody() });
      const received = server.seen(base)[0]?.body;
      return { ...o, sha256: received ? sha256(received) : null };
    },
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.body, expected.body);
      assert.equal(r.header('content-type'), expected.contentType);
      if (expected.contentLength) assert.equal(r.header('content-length'), expected.contentLength);
      assert.equal(r.bodyComplete, true);
    },
  );
}

const bodyCases: Case[] = [
  bodyCase('body: string', () => 'héllo', {
    body: Buffer.from('héllo').toString('latin1'),
    contentType: 'text/plain;charset=UTF-8',
    contentLength: '6',
  }),
  bodyCase('body: ArrayBuffer', () => new Uint8Array([0, 1, 2, 255]).buffer, {
    body: '\x00\x01\x02\xff',
    contentType: undefined,
    contentLength: '4',
  }),
  bodyCase(
    'body: Uint8Array view into a larger buffer (only the view is sent)',
    () => bytes('xxABCxx').subarray(2, 5),
    {
      body: 'ABC',
      contentType: undefined,
      contentLength: '3',
    },
  ),
  bodyCase('body: DataView over part of a buffer', () => new DataView(bytes('--data-view--').buffer, 2, 9), {
    body: 'data-view',
    contentType: undefined,
    contentLength: '9',
  }),
  bodyCase(
    'body: Blob (content-type from the blob type)',
    () => new Blob(['blob-data'], { type: 'application/x-thing' }),
    {
      body: 'blob-data',
      contentType: 'application/x-thing',
      contentLength: '9',
    },
  ),
  bodyCase('body: URLSearchParams', () => new URLSearchParams({ a: '1', b: 'x y&z' }), {
    body: 'a=1&b=x+y%26z',
    contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
  }),
  defineCase(
    'body: global FormData with a text field, a File and a Blob (real multipart)',
    async (f, base) => {
      const form = new FormData();
      form.append('field', 'value é');
      form.append('upload', new File(['file-content'], 'notes.txt', { type: 'text/plain' }));
      form.append('blob', new Blob([new Uint8Array([0, 1, 2])], { type: 'application/octet-stream' }));
      const o = await echo(f, base, { method: 'POST', body: form });
      const raw = server.seen(base)[0]?.body ?? Buffer.alloc(0);
      const contentType = headerOf(o.seen[0]?.headers, 'content-type');
      // The server parses the multipart body it received.
      const parsed = await new Response(new Uint8Array(raw), {
        headers: { 'content-type': contentType ?? '' },
      }).formData();
      const fields = [];
      for (const [name, value] of parsed) {
        fields.push(
          typeof value === 'string'
            ? { name, value }
            : {
                name,
                filename: value.name,
                type: value.type,
                bytes: [...new Uint8Array(await value.arrayBuffer())],
              },
        );
      }
      return withoutBoundary({ ...o, fields }, contentType);
    },
    (o) => {
      const r = onlyRequest(o);
      assert.match(r.header('content-type') ?? '', /^multipart\/form-data; boundary=<boundary>$/);
      assert.deepEqual(o.fields, [
        { name: 'field', value: 'value é' },
        { name: 'upload', filename: 'notes.txt', type: 'text/plain', bytes: [...bytes('file-content')] },
        { name: 'blob', filename: 'blob', type: 'application/octet-stream', bytes: [0, 1, 2] },
      ]);
    },
  ),
  defineCase(
    "body: ReadableStream with duplex 'half' is streamed (first chunk arrives before the last is enqueued)",
    async (f, base) => {
      let controller: ReadableStreamDefaultController<Uint8Array> | undefined;
      const body = new ReadableStream<Uint8Array>({
        start(c) {
          controller = c;
          c.enqueue(bytes('first,'));
        },
      });
      const pending = f(`${base}/echo`, { method: 'POST', body, duplex: 'half' });
      const firstArrivedBeforeLast = await server.waitForBody(base, 6, 2000);
      controller?.enqueue(bytes('second,'));
      await sleep(5);
      controller?.enqueue(bytes('last'));
      controller?.close();
      const res = await pending;
      return {
        firstArrivedBeforeLast,
        response: describeResponse(res),
        text: await res.text(),
        seen: seenBy(base),
      };
    },
    (o) => {
      assert.equal(o.firstArrivedBeforeLast, true);
      const r = onlyRequest(o);
      assert.equal(r.body, 'first,second,last');
      assert.equal(r.header('transfer-encoding'), 'chunked');
    },
  ),
  defineCase(
    "body: async generator with duplex 'half'",
    async (f, base) => {
      async function* generate() {
        yield bytes('gen-1;');
        await sleep(5);
        yield bytes('gen-2');
      }
      return echo(f, base, { method: 'POST', body: generate(), duplex: 'half' });
    },
    (o) => assert.equal(onlyRequest(o).body, 'gen-1;gen-2'),
  ),
  defineCase(
    'body: ReadableStream without duplex rejects as native does',
    async (f, base) => {
      const body = new ReadableStream({
        start(c) {
          c.enqueue(bytes('x'));
          c.close();
        },
      });
      return {
        ...(await expectRejection(() => f(`${base}/echo`, { method: 'POST', body }))),
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.rejected, true);
      assert.equal(o.returnedPromise, true);
      assert.equal(o.error?.className, 'TypeError');
      assert.match(String(o.error?.message), /duplex/);
      assert.equal(o.seen, 0);
    },
  ),
  defineCase(
    'body: GET and HEAD with a body reject as native does',
    async (f, base) => ({
      get: await expectRejection(() => f(`${base}/echo`, { body: 'x' })),
      head: await expectRejection(() => f(`${base}/echo`, { method: 'HEAD', body: 'x' })),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.get.error?.className, 'TypeError');
      assert.match(String(o.get.error?.message), /GET\/HEAD method cannot have body/);
      assert.equal(o.head.error?.className, 'TypeError');
      assert.equal(o.seen, 0);
    },
  ),
  defineCase(
    'body: a Request whose body was already read rejects as native does',
    async (f, base) => {
      const request = new Request(`${base}/echo`, { method: 'POST', body: 'once' });
      await request.text();
      return { ...(await expectRejection(() => f(request))), seen: seenBy(base).length };
    },
    (o) => {
      assert.equal(o.rejected, true);
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.seen, 0);
    },
  ),
];

function decompressionCase(enc: 'gzip' | 'br' | 'deflate'): Case {
  return defineCase(
    `response: ${enc}-encoded body is decompressed`,
    (f, base) => echo(f, base, undefined, `/encoded?enc=${enc}`),
    (o) => {
      assert.equal(o.text, encodedText);
      assert.equal(o.response.headers.find(([n]) => n === 'content-encoding')?.[1], enc);
      // Node's fetch decodes br although it does not advertise it.
      assert.equal(headerOf(o.seen[0]?.headers, 'accept-encoding'), 'gzip, deflate');
    },
  );
}

const responseCases: Case[] = [
  defineCase(
    'response: global Response, Headers and ReadableStream instances; bodyUsed after text()',
    async (f, base) => {
      const res = await f(`${base}/echo`);
      const shape = describeResponse(res);
      const bodyUsedBefore = res.bodyUsed;
      const text = await res.text();
      return { shape, bodyUsedBefore, bodyUsedAfter: res.bodyUsed, text };
    },
    (o) => {
      assert.equal(o.shape.isResponse, true);
      assert.equal(o.shape.protoIsResponse, true);
      assert.equal(o.shape.headersIsHeaders, true);
      assert.equal(o.shape.bodyIsReadableStream, true);
      assert.equal(o.shape.status, 200);
      assert.equal(o.shape.statusText, 'OK');
      assert.equal(o.shape.type, 'basic');
      assert.deepEqual([o.bodyUsedBefore, o.bodyUsedAfter], [false, true]);
    },
  ),
  defineCase(
    'response: the body streams (first chunk readable before the server ends the response)',
    async (f, base) => {
      const res = await f(`${base}/slow`);
      const reader = getReader(res);
      const first = await readUntil(reader, 'first-chunk;');
      const serverEndedBeforeFirstChunkRead = server.seen(base)[0]?.responded ?? null;
      server.release(base);
      const rest = await readAll(reader);
      return { status: res.status, first, serverEndedBeforeFirstChunkRead, full: first + rest };
    },
    (o) => {
      assert.equal(o.first, 'first-chunk;');
      assert.equal(o.serverEndedBeforeFirstChunkRead, false);
      assert.equal(o.full, 'first-chunk;second-chunk');
    },
  ),
  defineCase(
    'response: a 256 KiB body read after the call returned and a pause',
    async (f, base) => {
      const res = await f(`${base}/big`);
      await sleep(30);
      const body = new Uint8Array(await res.arrayBuffer());
      let expectedBytes = true;
      for (let i = 0; i < body.length; i++) if (body[i] !== bigByte(i)) expectedBytes = false;
      return { response: describeResponse(res), length: body.length, expectedBytes, sha256: sha256(body) };
    },
    (o) => {
      assert.equal(o.length, bigSize);
      assert.equal(o.expectedBytes, true);
    },
  ),
  defineCase(
    'response: clone() gives two independent readable bodies',
    async (f, base) => {
      const res = await f(`${base}/echo`);
      const copy = res.clone();
      const [a, b] = await Promise.all([res.text(), copy.text()]);
      return { a, b, copyIsResponse: copy instanceof Response, copy: describeResponse(copy) };
    },
    (o) => {
      assert.equal(o.a, 'echo:GET /echo');
      assert.equal(o.b, o.a);
      assert.equal(o.copyIsResponse, true);
    },
  ),
  defineCase(
    'response: body mixins (json() of a non-JSON body, blob(), arrayBuffer(), bytes())',
    async (f, base) => {
      const json = await settle((await f(`${base}/echo`)).json());
      const blob = await (await f(`${base}/echo`)).blob();
      const buffer = await (await f(`${base}/echo`)).arrayBuffer();
      const view = await (await f(`${base}/echo`)).bytes();
      return {
        json: json.status === 'fulfilled' ? { value: String(json.value) } : describeError(json.reason),
        blob: { isBlob: blob instanceof Blob, type: blob.type, size: blob.size, text: await blob.text() },
        buffer: { isArrayBuffer: buffer instanceof ArrayBuffer, byteLength: buffer.byteLength },
        view: { isUint8Array: view instanceof Uint8Array, text: decoder.decode(view) },
      };
    },
    (o) => {
      assert.equal((o.json as ErrorObservation).className, 'SyntaxError');
      assert.deepEqual(o.blob, {
        isBlob: true,
        type: 'text/plain;charset=utf-8',
        size: 14,
        text: 'echo:GET /echo',
      });
      assert.equal(o.view.text, 'echo:GET /echo');
    },
  ),
  defineCase(
    'response: multiple Set-Cookie headers via getSetCookie()',
    async (f, base) => {
      const res = await f(`${base}/cookies`);
      await res.text();
      return { setCookie: res.headers.getSetCookie(), joined: res.headers.get('set-cookie') };
    },
    (o) => {
      assert.deepEqual(o.setCookie, ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Max-Age=60']);
      assert.equal(o.joined, 'a=1; Path=/, b=2; HttpOnly, c=3; Max-Age=60');
    },
  ),
  defineCase(
    'response: repeated, empty, raw-cased and latin1 header values',
    (f, base) => echo(f, base, undefined, '/odd-headers'),
    (o) => {
      assert.deepEqual(o.response.headers, [
        ['connection', 'keep-alive'],
        ['content-type', 'text/plain'],
        ['keep-alive', 'timeout=5'],
        ['transfer-encoding', 'chunked'],
        ['x-empty', ''],
        ['x-latin1', 'cafÃ©'],
        ['x-multi', 'a, b'],
        ['x-raw-case', 'v'],
      ]);
    },
  ),
  defineCase(
    'response: a 103 Early Hints before the final response is skipped',
    (f, base) => echo(f, base, undefined, '/early-hints'),
    (o) => {
      assert.equal(o.response.status, 200);
      assert.equal(o.text, 'after hints');
    },
  ),
  decompressionCase('gzip'),
  decompressionCase('br'),
  decompressionCase('deflate'),
  defineCase(
    'response: 204 No Content has a null body',
    (f, base) => echo(f, base, undefined, '/status?code=204'),
    (o) => {
      assert.equal(o.response.status, 204);
      assert.equal(o.response.statusText, 'No Content');
      assert.equal(o.response.bodyIsNull, true);
      assert.equal(o.text, '');
    },
  ),
  defineCase(
    'response: HEAD has a null body and keeps content-length',
    (f, base) => echo(f, base, { method: 'HEAD' }, '/head'),
    (o) => {
      assert.equal(onlyRequest(o).method, 'HEAD');
      assert.equal(o.response.bodyIsNull, true);
      assert.equal(o.response.headers.find(([n]) => n === 'content-length')?.[1], '11');
      assert.equal(o.text, '');
    },
  ),
  defineCase(
    'response: 304 Not Modified is handed to the caller',
    (f, base) => echo(f, base, { headers: { 'if-none-match': '"v1"' } }, '/etag'),
    (o) => {
      assert.equal(o.response.status, 304);
      assert.equal(o.response.bodyIsNull, true);
      assert.equal(o.response.ok, false);
    },
  ),
  defineCase(
    'response: custom status and reason phrase; a 5xx after POST resolves and is sent once',
    async (f, base) => ({
      teapot: await echo(f, base, undefined, '/status?code=418&text=Short%20And%20Stout'),
      unavailable: await (async () => {
        const res = await f(`${base}/status?code=503`, { method: 'POST', body: 'once' });
        return { response: describeResponse(res), text: await res.text() };
      })(),
      requests: seenBy(base).map((r) => `${r.method} ${r.url}`),
    }),
    (o) => {
      assert.equal(o.teapot.response.status, 418);
      assert.equal(o.teapot.response.statusText, 'Short And Stout');
      assert.equal(o.unavailable.response.status, 503);
      assert.equal(o.unavailable.response.statusText, 'Service Unavailable');
      assert.deepEqual(o.requests, [
        'GET /status?code=418&text=Short%20And%20Stout',
        'POST /status?code=503',
      ]);
    },
  ),
];

/** POST with a body to a redirect of `status`, followed. */
function followCase(status: 301 | 302 | 303 | 307 | 308): Case {
  const keepsMethod = status === 307 || status === 308;
  return defineCase(
    `redirect: ${status} after POST is followed (${keepsMethod ? 'method and body resent' : 'becomes GET without body'})`,
    (f, base) =>
      echo(
        f,
        base,
        { method: 'POST', body: 'redirect-body', headers: { 'x-keep': 'k' } },
        `/redirect?status=${status}&to=echo%3Ffrom%3D${status}`,
      ),
    (o) => {
      assert.equal(o.seen.length, 2);
      const second = o.seen[1];
      assert.equal(second?.url, `/echo?from=${status}`);
      assert.equal(second?.method, keepsMethod ? 'POST' : 'GET');
      assert.equal(second?.body, keepsMethod ? 'redirect-body' : '');
      assert.equal(
        headerOf(second?.headers, 'content-type'),
        keepsMethod ? 'text/plain;charset=UTF-8' : undefined,
      );
      assert.equal(headerOf(second?.headers, 'x-keep'), 'k');
      assert.equal(o.response.redirected, true);
      assert.equal(o.response.url, `http://<host>/r/<run>/echo?from=${status}`);
    },
  );
}

const redirectCases: Case[] = [
  followCase(301),
  followCase(302),
  followCase(303),
  followCase(307),
  followCase(308),
  defineCase(
    'redirect: to an absolute URL and to an absolute path (GET)',
    async (f, base) => {
      const absolute = await f(`${base}/redirect?status=302&to=${encodeURIComponent('@abs:/echo?abs=1')}`);
      const path = `${new URL(base).pathname}/echo%3Fpath%3D1`;
      const absolutePath = await f(`${base}/redirect?status=301&to=${path}`);
      return {
        absolute: { response: describeResponse(absolute), text: await absolute.text() },
        absolutePath: { response: describeResponse(absolutePath), text: await absolutePath.text() },
        seen: seenBy(base).map((r) => `${r.method} ${r.url}`),
      };
    },
    (o) => {
      assert.equal(o.absolute.text, 'echo:GET /echo?abs=1');
      assert.equal(o.absolute.response.url, 'http://<host>/r/<run>/echo?abs=1');
      assert.equal(o.absolute.response.redirected, true);
      assert.equal(o.absolutePath.text, 'echo:GET /echo?path=1');
      assert.equal(o.absolutePath.response.url, 'http://<host>/r/<run>/echo?path=1');
      assert.equal(o.seen.length, 4);
    },
  ),
  defineCase(
    'redirect: cross-origin (another port) drops authorization and cookie, keeps other headers',
    async (f, base) => {
      const otherBase = other.newBase();
      const res = await f(`${base}/redirect?status=302&to=${otherBase}/echo%3Fcross%3D1`, {
        headers: { authorization: 'Bearer secret', cookie: 'session=1', 'x-custom': 'kept' },
      });
      const observation = {
        response: describeResponse(res),
        text: await res.text(),
        first: seenBy(base),
        second: other
          .seen(otherBase)
          .map((r) => ({ method: r.method, url: r.url, headers: pairs(r.rawHeaders) })),
      };
      return JSON.parse(
        JSON.stringify(observation).split(otherBase).join('<other-base>'),
      ) as typeof observation;
    },
    (o) => {
      assert.equal(headerOf(o.first[0]?.headers, 'authorization'), 'Bearer secret');
      assert.equal(o.second.length, 1);
      assert.equal(o.second[0]?.url, '/echo?cross=1');
      assert.equal(headerOf(o.second[0]?.headers, 'authorization'), undefined);
      assert.equal(headerOf(o.second[0]?.headers, 'cookie'), undefined);
      assert.equal(headerOf(o.second[0]?.headers, 'x-custom'), 'kept');
      assert.equal(headerOf(o.second[0]?.headers, 'host'), '<other-host>');
      assert.equal(o.response.url, '<other-base>/echo?cross=1');
      assert.equal(o.response.redirected, true);
    },
  ),
  defineCase(
    "redirect: 'manual' returns the 3xx response",
    (f, base) => echo(f, base, { redirect: 'manual' }, '/redirect?status=301&to=echo'),
    (o) => {
      assert.equal(o.seen.length, 1);
      assert.equal(o.response.status, 301);
      assert.equal(o.response.redirected, false);
      assert.equal(o.response.headers.find(([n]) => n === 'location')?.[1], 'echo');
      assert.equal(o.response.url, 'http://<host>/r/<run>/redirect?status=301&to=echo');
    },
  ),
  defineCase(
    "redirect: 'error' rejects",
    async (f, base) => ({
      ...(await expectRejection(() => f(`${base}/redirect?status=302&to=echo`, { redirect: 'error' }))),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.equal(o.error?.cause?.message, 'unexpected redirect');
      assert.equal(o.seen, 1);
    },
  ),
  defineCase(
    'redirect: a loop rejects after 20 redirects',
    async (f, base) => ({
      ...(await expectRejection(() => f(`${base}/loop`))),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.equal(o.error?.cause?.message, 'redirect count exceeded');
      assert.equal(o.seen, 21);
    },
  ),
  defineCase(
    'redirect: 307 with a stream body cannot be replayed and rejects',
    async (f, base) => {
      const body = new ReadableStream({
        start(c) {
          c.enqueue(bytes('stream-once'));
          c.close();
        },
      });
      return {
        ...(await expectRejection(() =>
          f(`${base}/redirect?status=307&to=echo`, { method: 'POST', body, duplex: 'half' }),
        )),
        seen: seenBy(base).map((r) => `${r.method} ${r.url} ${r.body}`),
      };
    },
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.deepEqual(o.seen, ['POST /redirect?status=307&to=echo stream-once']);
    },
  ),
];

const schemeCases: Case[] = [
  defineCase(
    'data: URLs (base64 and percent-encoded)',
    async (f) => {
      const out = [];
      for (const url of ['data:text/plain;base64,aGVsbG8=', 'data:,a%20b', 'data:application/json,{"x":1}']) {
        const res = await f(url);
        out.push({ response: describeResponse(res), text: await res.text() });
      }
      return out;
    },
    (o) => {
      assert.equal(o[0]?.text, 'hello');
      assert.equal(o[0]?.response.status, 200);
      assert.deepEqual(o[0]?.response.headers, [['content-type', 'text/plain']]);
      assert.equal(o[1]?.text, 'a b');
      assert.equal(o[2]?.response.url, 'data:application/json,{"x":1}');
    },
  ),
  defineCase(
    'blob: URLs (URL.createObjectURL), and a revoked one',
    async (f) => {
      const url = URL.createObjectURL(new Blob(['blob body'], { type: 'text/x-blob' }));
      try {
        const res = await f(url);
        const text = await res.text();
        const response = describeResponse(res);
        URL.revokeObjectURL(url);
        const revoked = await expectRejection(() => f(url));
        // The uuid in a blob: URL is random per run.
        return JSON.parse(JSON.stringify({ response, text, revoked }).split(url).join('<blob-url>')) as {
          response: ReturnType<typeof describeResponse>;
          text: string;
          revoked: Awaited<ReturnType<typeof expectRejection>>;
        };
      } finally {
        URL.revokeObjectURL(url);
      }
    },
    (o) => {
      assert.equal(o.text, 'blob body');
      assert.equal(o.response.url, '<blob-url>');
      assert.ok(o.response.headers.some(([n, v]) => n === 'content-type' && v === 'text/x-blob'));
      assert.equal(o.revoked.error?.className, 'TypeError');
    },
  ),
];

const defaultHeaderCases: Case[] = [
  defineCase(
    'default request headers of a GET, as the server sees them (names, values, order)',
    (f, base) => echo(f, base),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('host'), '<host>');
      assert.equal(r.header('connection'), 'keep-alive');
      assert.equal(r.header('accept'), '*/*');
      assert.equal(r.header('accept-language'), '*');
      assert.equal(r.header('sec-fetch-mode'), 'cors');
      assert.equal(r.header('user-agent'), 'node');
      assert.match(r.header('accept-encoding') ?? '', /gzip, deflate/);
    },
  ),
  defineCase(
    'default request headers of a POST with a string body',
    (f, base) => echo(f, base, { method: 'POST', body: 'abc' }),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('content-type'), 'text/plain;charset=UTF-8');
      assert.equal(r.header('content-length'), '3');
    },
  ),
];

const errorCases: Case[] = [
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

/** Starts a call to `path`, aborts `controller` with `reason` once the server has the request. */
async function abortWhileWaiting(f: typeof fetch, base: string, reason: unknown, path = '/hang') {
  const controller = new AbortController();
  const pending = f(`${base}${path}`, { signal: controller.signal });
  const arrived = await server.waitForRequests(base, 1);
  controller.abort(reason);
  const out = await settle(pending);
  return {
    arrived,
    error: out.status === 'fulfilled' ? null : describeError(out.reason),
    sameReason: out.status === 'rejected' && out.reason === reason,
    signalReasonSame: controller.signal.reason === reason,
  };
}

/** Fetches a hand-written response and reads its body; records every way it can fail. */
function rawCase(kind: RawResponseKind, check: (native: RawObservation) => void): Case {
  return defineCase(
    `wire: ${kind} response`,
    async (f, base) => {
      const out = await settle(f(`${base}/raw?kind=${kind}`));
      if (out.status === 'rejected') return { fetch: describeError(out.reason), body: null };
      const body = await settle(out.value.text());
      return {
        fetch: describeResponse(out.value),
        body: body.status === 'fulfilled' ? { text: body.value } : describeError(body.reason),
      };
    },
    check,
  );
}

interface RawObservation {
  fetch: ErrorObservation | ReturnType<typeof describeResponse>;
  body: ErrorObservation | { text: string } | null;
}

const failedWith = (o: RawObservation, cause: RegExp) => {
  const error = o.fetch as ErrorObservation;
  assert.equal(error.className, 'TypeError');
  assert.equal(error.message, 'fetch failed');
  assert.match(String(error.cause?.message), cause);
};

const bodyFailedWith = (o: RawObservation, cause: RegExp) => {
  assert.equal((o.fetch as ReturnType<typeof describeResponse>).status, 200);
  const error = o.body as ErrorObservation;
  assert.equal(error.className, 'TypeError');
  assert.equal(error.message, 'terminated');
  assert.match(String(error.cause?.message), cause);
};

const wireCases: Case[] = [
  rawCase('until-close', (o) => assert.deepEqual(o.body, { text: 'body until close' })),
  rawCase('http-1.0', (o) => {
    assert.equal((o.fetch as ReturnType<typeof describeResponse>).statusText, 'Fine');
    assert.deepEqual(o.body, { text: 'old protocol' });
  }),
  rawCase('bad-status', (o) => failedWith(o, /Invalid status code/)),
  rawCase('bad-header-name', (o) => failedWith(o, /Invalid header token/)),
  rawCase('nul-in-header-value', (o) => failedWith(o, /Invalid header value char/)),
  rawCase('not-http', (o) => failedWith(o, /Expected HTTP\//)),
  rawCase('two-content-lengths', (o) => failedWith(o, /content-length/)),
  rawCase('bad-chunk', (o) => bodyFailedWith(o, /Invalid character in chunk size/)),
  rawCase('bad-gzip', (o) => bodyFailedWith(o, /incorrect header check/)),
];

const abortCases: Case[] = [
  defineCase(
    'abort: an already-aborted signal rejects with signal.reason (the same object) and sends nothing',
    async (f, base) => {
      const reason = new Error('already stopped');
      const returned = callShape(() => f(`${base}/echo`, { signal: AbortSignal.abort(reason) }));
      if (!(returned instanceof Promise))
        return { returnedPromise: false, thrown: describeError(returned.thrown) };
      const out = await settle(returned);
      return {
        returnedPromise: true,
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === reason,
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.returnedPromise, true);
      assert.equal(o.sameReason, true);
      assert.equal(o.seen, 0);
    },
  ),
  defineCase(
    'abort: an already-aborted signal without a reason rejects with an AbortError DOMException',
    async (f, base) => {
      const controller = new AbortController();
      controller.abort();
      const out = await settle(f(`${base}/echo`, { signal: controller.signal }));
      return {
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === controller.signal.reason,
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.error?.className, 'DOMException');
      assert.equal(o.error?.name, 'AbortError');
      assert.equal(o.sameReason, true);
    },
  ),
  defineCase(
    'abort: while waiting for the response headers',
    (f, base) => abortWhileWaiting(f, base, new Error('user cancelled')),
    (o) => {
      assert.equal(o.arrived, true);
      assert.equal(o.sameReason, true);
      assert.equal(o.error?.message, 'user cancelled');
    },
  ),
  defineCase(
    'abort: a reason that is not an Error (a string) is the rejection value',
    (f, base) => abortWhileWaiting(f, base, 'just a string'),
    (o) => {
      assert.equal(o.sameReason, true);
      assert.deepEqual(o.error, { kind: 'string', value: 'just a string' });
    },
  ),
  defineCase(
    'abort: while reading the body (the read rejects with the reason)',
    async (f, base) => {
      const controller = new AbortController();
      const reason = new Error('stop reading');
      const res = await f(`${base}/headers-then-hang`, { signal: controller.signal });
      const reader = getReader(res);
      const first = await readUntil(reader, 'partial;');
      controller.abort(reason);
      const read = await settle(reader.read());
      return {
        status: res.status,
        first,
        read: read.status === 'fulfilled' ? { done: read.value.done } : describeError(read.reason),
        sameReason: read.status === 'rejected' && read.reason === reason,
      };
    },
    (o) => {
      assert.equal(o.first, 'partial;');
      assert.equal(o.sameReason, true);
    },
  ),
  defineCase(
    'abort: AbortSignal.timeout(ms) rejects with a TimeoutError DOMException',
    async (f, base) => {
      const signal = AbortSignal.timeout(40);
      const out = await settle(f(`${base}/hang`, { signal }));
      return {
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === signal.reason,
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.error?.className, 'DOMException');
      assert.equal(o.error?.name, 'TimeoutError');
      assert.equal(o.error?.code, 23);
      assert.equal(o.sameReason, true);
      assert.equal(o.seen, 1);
    },
  ),
  defineCase(
    "abort: through the Request's own signal",
    async (f, base) => {
      const controller = new AbortController();
      const reason = new Error('request signal');
      const request = new Request(`${base}/hang`, { signal: controller.signal });
      const pending = f(request);
      const arrived = await server.waitForRequests(base, 1);
      controller.abort(reason);
      const out = await settle(pending);
      return {
        arrived,
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === reason,
        requestSignalAborted: request.signal.aborted,
      };
    },
    (o) => {
      assert.equal(o.arrived, true);
      assert.equal(o.sameReason, true);
      assert.equal(o.requestSignalAborted, true);
    },
  ),
];

/** An undici 8 Agent whose interceptor records the path of every request it dispatches. */
function countingAgent() {
  const paths: string[] = [];
  const agent = new Agent().compose(
    (dispatch) => (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => {
      paths.push(options.path);
      return dispatch(options, handler);
    },
  );
  return { agent, paths };
}

const globalDispatcherSlots = [
  Symbol.for('undici.globalDispatcher.1'),
  Symbol.for('undici.globalDispatcher.2'),
];

const integrationCases: Case[] = [
  defineCase(
    'init is read as WebIDL reads a dictionary: each member once, in lexicographic order',
    async (f, base) => {
      const reads: string[] = [];
      const init = new Proxy({ method: 'POST', body: 'proxied', headers: { 'x-p': '1' } } as RequestInit, {
        get(target, key, receiver) {
          if (typeof key === 'string') reads.push(key);
          return Reflect.get(target, key, receiver);
        },
      });
      const res = await f(`${base}/echo`, init);
      const text = await res.text();
      // With two throwing getters, the member read first decides the rejection.
      const methodError = new Error('method getter');
      const bodyError = new Error('body getter');
      const throwing = {
        get method(): string {
          throw methodError;
        },
        get body(): string {
          throw bodyError;
        },
      };
      const out = await settle(f(`${base}/echo`, throwing));
      const rejectedWith =
        out.status === 'fulfilled'
          ? 'resolved'
          : out.reason === bodyError
            ? 'body'
            : out.reason === methodError
              ? 'method'
              : 'other';
      // `resilience` is resilientFetch's own init extension (per-request policy), read once on top.
      const fetchReads = reads.filter((key) => key !== 'resilience');
      return { reads: fetchReads, text, rejectedWith, seen: seenBy(base).length };
    },
    (o) => {
      assert.deepEqual(o.reads, [...o.reads].sort());
      assert.equal(new Set(o.reads).size, o.reads.length);
      assert.ok(o.reads.includes('method') && o.reads.includes('signal') && o.reads.includes('dispatcher'));
      assert.equal(o.text, 'echo:POST /echo');
      assert.equal(o.rejectedWith, 'body');
      assert.equal(o.seen, 1);
    },
  ),
  defineCase(
    "a per-call init.dispatcher (Node's fetch extension) carries the request",
    async (f, base) => {
      const { agent, paths } = countingAgent();
      try {
        const init = { dispatcher: new Dispatcher1Wrapper(agent) } as unknown as RequestInit;
        const res = await f(`${base}/echo?via=dispatcher`, init);
        return { status: res.status, text: await res.text(), paths };
      } finally {
        await agent.close();
      }
    },
    (o) => {
      assert.equal(o.text, 'echo:GET /echo?via=dispatcher');
      assert.deepEqual(o.paths, ['/r/<run>/echo?via=dispatcher']);
    },
  ),
  defineCase(
    "an app-wide dispatcher set with undici's setGlobalDispatcher() (ProxyAgent, MockAgent, ...) is used",
    async (f, base) => {
      const slots = globalThis as unknown as Record<symbol, unknown>;
      const saved = globalDispatcherSlots.map((slot) => slots[slot]);
      const { agent, paths } = countingAgent();
      try {
        setGlobalDispatcher(agent);
        const res = await f(`${base}/echo?via=global`);
        return { status: res.status, text: await res.text(), paths };
      } finally {
        globalDispatcherSlots.forEach((slot, i) => {
          slots[slot] = saved[i];
        });
        await agent.close();
      }
    },
    (o) => {
      assert.equal(o.text, 'echo:GET /echo?via=global');
      assert.deepEqual(o.paths, ['/r/<run>/echo?via=global']);
    },
  ),
];

const cases: Case[] = [
  ...inputCases,
  ...bodyCases,
  ...responseCases,
  ...redirectCases,
  ...schemeCases,
  ...defaultHeaderCases,
  ...errorCases,
  ...wireCases,
  ...abortCases,
  ...integrationCases,
];

// ---------------------------------------------------------------------------------------------------

describe('fetch contract: resilientFetch observes as native fetch does', () => {
  before(async () => {
    server = await startContractServer();
    other = await startContractServer();
    tls = await startTlsServer();
    // Retries and the breaker are features native fetch lacks (a retried GET reaches the server twice; a
    // breaker opened by the error cases fails later cases fast). They are off here so that every other
    // layer (deadline, attempt timeout, linked abort signals, body preparation) is held to the contract;
    // test/policies/ covers what they add.
    rfetch = createResilientFetch({ retry: false, circuitBreaker: false });
    closedPort = await freePort();
  });

  after(async () => {
    await rfetch.close({ drainTimeoutMs: 1000 });
    await Promise.all([server.close(), other.close(), tls.close()]);
  });

  for (const c of cases) {
    it(c.name, c.todo === undefined ? {} : { todo: c.todo }, async () => {
      const nativeBase = server.newBase();
      const native = normalise(await c.run(nativeFetch, nativeBase), nativeBase);
      const rfBase = server.newBase();
      const resilient = normalise(await c.run(rfetch, rfBase), rfBase);
      (c.check as (native: unknown) => void)(native);
      assert.deepStrictEqual(resilient, native);
    });
  }

  // resilientFetch sends the requests it can reproduce exactly itself (src/transport/fast/) and the
  // rest through Node's fetch; the cases above must have held both routes to the contract.
  it('both routes were exercised: the fast transport and Node fetch', () => {
    const { fast, fetch } = rfetch.stats().sent;
    assert.ok(fast >= 60, `fast transport sent ${fast} requests`);
    assert.ok(fetch >= 20, `Node's fetch sent ${fetch} requests`);
  });
});
