/**
 * Body bytes on the fast route, side by side with Node's fetch: every size from 1 B to 8 MiB, fixed-length
 * and chunked in odd-sized writes, one response after another on a keep-alive connection, reads the
 * bytes the server sent; chunks a slow reader keeps do not change as later bytes arrive (each is a plain
 * `Uint8Array` of its own); a `undici:request:bodyChunkReceived` subscriber keeps whole chunks. The
 * guard for any change to how chunks reach the body's byte stream (a byte stream takes over the buffer it
 * is given, so each of undici's chunks is copied, as Node's fetch copies it).
 *
 * Run: node --test test/transport/body-chunks.test.ts
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch, type ResilientFetch } from '../../src/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const nativeFetch: typeof fetch = globalThis.fetch;
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Bodies by size; `/chunked/N` is sent in odd-sized writes without a content-length. */
const sizes = [1, 4_096, 65_536, 3 * 65_536 + 17, 1_048_576, 8 * 1_048_576];
const bodies = new Map(sizes.map((size) => [size, randomBytes(size)]));

let server: TestServer;
let rfetch: ResilientFetch;

describe('body bytes on the fast route, as Node fetch reads them', () => {
  before(async () => {
    server = await startServer((req, res) => {
      const [, kind, n] = (req.url ?? '').split('/');
      const body = bodies.get(Number(n)) as Buffer;
      if (kind === 'fixed') {
        res.writeHead(200, { 'content-length': String(body.length) }).end(body);
        return;
      }
      res.writeHead(200);
      for (let at = 0, step = 1_000; at < body.length; at += step, step = (step * 7) % 70_001 || 1_000)
        res.write(body.subarray(at, at + step));
      res.end();
    });
    rfetch = createResilientFetch();
  });
  after(async () => {
    await rfetch.close();
    await server.close();
  });

  it('every size, fixed-length and chunked, reads the bytes the server sent, as Node fetch reads them', async () => {
    const read = async (f: typeof fetch) => {
      const seen: string[] = [];
      // One after another: each response follows the last on the same keep-alive connection.
      for (const kind of ['fixed', 'chunked'])
        for (const size of sizes)
          seen.push(sha(new Uint8Array(await (await f(`${server.url}/${kind}/${size}`)).arrayBuffer())));
      return seen;
    };
    const expected = ['fixed', 'chunked'].flatMap(() => sizes.map((size) => sha(bodies.get(size) as Buffer)));
    assert.deepEqual(await read(nativeFetch), expected);
    assert.deepEqual(await read(rfetch), expected);
  });

  it('chunks a slow reader keeps stay as they were read while later bytes arrive', async () => {
    const keep = async (f: typeof fetch) => {
      const res = await f(`${server.url}/fixed/${8 * 1_048_576}`);
      const reader = (res.body as ReadableStream<Uint8Array>).getReader();
      const kept: Array<{ chunk: Uint8Array; hash: string }> = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        kept.push({ chunk: value, hash: sha(value) });
        if (kept.length % 16 === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const changed = kept.filter(({ chunk, hash }) => sha(chunk) !== hash).length;
      const whole = Buffer.concat(kept.map(({ chunk }) => chunk));
      return {
        changed,
        body: sha(whole),
        plainUint8Array: kept.every(({ chunk }) => chunk.constructor === Uint8Array),
      };
    };
    const expected = { changed: 0, body: sha(bodies.get(8 * 1_048_576) as Buffer), plainUint8Array: true };
    assert.deepEqual(await keep(nativeFetch), expected);
    assert.deepEqual(await keep(rfetch), expected);
  });

  it('a bodyChunkReceived subscriber keeps whole chunks', async () => {
    const received = async (f: typeof fetch) => {
      const kept: Uint8Array[] = [];
      const keepChunk = (message: unknown) => kept.push((message as { chunk: Uint8Array }).chunk);
      diagnosticsChannel.subscribe('undici:request:bodyChunkReceived', keepChunk);
      try {
        const body = new Uint8Array(await (await f(`${server.url}/fixed/${1_048_576}`)).arrayBuffer());
        return { read: sha(body), kept: sha(Buffer.concat(kept)) };
      } finally {
        diagnosticsChannel.unsubscribe('undici:request:bodyChunkReceived', keepChunk);
      }
    };
    const hash = sha(bodies.get(1_048_576) as Buffer);
    assert.deepEqual(await received(nativeFetch), { read: hash, kept: hash });
    assert.deepEqual(await received(rfetch), { read: hash, kept: hash });
  });
});
