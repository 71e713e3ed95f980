/** Contract cases: request bodies, as the server receives them (bytes, content type, length). */
import assert from 'node:assert/strict';
import {
  bytes,
  type Case,
  defineCase,
  describeResponse,
  echo,
  expectRejection,
  headerOf,
  onlyRequest,
  seenBy,
  server,
  withoutBoundary,
} from '../../helpers/contract.ts';
import { sha256 } from '../../helpers/fault-server.ts';
import { sleep } from '../../helpers/server.ts';

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

export const bodyCases: Case[] = [
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
