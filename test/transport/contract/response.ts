/** Contract cases: the Response as code sees it (status, headers, body readers, decoding). */
import assert from 'node:assert/strict';
import {
  type Case,
  decoder,
  defineCase,
  describeError,
  describeResponse,
  type ErrorObservation,
  echo,
  getReader,
  headerOf,
  onlyRequest,
  readAll,
  readUntil,
  seenBy,
  server,
} from '../../helpers/contract.ts';
import { bigByte, bigSize, encodedText } from '../../helpers/contract-server.ts';
import { sha256 } from '../../helpers/fault-server.ts';
import { sleep } from '../../helpers/server.ts';
import { settle } from '../../helpers/settle.ts';

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

export const responseCases: Case[] = [
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
