/** Per-host pools: one per origin, connection limit, keep-alive, read timeouts. Real loopback servers. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';
import { runScriptInChild } from '../helpers/child.ts';
import { codes } from '../helpers/errors.ts';
import { sleep, startServer, type TestServer, tunnel } from '../helpers/server.ts';

/** The first code in the cause chain. */
const codeOf = (error: unknown): unknown => codes(error).find((code) => code !== undefined);

/** A CONNECT proxy that counts its tunnels by target and records the Proxy-Authorization it got. */
async function startProxy() {
  const tunnels: string[] = [];
  const auth: Array<string | undefined> = [];
  const proxy = await startServer((_req, res) => res.writeHead(405).end());
  proxy.server.on('connect', (req, socket) => {
    tunnels.push(String(req.url));
    auth.push(req.headers['proxy-authorization']);
    tunnel(req, socket);
  });
  return { proxy, tunnels, auth };
}

describe('per-host pools', () => {
  let a: TestServer;
  let b: TestServer;
  before(async () => {
    const handler = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const delay = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('delay') ?? 0);
      setTimeout(() => res.end('ok'), delay);
    };
    a = await startServer(handler);
    b = await startServer(handler);
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  it('creates one pool per origin, lazily, keyed by host and port', async () => {
    const rfetch = createResilientFetch();
    assert.deepEqual(rfetch.stats().pools, {}, 'no pool before the first call');
    await Promise.all([rfetch(a.url).then((r) => r.text()), rfetch(b.url).then((r) => r.text())]);
    await rfetch(`${a.url}/again`).then((r) => r.text());
    const pools = rfetch.stats().pools;
    assert.deepEqual(Object.keys(pools).sort(), [a.url, b.url].sort());
    assert.equal(pools[a.url]?.host, `127.0.0.1:${a.port}`);
    assert.equal(pools[b.url]?.host, `127.0.0.1:${b.port}`);
    await rfetch.close();
  });

  it('never opens more than `connections` sockets to a host; extra calls queue and all succeed', async () => {
    const server = await startServer((_req, res) => setTimeout(() => res.end('ok'), 60));
    const rfetch = createResilientFetch({ pool: { connections: 2 } });
    const bodies = await Promise.all(
      Array.from({ length: 8 }, () => rfetch(server.url).then((r) => r.text())),
    );
    assert.deepEqual(bodies, Array(8).fill('ok'));
    assert.equal(server.maxOpenSockets, 2);
    await rfetch.close();
    await server.close();
  });

  it('keeps sockets alive between calls (fewer sockets than calls)', async () => {
    const server = await startServer((_req, res) => res.end('ok'));
    const rfetch = createResilientFetch();
    for (let i = 0; i < 20; i++) await (await rfetch(server.url)).text();
    assert.ok(server.connections <= 2, `20 sequential calls opened ${server.connections} sockets`);
    await rfetch.close();
    await server.close();
  });

  it('closes an idle socket after keepAliveTimeoutMs and forgets the idle pool', async () => {
    const server = await startServer((_req, res) => res.end('ok'), { keepAliveTimeout: 60_000 });
    const rfetch = createResilientFetch({ pool: { keepAliveTimeoutMs: 100 } });
    await (await rfetch(server.url)).text();
    assert.equal(server.openSockets, 1);
    const started = performance.now();
    await server.socketsClosed(3_000);
    const waited = performance.now() - started;
    assert.ok(waited < 1_000, `the client closed the idle socket after ${waited} ms`);
    await sleep(10);
    assert.deepEqual(rfetch.stats().pools, {}, 'an origin with no socket left has no pool');
    await rfetch.close();
    await server.close();
  });

  it("never keeps a socket longer than the server's Keep-Alive hint", async () => {
    // Node's server announces `Keep-Alive: timeout=3`; undici keeps the socket for the hint minus a 2 s
    // safety margin, well before the server would close it.
    const server = await startServer((_req, res) => res.end('ok'), { keepAliveTimeout: 3_000 });
    const rfetch = createResilientFetch({ pool: { keepAliveTimeoutMs: 30_000 } });
    await (await rfetch(server.url)).text();
    const started = performance.now();
    await server.socketsClosed(5_000);
    const waited = performance.now() - started;
    assert.ok(waited < 2_500, `socket kept ${waited} ms against a 3 s server hint`);
    await rfetch.close();
    await server.close();
  });

  it('fails a call whose headers do not arrive within headersTimeoutMs', async () => {
    const server = await startServer(() => {});
    const rfetch = createResilientFetch({ pool: { headersTimeoutMs: 100 }, retry: false });
    const started = performance.now();
    const error = await rfetch(server.url).then(
      () => assert.fail('must reject'),
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    assert.ok(error instanceof TypeError && error.message === 'fetch failed');
    assert.equal(codeOf(error), 'UND_ERR_HEADERS_TIMEOUT');
    assert.ok(elapsed >= 90 && elapsed < 2_000, `rejected after ${elapsed} ms`);
    await rfetch.close();
    await server.close();
  });

  it('bodyTimeoutMs is an idle timeout between chunks: a long stream that keeps flowing completes', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200);
      let n = 0;
      const timer = setInterval(() => {
        res.write(`${n}\n`);
        if (++n === 12) {
          clearInterval(timer);
          res.end();
        }
      }, 40);
    });
    const rfetch = createResilientFetch({ pool: { bodyTimeoutMs: 200 } });
    const started = performance.now();
    const text = await (await rfetch(server.url)).text();
    assert.ok(performance.now() - started > 400, 'the stream lasted longer than bodyTimeoutMs');
    assert.equal(text.split('\n').filter(Boolean).length, 12);
    await rfetch.close();
    await server.close();
  });

  it('bodyTimeoutMs fails a body that stalls between chunks', async () => {
    const server = await startServer((_req, res) => {
      res.writeHead(200);
      res.write('first');
      const timer = setTimeout(() => res.end('late'), 2_000);
      res.on('close', () => clearTimeout(timer));
    });
    const rfetch = createResilientFetch({ pool: { bodyTimeoutMs: 150 } });
    const response = await rfetch(server.url);
    const error = await response.text().then(
      () => assert.fail('the stalled body must error'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof TypeError);
    assert.equal(codeOf(error), 'UND_ERR_BODY_TIMEOUT');
    await rfetch.close();
    await server.close();
  });

  it('fails a connection not established within connectTimeoutMs (a TLS handshake that never completes)', async () => {
    // A TCP server that accepts and never speaks: the TLS handshake of an https:// call hangs, and the
    // connect timeout covers the handshake. The server reads (and drops) what it gets, so it sees the
    // client's FIN, and its sockets closing show the client did not leak its own.
    const accepted = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      accepted.add(socket);
      socket.on('close', () => accepted.delete(socket)).resume();
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    const rfetch = createResilientFetch({ pool: { connectTimeoutMs: 150 }, retry: false });
    const started = performance.now();
    const error = await rfetch(`https://127.0.0.1:${port}/`).then(
      () => assert.fail('must reject'),
      (e: unknown) => e,
    );
    const elapsed = performance.now() - started;
    assert.ok(error instanceof TypeError && error.message === 'fetch failed');
    assert.equal(codeOf(error), 'UND_ERR_CONNECT_TIMEOUT');
    assert.ok(elapsed >= 140 && elapsed < 2_000, `rejected after ${elapsed} ms`);
    await rfetch.close();
    // server.close() waits for its sockets to close; our 'close' listeners run just after.
    await new Promise((resolve) => silent.close(resolve));
    await sleep(5);
    assert.equal(accepted.size, 0, 'the timed-out socket was closed');
  });

  it('does not use the pools when the caller passes its own dispatcher', async () => {
    const server = await startServer((req, res) => res.end(req.headers['x-via'] ?? 'none'));
    const { Agent, Dispatcher1Wrapper } = await import('undici');
    const own = new Agent();
    const rfetch = createResilientFetch();
    const text = await (
      await rfetch(server.url, { dispatcher: new Dispatcher1Wrapper(own) } as unknown as RequestInit)
    ).text();
    assert.equal(text, 'none');
    assert.deepEqual(rfetch.stats().pools, {}, "the caller's dispatcher carried the call");
    assert.deepEqual(Object.keys(own.stats), [server.url]);
    await own.close();
    await rfetch.close();
    await server.close();
  });

  it('gives a host with its own pool options a pool of its own', async () => {
    const slow = (_req: unknown, res: import('node:http').ServerResponse) =>
      setTimeout(() => res.end('ok'), 50);
    const narrow = await startServer(slow);
    const wide = await startServer(slow);
    const rfetch = createResilientFetch({
      pool: { connections: 4 },
      hosts: { [`127.0.0.1:${narrow.port}`]: { pool: { connections: 1 } } },
    });
    await Promise.all(
      [narrow, wide].flatMap((s) => Array.from({ length: 4 }, () => rfetch(s.url).then((r) => r.text()))),
    );
    assert.equal(narrow.maxOpenSockets, 1, 'the override applies to its host');
    assert.equal(wide.maxOpenSockets, 4, 'the top-level options apply to the others');
    await rfetch.close();
    await narrow.close();
    await wide.close();
  });

  it("drives Node's own undici Agent, and uses a global dispatcher the app set before loading it", async () => {
    assert.equal(createResilientFetch().stats().transport, 'node');
    const src = new URL('../../src/index.ts', import.meta.url).href;
    const server = await startServer((_req, res) => res.end('ok'));
    const result = await runScriptInChild(
      `const { Agent, setGlobalDispatcher } = await import('undici');
       let seen = 0;
       setGlobalDispatcher(new Agent().compose((dispatch) => (opts, handler) => { seen++; return dispatch(opts, handler); }));
       const { createResilientFetch } = await import(${JSON.stringify(src)});
       const rfetch = createResilientFetch();
       const text = await (await rfetch(${JSON.stringify(server.url)})).text();
       console.log(rfetch.stats().transport, text, seen, Object.keys(rfetch.stats().pools).length);
       await rfetch.close();`,
    );
    await server.close();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout.trim(),
      'global ok 1 0',
      "the app's dispatcher carried the call, not our pools",
    );
  });

  it('goes through the proxy Node uses for NODE_USE_ENV_PROXY / HTTP_PROXY, as native fetch does', async () => {
    const target = await startServer((req, res) => res.end(`target saw ${req.url}`));
    // A CONNECT proxy (undici tunnels through HTTP proxies) that counts its tunnels.
    const { proxy, tunnels } = await startProxy();
    const src = new URL('../../src/index.ts', import.meta.url).href;
    const result = await runScriptInChild(
      `const { createResilientFetch } = await import(${JSON.stringify(src)});
       const native = await (await fetch(${JSON.stringify(`${target.url}/native`)})).text();
       const rfetch = createResilientFetch();
       const ours = await (await rfetch(${JSON.stringify(`${target.url}/ours`)})).text();
       console.log(JSON.stringify([native, ours, rfetch.stats().transport]));
       await rfetch.close();`,
      { env: { NODE_USE_ENV_PROXY: '1', HTTP_PROXY: proxy.url, NO_PROXY: '' } },
    );
    await proxy.close();
    await target.close();
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), ['target saw /native', 'target saw /ours', 'global']);
    assert.equal(tunnels.length, 2, 'both calls went through the proxy');
  });
});

describe('pool.proxy: an explicit proxy for our pools', () => {
  it('tunnels calls through the proxy, with its credentials; a host pattern can bypass it', async () => {
    const target = await startServer((req, res) => res.end(`target saw ${req.url}`));
    const { proxy, tunnels, auth } = await startProxy();
    const proxyUrl = new URL(proxy.url);
    proxyUrl.username = 'app';
    proxyUrl.password = 's3cret';
    const rfetch = createResilientFetch({
      pool: { proxy: proxyUrl.href },
      hosts: { localhost: { pool: { proxy: false } } },
    });
    assert.equal(await (await rfetch(`${target.url}/via-proxy`)).text(), 'target saw /via-proxy');
    assert.equal(await (await rfetch(`http://localhost:${target.port}/direct`)).text(), 'target saw /direct');
    assert.deepEqual(tunnels, [`127.0.0.1:${target.port}`], 'one tunnel, for the proxied host only');
    assert.deepEqual(auth, [`Basic ${Buffer.from('app:s3cret').toString('base64')}`]);
    assert.deepEqual(
      Object.keys(rfetch.stats().pools).sort(),
      [target.url, `http://localhost:${target.port}`].sort(),
      'the proxied pool is in stats() too',
    );
    await rfetch.close();
    await proxy.close();
    await target.close();
  });

  it('a proxy set live with configureHost() carries the new calls', async () => {
    const target = await startServer((_req, res) => res.end('ok'));
    const { proxy, tunnels } = await startProxy();
    const rfetch = createResilientFetch();
    await (await rfetch(target.url)).text();
    assert.equal(tunnels.length, 0);
    rfetch.configureHost(`127.0.0.1:${target.port}`, { pool: { proxy: proxy.url } });
    await (await rfetch(target.url)).text();
    assert.deepEqual(tunnels, [`127.0.0.1:${target.port}`]);
    await rfetch.close();
    await proxy.close();
    await target.close();
  });

  it('rejects a proxy that is not an http(s) URL, naming the option', () => {
    assert.throws(
      () => createResilientFetch({ pool: { proxy: 'socks5://127.0.0.1:1080' } }),
      /option pool\.proxy must be an http: or https: URL, or false, received "socks5:\/\/127\.0\.0\.1:1080"/,
    );
    assert.throws(
      () => createResilientFetch({ hosts: { '*.a.com': { pool: { proxy: true as never } } } }),
      /option hosts\.\*\.a\.com\.pool\.proxy must be an http: or https: URL, or false, received true/,
    );
  });
});
