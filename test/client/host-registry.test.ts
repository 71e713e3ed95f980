/**
 * Live reconfiguration of the host registry: configureHost() and removeHost() drain the old pool, apply to
 * new calls only, reach hosts already called, keep or restart a circuit, and validate as at creation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';
import { loopback } from '../helpers/dns.ts';
import { sleep, startServer } from '../helpers/server.ts';

describe('live reconfiguration: configureHost() / removeHost()', () => {
  it('drains the old pool: a streaming call finishes on it while new calls use a new pool at once', async () => {
    const sockets = new Map<number, import('node:net').Socket>();
    const server = await startServer((req, res) => {
      sockets.set(req.socket.remotePort ?? 0, req.socket);
      if (req.url === '/stream') {
        res.writeHead(200, { 'x-port': String(req.socket.remotePort) });
        let n = 0;
        const timer = setInterval(() => {
          res.write(`${n}\n`);
          if (++n === 8) {
            clearInterval(timer);
            res.end();
          }
        }, 40);
        return;
      }
      res.end(String(req.socket.remotePort));
    });
    const host = `127.0.0.1:${server.port}`;
    const rfetch = createResilientFetch({ hosts: { [host]: { pool: { connections: 1 } } } });
    const streaming = await rfetch(`${server.url}/stream`);
    const streamPort = Number(streaming.headers.get('x-port'));
    const body = streaming.text();
    let streamDone = false;
    void body.then(() => {
      streamDone = true;
    });

    rfetch.configureHost(host, { pool: { connections: 2 } });
    // With the old pool (one connection, busy with the stream) this call would wait for the stream.
    const port = Number(await (await rfetch(`${server.url}/id`)).text());
    assert.equal(streamDone, false, 'the new call was answered while the old call was still streaming');
    assert.notEqual(port, streamPort, 'the new call used a connection of the new pool');

    assert.equal(await body, '0\n1\n2\n3\n4\n5\n6\n7\n', 'the in-flight call read its whole body');
    // Once its last response ended, the old pool closed its socket (the keep-alive is 30 s).
    const oldSocket = sockets.get(streamPort);
    if (oldSocket && !oldSocket.destroyed) {
      await new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('the drained pool kept its socket')), 1_000);
        oldSocket.once('close', () => resolve(clearTimeout(timer)));
      });
    }
    assert.equal(sockets.get(port)?.destroyed, false, 'the new pool keeps its connection alive');
    await rfetch.close();
    await server.close();
  });

  it('applies retry and timeout changes to new calls; calls in flight keep their options', async () => {
    const hits = new Map<string, number>();
    const server = await startServer((req, res) => {
      const path = String(req.url);
      hits.set(path, (hits.get(path) ?? 0) + 1);
      if (path === '/hang') return; // never answers
      res.writeHead(503).end();
    });
    const host = `127.0.0.1:${server.port}`;
    const rfetch = createResilientFetch({
      circuitBreaker: false,
      retry: false,
      hosts: { [host]: { retry: { maxRetries: 3, baseDelayMs: 60, jitter: 'none' } } },
    });
    const inFlight = rfetch(`${server.url}/a`);
    await sleep(20); // in its first backoff
    rfetch.configureHost(host, { retry: false, timeout: { attemptMs: 100 } });
    const b = await rfetch(`${server.url}/b`);
    assert.equal(b.status, 503);
    assert.equal(hits.get('/b'), 1, 'the new call is not retried');
    assert.equal((await inFlight).status, 503);
    assert.equal(hits.get('/a'), 4, 'the call in flight made all the attempts it started with');

    const started = performance.now();
    await assert.rejects(rfetch(`${server.url}/hang`), (e: unknown) => (e as Error).name === 'TimeoutError');
    assert.ok(performance.now() - started < 1_000, 'the new attempt timeout applies');

    assert.equal(rfetch.removeHost(host), true);
    assert.equal(rfetch.removeHost(host), false, 'nothing left to remove');
    await rfetch.close();
    await server.close();
  });

  it('a wildcard added live reaches hosts already called; removing it restores the top level', async () => {
    const hits = new Map<string, number>();
    const server = await startServer((req, res) => {
      const host = String(req.headers.host);
      hits.set(host, (hits.get(host) ?? 0) + 1);
      res.writeHead(503).end();
    });
    const url = `http://a.live.test:${server.port}/`;
    const rfetch = createResilientFetch({
      dns: { lookup: loopback },
      retry: { maxRetries: 0 },
      circuitBreaker: false,
    });
    const attempts = async () => {
      hits.clear();
      await (await rfetch(url)).arrayBuffer();
      return hits.get(`a.live.test:${server.port}`);
    };
    assert.equal(await attempts(), 1);
    rfetch.configureHost('*.live.test', { retry: { maxRetries: 2, baseDelayMs: 1 } });
    assert.equal(await attempts(), 3);
    rfetch.configureHost(({ port }) => port === server.port, { retry: { maxRetries: 5, baseDelayMs: 1 } });
    assert.equal(await attempts(), 3, 'a wildcard beats a predicate');
    rfetch.removeHost('*.LIVE.test');
    assert.equal(await attempts(), 6, 'the predicate applies once the wildcard is gone');
    await rfetch.close();
    await server.close();
  });

  it('keeps an open circuit when the breaker options do not change, starts afresh when they do', async () => {
    const server = await startServer((_req, res) => res.writeHead(503).end());
    const host = `127.0.0.1:${server.port}`;
    const rfetch = createResilientFetch({ retry: false, circuitBreaker: { consecutiveFailures: 1 } });
    await (await rfetch(server.url)).arrayBuffer();
    assert.equal(rfetch.stats().hosts[host]?.circuit, 'open');
    rfetch.configureHost(host, { timeout: { attemptMs: 5_000 } });
    await assert.rejects(rfetch(server.url), { code: 'ERR_RF_CIRCUIT_OPEN' });
    rfetch.configureHost(host, { circuitBreaker: { consecutiveFailures: 2 } });
    assert.equal(rfetch.stats().hosts[host]?.circuit, 'closed');
    assert.equal((await rfetch(server.url)).status, 503, 'the call went through');
    await rfetch.close();
    await server.close();
  });

  it('validates live changes as at creation, naming the pattern, the option path and the value', () => {
    const rfetch = createResilientFetch();
    assert.throws(
      () => rfetch.configureHost('*.a.com', { pool: { connections: 0 } }),
      (e: unknown) =>
        e instanceof RangeError &&
        /option hosts\.\*\.a\.com\.pool\.connections must be an integer >= 1, received 0/.test(e.message),
    );
    assert.throws(
      () => rfetch.configureHost('api.a.com', { retries: 3 } as never),
      /unknown option hosts\.api\.a\.com\.retries/,
    );
    assert.throws(
      () => rfetch.configureHost('a/b', {}),
      /option hosts pattern must be hostname, hostname:port or \*\.domain, received "a\/b"/,
    );
    assert.throws(() => rfetch.removeHost(42 as never), /option hosts pattern must be a string/);
    assert.equal(rfetch.removeHost('never.added'), false);
  });

  it('the default instance forwards configureHost() and removeHost()', async () => {
    const { resilientFetch } = await import('../../src/index.ts');
    resilientFetch.configureHost('*.default.test', { retry: false });
    assert.equal(resilientFetch.removeHost('*.default.test'), true);
    await resilientFetch.close();
  });
});
