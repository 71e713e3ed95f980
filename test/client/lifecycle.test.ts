/** Lifecycle of an instance: calls in flight, close() drains, destroy() ends, async dispose. */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  ClosedError,
  createResilientFetch,
  ErrorCodes,
  isClosedError,
  isDestroyedError,
} from '../../src/index.ts';
import { runScriptInChild } from '../helpers/child.ts';
import { causes } from '../helpers/errors.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';

/** Writes one chunk every `everyMs` for `count` chunks (Infinity: never ends). */
function drip(res: ServerResponse, everyMs: number, count: number): void {
  res.writeHead(200, { 'content-type': 'text/plain' });
  let sent = 0;
  const timer = setInterval(() => {
    res.write('x');
    if (++sent >= count) {
      clearInterval(timer);
      res.end();
    }
  }, everyMs);
  res.on('close', () => clearInterval(timer));
}

async function readAll(response: Response): Promise<{ text: string } | { error: unknown }> {
  try {
    return { text: await response.text() };
  } catch (error) {
    return { error };
  }
}

describe('lifecycle', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const delay = Number(url.searchParams.get('delay') ?? 0);
      if (url.pathname === '/drip') return drip(res, 20, Number(url.searchParams.get('n') ?? 10));
      if (url.pathname === '/endless') return drip(res, 20, Number.POSITIVE_INFINITY);
      if (url.pathname === '/hang') return; // never answers
      setTimeout(() => res.end('ok'), delay);
    });
  });
  after(() => server.close());

  it('returns the Response of a plain call and counts it in flight until it settles', async () => {
    const rfetch = createResilientFetch();
    const pending = rfetch(`${server.url}/?delay=50`);
    assert.equal(rfetch.stats().inFlight, 1);
    const response = await pending;
    assert.equal(await response.text(), 'ok');
    assert.equal(rfetch.stats().inFlight, 0);
    assert.equal(rfetch.stats().state, 'open');
    await rfetch.close();
  });

  it('close() lets in-flight calls and their bodies finish, then closes every socket', async () => {
    const rfetch = createResilientFetch();
    const slowHeaders = rfetch(`${server.url}/?delay=150`);
    const dripping = await rfetch(`${server.url}/drip?n=10`);
    await sleep(10);
    const closed = rfetch.close();
    assert.equal(rfetch.stats().state, 'closing');
    const [headersResult, bodyResult] = await Promise.all([
      slowHeaders.then((r) => r.text()),
      readAll(dripping),
      closed,
    ]);
    assert.equal(headersResult, 'ok');
    assert.deepEqual(bodyResult, { text: 'x'.repeat(10) });
    assert.equal(rfetch.stats().state, 'closed');
    assert.deepEqual(rfetch.stats().pools, {});
    await server.socketsClosed(2_000);
  });

  it('rejects calls made after close() with ClosedError, a TypeError with code ERR_RF_CLOSED', async () => {
    const rfetch = createResilientFetch();
    const inFlight = rfetch(`${server.url}/?delay=100`);
    const closed = rfetch.close();
    const error = await rfetch(server.url).then(
      () => assert.fail('a call after close() must reject'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof TypeError, 'fetch callers catch TypeError');
    assert.ok(error instanceof ClosedError);
    assert.equal((error as ClosedError).code, ErrorCodes.CLOSED);
    assert.ok(isClosedError(error));
    assert.match((error as Error).message, /closed/);
    assert.equal(await (await inFlight).text(), 'ok');
    await closed;
    await assert.rejects(rfetch(server.url), ClosedError);
  });

  it('close() destroys what is left after drainTimeoutMs: an endless body errors with ERR_RF_DESTROYED', async () => {
    const rfetch = createResilientFetch({ drainTimeoutMs: 150 });
    const response = await rfetch(`${server.url}/endless`);
    const body = readAll(response);
    const started = performance.now();
    await rfetch.close();
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 140 && elapsed < 1_500, `close took ${elapsed} ms`);
    const result = await body;
    assert.ok('error' in result, 'the endless body must error');
    assert.ok(result.error instanceof TypeError);
    assert.ok(causes(result.error).some(isDestroyedError), 'the cause names the destroy');
    assert.match(String(causes(result.error).find(isDestroyedError)), /drainTimeoutMs \(150 ms\)/);
    await server.socketsClosed(2_000);
  });

  it('close({ drainTimeoutMs }) overrides the instance value', async () => {
    const rfetch = createResilientFetch({ drainTimeoutMs: 60_000 });
    const response = await rfetch(`${server.url}/endless`);
    const body = readAll(response);
    const started = performance.now();
    await rfetch.close({ drainTimeoutMs: 50 });
    assert.ok(performance.now() - started < 1_500);
    assert.ok('error' in (await body));
  });

  it('destroy() ends a call waiting for headers at once with fetch failed caused by ERR_RF_DESTROYED', async () => {
    const rfetch = createResilientFetch();
    const pending = rfetch(`${server.url}/hang`);
    await sleep(30);
    const started = performance.now();
    await rfetch.destroy();
    const error = await pending.then(
      () => assert.fail('must reject'),
      (e: unknown) => e,
    );
    assert.ok(performance.now() - started < 500);
    assert.ok(error instanceof TypeError);
    assert.equal((error as Error).message, 'fetch failed');
    assert.ok(causes(error).some(isDestroyedError), `cause chain: ${causes(error).map(String).join(' <- ')}`);
    assert.equal(rfetch.stats().state, 'closed');
    await assert.rejects(rfetch(server.url), ClosedError);
  });

  it('close({ force: true }) acts as destroy()', async () => {
    const rfetch = createResilientFetch();
    const pending = rfetch(`${server.url}/hang`);
    await sleep(30);
    await rfetch.close({ force: true });
    await assert.rejects(pending, (e: unknown) => causes(e).some(isDestroyedError));
  });

  it('close() and destroy() are idempotent and may be combined', async () => {
    const rfetch = createResilientFetch({ drainTimeoutMs: 5_000 });
    const pending = rfetch(`${server.url}/hang`);
    await sleep(20);
    const first = rfetch.close();
    assert.equal(rfetch.close(), first, 'a second close() returns the same drain');
    // destroy() during a drain ends it at once
    const started = performance.now();
    await Promise.all([rfetch.destroy(), rfetch.destroy()]);
    await first;
    assert.ok(performance.now() - started < 1_000);
    await assert.rejects(pending, (e: unknown) => causes(e).some(isDestroyedError));
    await rfetch.close();
  });

  it('validates close() options', async () => {
    const rfetch = createResilientFetch();
    assert.throws(() => rfetch.close({ drainTimeoutMs: -1 }), /option close\.drainTimeoutMs .* received -1/);
    assert.throws(() => rfetch.close({ nope: true } as never), /unknown option close\.nope/);
    await rfetch.close();
  });

  it('destroy() ends a call waiting in a retry backoff at once, and no attempt follows', async () => {
    let hits = 0;
    const flaky = await startServer((_req, res) => {
      hits++;
      res.writeHead(503).end('busy');
    });
    const rfetch = createResilientFetch({ retry: { baseDelayMs: 5_000, jitter: 'none' } });
    let endedAt = 0;
    const settled = rfetch(flaky.url).then(
      () => assert.fail('must reject'),
      (e: unknown) => {
        endedAt = performance.now();
        return e;
      },
    );
    await sleep(100);
    assert.equal(hits, 1, 'the first attempt happened and the call is in its backoff');
    const started = performance.now();
    await rfetch.destroy();
    const error = await settled;
    assert.ok(endedAt - started < 1_000, 'ended at once, not after the 5 s backoff');
    assert.ok(error instanceof TypeError);
    assert.equal((error as Error).message, 'fetch failed');
    assert.ok(causes(error).some(isDestroyedError));
    await sleep(50);
    assert.equal(hits, 1, 'no attempt after destroy()');
    await flaky.close();
  });

  it('close() lets a call in a retry backoff make its retry and finish', async () => {
    let hits = 0;
    const flaky = await startServer((_req, res) => {
      hits++;
      if (hits === 1) res.writeHead(503).end('busy');
      else res.end('recovered');
    });
    const rfetch = createResilientFetch({ retry: { baseDelayMs: 150, jitter: 'none' } });
    const pending = rfetch(flaky.url);
    await sleep(50);
    const closed = rfetch.close();
    const response = await pending;
    assert.equal(await response.text(), 'recovered');
    await closed;
    assert.equal(hits, 2);
    await flaky.close();
  });

  it('forgets the state of hosts idle past their windows, so memory stays flat across many hosts', async () => {
    // Each 127.0.0.x address is a host of its own; nothing listens there, so every call is refused at once.
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: { consecutiveFailures: 5 },
      health: { windowMs: 1_000 },
    });
    const call = (i: number) =>
      rfetch(`http://127.0.0.${2 + (i % 250)}:${server.port + 1 + Math.floor(i / 250)}/`);
    await Promise.allSettled(Array.from({ length: 300 }, (_, i) => call(i)));
    assert.equal(Object.keys(rfetch.stats().hosts).length, 300);
    await sleep(1_100);
    await Promise.allSettled(Array.from({ length: 300 }, (_, i) => call(300 + i)));
    const kept = Object.keys(rfetch.stats().hosts).length;
    assert.ok(kept < 600, `${kept} host states kept after 600 hosts, half of them idle`);
    await rfetch.close();
  });

  it('supports `await using` through Symbol.asyncDispose', async () => {
    const rfetchRef: { current?: ReturnType<typeof createResilientFetch> } = {};
    {
      await using rfetch = createResilientFetch();
      rfetchRef.current = rfetch;
      assert.equal(await (await rfetch(server.url)).text(), 'ok');
    }
    const observed = rfetchRef.current?.stats();
    assert.equal(observed?.state, 'closed');
  });
});

describe('the process exits by itself', () => {
  const src = new URL('../../src/index.ts', import.meta.url).href;
  const serve = `
    import http from 'node:http';
    const server = http.createServer((req, res) => {
      if (req.url === '/endless') { res.writeHead(200); const t = setInterval(() => res.write('x'), 10); res.on('close', () => clearInterval(t)); return; }
      if (req.url === '/hang') return;
      res.end('ok');
    });
    // The server lives in the child only to keep the test self-contained: its own sockets must not be
    // what keeps the child alive, and its long keep-alive means the client's sockets would.
    server.keepAliveTimeout = 60_000;
    server.on('connection', (socket) => socket.unref());
    await new Promise((r) => server.listen(0, '127.0.0.1', r));
    server.unref();
    const base = 'http://127.0.0.1:' + server.address().port;
    const { createResilientFetch } = await import(${JSON.stringify(src)});
  `;

  it('after calls with no close() at all (idle keep-alive sockets do not hold it)', async () => {
    const result = await runScriptInChild(
      `${serve}
      const rfetch = createResilientFetch();
      console.log(await (await rfetch(base)).text());`,
    );
    assert.equal(result.timedOut, false, 'the child did not exit by itself');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'ok');
  });

  it('after close() with a response stream that never ends', async () => {
    const result = await runScriptInChild(
      `${serve}
      const rfetch = createResilientFetch({ drainTimeoutMs: 100 });
      const res = await rfetch(base + '/endless');
      const reading = res.text().catch((e) => 'body error: ' + e.cause?.code);
      await rfetch.close();
      console.log(await reading);`,
    );
    assert.equal(result.timedOut, false, 'the child did not exit by itself');
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'body error: ERR_RF_DESTROYED');
  });

  it('after destroy() with a call waiting for headers and another reading an endless body', async () => {
    const result = await runScriptInChild(
      `${serve}
      const rfetch = createResilientFetch();
      const hanging = rfetch(base + '/hang').catch((e) => 'call error: ' + e.cause?.code);
      const res = await rfetch(base + '/endless');
      const reading = res.text().catch((e) => 'body error: ' + e.cause?.code);
      await rfetch.destroy();
      console.log(await hanging);
      console.log(await reading);`,
    );
    assert.equal(result.timedOut, false, 'the child did not exit by itself');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), [
      'call error: ERR_RF_DESTROYED',
      'body error: ERR_RF_DESTROYED',
    ]);
  });
});
