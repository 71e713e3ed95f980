/**
 * Response limits (issue 17, item 2): `response.maxBytes` and `response.maxRatio` per host and per call,
 * on both transports (a string URL goes on the fast route, a Request through Node's fetch), against real
 * servers on loopback; and `pool.maxHeaderSize`, side by side with Node's fetch.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import zlib from 'node:zlib';
import { Agent } from 'undici';
import { Agent as Agent7 } from 'undici7';
import {
  createResilientFetch,
  isResponseTooLargeError,
  type ResilientFetchOptions,
} from '../../src/index.ts';
import { expectRejection } from '../helpers/contract.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const mib = 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** How reading a body ended: the bytes read, and the error if it errored. */
async function readBody(res: Response): Promise<{ bytes: number; error?: unknown }> {
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { bytes };
      bytes += value.byteLength;
    }
  } catch (error) {
    return { bytes, error };
  }
}

/** Asserts `error` is ours, for `option` at `limit`, for the server's host. */
function assertTooLarge(error: unknown, option: string, limit: number, host: string): void {
  assert.ok(isResponseTooLargeError(error), `expected our error, got ${String(error)}`);
  assert.ok(error instanceof TypeError);
  assert.equal(error.code, 'ERR_RF_RESPONSE_TOO_LARGE');
  assert.equal(error.option, option);
  assert.equal(error.limit, limit);
  assert.equal(error.host, host);
  assert.match(error.message, new RegExp(`the response from ${host} .*past ${option.replace('.', '\\.')}`));
}

describe('response limits', () => {
  let server: TestServer;
  let host = '';
  const hits = new Map<string, number>();
  const bomb = zlib.gzipSync(Buffer.alloc(16 * mib));
  const text = Buffer.from('{"item":"value"},'.repeat(8_000)); // 136 KB of JSON-like text
  const gzippedText = zlib.gzipSync(text);

  before(async () => {
    server = await startServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === '/sized') res.writeHead(200, { 'content-length': 2 * mib }).end(Buffer.alloc(2 * mib));
      else if (path === '/chunked') {
        res.writeHead(200);
        for (let i = 0; i < 32; i++) res.write(Buffer.alloc(64 * 1024));
        res.end();
      } else if (path === '/bomb') res.writeHead(200, { 'content-encoding': 'gzip' }).end(bomb);
      else if (path === '/text') res.writeHead(200, { 'content-encoding': 'gzip' }).end(gzippedText);
      else res.end('small');
    });
    host = `127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  const make = (options: ResilientFetchOptions = {}) =>
    createResilientFetch({ retry: { baseDelayMs: 1, jitter: 'none' }, ...options });

  for (const route of ['fast', 'node'] as const) {
    const call = (rfetch: typeof fetch, path: string, init?: RequestInit) =>
      route === 'fast'
        ? rfetch(`${server.url}${path}`, init)
        : rfetch(new Request(`${server.url}${path}`), init);

    it(`${route} route: a content-length over maxBytes rejects before the body, the connection dropped`, async () => {
      await using rfetch = make({ response: { maxBytes: mib }, circuitBreaker: { consecutiveFailures: 1 } });
      const before = hits.get('/sized') ?? 0;
      for (let i = 0; i < 3; i++) {
        const error = await call(rfetch, '/sized').then(
          () => assert.fail('must reject'),
          (e: unknown) => e,
        );
        assert.ok(error instanceof TypeError && error.message === 'fetch failed');
        assertTooLarge(error.cause, 'response.maxBytes', mib, host);
        assert.match((error.cause as Error).message, /announces 2097152 bytes \(content-length\)/);
      }
      assert.equal((hits.get('/sized') ?? 0) - before, 3, 'not retried');
      await server.socketsClosed();
      assert.equal(
        rfetch.stats().hosts[host]?.circuit,
        'closed',
        'the caller chose the limit: not a host failure',
      );
      assert.deepEqual(Object.values(rfetch.health(host).failures), [0, 0, 0, 0], 'no failure in its health');
      assert.equal(await (await call(rfetch, '/small')).text(), 'small', 'the host is still called');
    });

    it(`${route} route: past maxBytes while reading, the body errors with TypeError('terminated')`, async () => {
      await using rfetch = make({ response: { maxBytes: 300_000 } });
      const res = await call(rfetch, '/chunked');
      assert.equal(res.status, 200);
      const { bytes, error } = await readBody(res);
      assert.ok(error instanceof TypeError && error.message === 'terminated', String(error));
      assertTooLarge(error.cause, 'response.maxBytes', 300_000, host);
      assert.ok(bytes <= 300_000, `no byte past the cap reached the reader (${bytes})`);
      await server.socketsClosed();
    });

    it(`${route} route: a gzip bomb is stopped by maxBytes and by maxRatio`, async () => {
      for (const response of [{ maxBytes: 4 * mib }, { maxRatio: 200 }]) {
        await using rfetch = make({ response });
        const res = await call(rfetch, '/bomb');
        const { bytes, error } = await readBody(res);
        assert.ok(error instanceof TypeError && error.message === 'terminated', String(error));
        const [option, limit] = Object.entries(response)[0] as [string, number];
        assertTooLarge(error.cause, `response.${option}`, limit, host);
        assert.ok(bytes <= 4 * mib, `stopped early: ${bytes} of ${16 * mib} bytes decoded`);
      }
    });

    it(`${route} route: bodies within the limits read in full; per call limits override the host's`, async () => {
      await using rfetch = make({ hosts: { [host]: { response: { maxBytes: 64 } } } });
      assert.equal(
        (
          await readBody(
            await call(rfetch, '/text', {
              resilience: { response: { maxBytes: text.length, maxRatio: 1000 } },
            } as RequestInit),
          )
        ).bytes,
        text.length,
      );
      const capped = await readBody(await call(rfetch, '/text'));
      assertTooLarge((capped.error as Error).cause, 'response.maxBytes', 64, host);
      const off = await call(rfetch, '/sized', {
        resilience: { response: { maxBytes: false } },
      } as RequestInit);
      assert.equal((await readBody(off)).bytes, 2 * mib);
    });
  }

  it('node route: a limited Response dropped unread is cancelled once collected, its connection closed', async () => {
    await using rfetch = make({ response: { maxBytes: 64 * mib } });
    await (async () => {
      const res = await rfetch(new Request(`${server.url}/chunked`));
      assert.equal(res.status, 200); // dropped here, unread
    })();
    for (let i = 0; i < 5 && server.openSockets > 0; i++) {
      gc();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await server.socketsClosed(2_000);
  });

  it('apply to a dispatcher you pass in init (an undici 8 Agent) too', async () => {
    await using rfetch = make();
    const agent = new Agent();
    try {
      const init = {
        dispatcher: agent,
        resilience: { response: { maxBytes: 10 } },
      } as unknown as RequestInit;
      await assert.rejects(rfetch(`${server.url}/sized`, init), (e: TypeError) =>
        isResponseTooLargeError(e.cause),
      );
      const { error } = await readBody(await rfetch(`${server.url}/chunked`, init));
      assert.ok(isResponseTooLargeError((error as Error).cause));
    } finally {
      await agent.destroy();
    }
  });

  it("a Request carrying its own dispatcher: maxBytes still applies (the ratio cannot: undici's side is unseen)", async () => {
    await using rfetch = make();
    const agent = new Agent7();
    try {
      const limited = { resilience: { response: { maxBytes: 10, maxRatio: 1 } } } as RequestInit;
      const request = () =>
        new Request(`${server.url}/sized`, { dispatcher: agent } as unknown as RequestInit);
      await assert.rejects(
        rfetch(request(), limited),
        (e: TypeError) => e.message === 'fetch failed' && isResponseTooLargeError(e.cause),
      );
      const chunked = new Request(`${server.url}/chunked`, { dispatcher: agent } as unknown as RequestInit);
      const { error, bytes } = await readBody(await rfetch(chunked, limited));
      assert.ok(
        error instanceof TypeError && error.message === 'terminated' && isResponseTooLargeError(error.cause),
      );
      assert.ok(bytes <= 10);
      const ratioOnly = { resilience: { response: { maxRatio: 1 } } } as RequestInit;
      const text = new Request(`${server.url}/text`, { dispatcher: agent } as unknown as RequestInit);
      assert.equal((await readBody(await rfetch(text, ratioOnly))).bytes, 136_000);
    } finally {
      await agent.destroy();
    }
  });

  it("configureHost sets and removes a host's limits live", async () => {
    await using rfetch = make();
    rfetch.configureHost(host, { response: { maxBytes: 10 } });
    await assert.rejects(rfetch(`${server.url}/sized`), (e: TypeError) => isResponseTooLargeError(e.cause));
    rfetch.removeHost(host);
    assert.equal((await (await rfetch(`${server.url}/sized`)).arrayBuffer()).byteLength, 2 * mib);
  });

  it('an encoded body whose content-length is over maxBytes but decodes within it is read whole', async () => {
    await using tiny = await startServer((_req, res) => {
      const empty = zlib.gzipSync(Buffer.alloc(0));
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': empty.length }).end(empty);
    });
    await using rfetch = make({ response: { maxBytes: 5 } });
    assert.equal((await (await rfetch(tiny.url)).arrayBuffer()).byteLength, 0);
    assert.equal((await (await rfetch(new Request(tiny.url))).arrayBuffer()).byteLength, 0);
  });

  it('refuses invalid limits, naming the option path', async () => {
    assert.throws(
      () => createResilientFetch({ response: { maxBytes: -1 } }),
      /option response\.maxBytes must be an integer >= 0, received -1/,
    );
    assert.throws(() => createResilientFetch({ response: { maxRatio: 0.5 } }), RangeError);
    assert.throws(
      () => createResilientFetch({ hosts: { a: { response: { maxBytes: '1' as never } } } }),
      /option hosts\.a\.response\.maxBytes must be a number/,
    );
    assert.throws(
      () => createResilientFetch({ pool: { maxHeaderSize: 0 } }),
      /option pool\.maxHeaderSize must be an integer >= 1/,
    );
    await using rfetch = make();
    await assert.rejects(
      rfetch(server.url, { resilience: { response: { maxRatio: true } } } as never),
      /option init\.resilience\.response\.maxRatio must be a number, received true/,
    );
  });
});

describe('pool.maxHeaderSize', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer(
      (req, res) => {
        const size = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('size'));
        res.writeHead(200, { 'x-big': 'a'.repeat(size) }).end('ok');
      },
      { maxHeaderSize: 256 * 1024 },
    );
  });
  after(() => server.close());

  it('defaults to 16 KiB as Node fetch: a 20 KiB header fails alike, a larger cap accepts it', async () => {
    await using rfetch = createResilientFetch({ retry: false });
    const url = `${server.url}/?size=${20 * 1024}`;
    const ours = await expectRejection(() => rfetch(url));
    const native = await expectRejection(() => fetch(url));
    assert.equal(ours.rejected, true);
    assert.deepEqual(ours, native);
    assert.equal(ours.error.cause?.code, 'UND_ERR_HEADERS_OVERFLOW');
    assert.equal((await rfetch(`${server.url}/?size=${8 * 1024}`)).status, 200);
    await using wide = createResilientFetch({ retry: false, pool: { maxHeaderSize: 64 * 1024 } });
    assert.equal(await (await wide(url)).text(), 'ok');
    await using narrow = createResilientFetch({ retry: false, pool: { maxHeaderSize: 1024 } });
    const refused = await expectRejection(() => narrow(`${server.url}/?size=2048`));
    assert.equal(refused.error.cause?.code, 'UND_ERR_HEADERS_OVERFLOW');
  });
});
