/**
 * The total cap (`limits`): at most maxInFlight requests in flight across all hosts, a bounded FIFO queue
 * behind it, a wait timeout, aborts that leave the queue at once, and slots released by every way a
 * request can end. Real loopback servers that hold their answers until the test lets them go.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import {
  createResilientFetch,
  isQueueFullError,
  isQueueTimeoutError,
  QueueFullError,
  type ResilientFetchOptions,
} from '../../src/index.ts';
import { runInChild } from '../helpers/child.ts';
import { causes } from '../helpers/errors.ts';
import { points, TestReader } from '../helpers/metrics.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';

/**
 * A server that records the order requests arrive in and holds each answer until `release()`; `/big`
 * streams an endless body, `/small` answers at once with a few bytes.
 */
async function holdingServer() {
  const arrived: string[] = [];
  let held: Array<() => void> = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const server = await startServer((req: IncomingMessage, res: ServerResponse) => {
    const path = String(req.url);
    arrived.push(path);
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    if (path.startsWith('/small')) return res.end('small body');
    if (path.startsWith('/big')) {
      res.writeHead(200);
      const timer = setInterval(() => res.write(Buffer.alloc(16 * 1024, 1)), 5);
      res.on('close', () => clearInterval(timer));
      return;
    }
    held.push(() => res.end(`done ${path}`));
  });
  return {
    server,
    arrived,
    get maxInFlight() {
      return maxInFlight;
    },
    release() {
      const now = held;
      held = [];
      for (const answer of now) answer();
    },
    async waitForArrivals(n: number) {
      for (let i = 0; i < 1_000 && arrived.length < n; i++) await sleep(5);
      assert.equal(arrived.length, n, `${n} requests arrived`);
    },
  };
}

const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => assert.fail('the call must reject'),
    (error: unknown) => error,
  );

const base: ResilientFetchOptions = { retry: false, circuitBreaker: false };

describe('total cap and queue', () => {
  let a: Awaited<ReturnType<typeof holdingServer>>;
  let b: Awaited<ReturnType<typeof holdingServer>>;
  before(async () => {
    a = await holdingServer();
    b = await holdingServer();
  });
  after(async () => {
    await a.server.close();
    await b.server.close();
  });

  it('holds at most maxInFlight requests across all hosts and sends the rest in FIFO order', async () => {
    a.arrived.length = 0;
    b.arrived.length = 0;
    const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 2 } });
    const order: string[] = [];
    const call = (s: TestServer, path: string) =>
      rfetch(`${s.url}${path}`).then(async (r) => {
        order.push(await r.text());
      });
    const calls = [
      call(a.server, '/1'),
      call(b.server, '/2'),
      call(a.server, '/3'),
      call(b.server, '/4'),
      call(a.server, '/5'),
    ];
    await a.waitForArrivals(1);
    await b.waitForArrivals(1);
    await sleep(30);
    assert.deepEqual([...a.arrived, ...b.arrived], ['/1', '/2'], 'two hosts, two requests: the cap is total');
    assert.deepEqual(rfetch.stats().queue, { active: 2, length: 3, maxInFlight: 2, maxQueue: 10_000 });
    // Each release lets the oldest waiters through: /3 and /4 before /5.
    a.release();
    b.release();
    await a.waitForArrivals(2);
    await b.waitForArrivals(2);
    assert.deepEqual([...a.arrived, ...b.arrived], ['/1', '/3', '/2', '/4'], 'FIFO: /3 and /4 went first');
    a.release();
    b.release();
    await a.waitForArrivals(3);
    a.release();
    await Promise.all(calls);
    assert.deepEqual(a.arrived, ['/1', '/3', '/5']);
    assert.deepEqual(b.arrived, ['/2', '/4']);
    assert.deepEqual(order.slice(0, 2).sort(), ['done /1', 'done /2']);
    assert.deepEqual(order.slice(2, 4).sort(), ['done /3', 'done /4']);
    assert.equal(order[4], 'done /5');
    assert.equal(rfetch.stats().queue?.active, 0);
    await rfetch.close();
  });

  it('refuses a request when the queue is full: a TypeError whose cause is a QueueFullError', async () => {
    a.arrived.length = 0;
    const reader = new TestReader();
    const rfetch = createResilientFetch({
      retry: { maxRetries: 3, baseDelayMs: 1 },
      limits: { maxInFlight: 1, maxQueue: 1 },
      telemetry: { meterProvider: new MeterProvider({ readers: [reader] }) },
    });
    const first = rfetch(`${a.server.url}/first`);
    const second = rfetch(`${a.server.url}/second`);
    const error = await rejection(rfetch(`${a.server.url}/third`));
    assert.ok(error instanceof TypeError && error.message === 'fetch failed', String(error));
    const cause = error.cause;
    assert.ok(cause instanceof QueueFullError && cause instanceof TypeError);
    assert.ok(isQueueFullError(cause));
    assert.equal(cause.code, 'ERR_RF_QUEUE_FULL');
    assert.equal(cause.host, `127.0.0.1:${a.server.port}`);
    assert.match(cause.message, /1 requests in flight \(limits\.maxInFlight\) and 1 waiting/);
    await a.waitForArrivals(1);
    a.release();
    await a.waitForArrivals(2);
    a.release();
    assert.equal(await (await first).text(), 'done /first');
    assert.equal(await (await second).text(), 'done /second');
    assert.deepEqual(a.arrived, ['/first', '/second'], 'the refused request was never sent, nor retried');
    assert.equal(rfetch.stats().hosts[`127.0.0.1:${a.server.port}`]?.circuit, 'closed');
    const rejected = await points(reader, 'resilient_fetch.queue.rejections');
    assert.deepEqual(
      rejected.map((p) => [p.attributes['resilient_fetch.reason'], p.value]),
      [['queue_full', 1]],
    );
    // The call's one outcome: rejected (not sent), with the queue's code, and not held against the host.
    const calls = await points(reader, 'resilient_fetch.rejections');
    assert.deepEqual(
      calls.map((p) => [p.attributes['resilient_fetch.reason'], p.value]),
      [['ERR_RF_QUEUE_FULL', 1]],
    );
    const outcomes = await points(reader, 'resilient_fetch.call.duration');
    assert.ok(outcomes.some((p) => p.attributes['resilient_fetch.outcome'] === 'rejected'));
    assert.equal(rfetch.health(a.server.url).failures.network, 0);
    const waits = await points(reader, 'resilient_fetch.queue.wait.duration');
    assert.equal((waits[0]?.value as { count: number } | undefined)?.count, 1, 'one request waited');
    await rfetch.close();
  });

  it('ends a request that waited queueTimeoutMs with a QueueTimeoutError, unsent', async () => {
    a.arrived.length = 0;
    const reader = new TestReader();
    const rfetch = createResilientFetch({
      ...base,
      limits: { maxInFlight: 1, queueTimeoutMs: 100 },
      telemetry: { meterProvider: new MeterProvider({ readers: [reader] }) },
    });
    const first = rfetch(`${a.server.url}/first`);
    const started = performance.now();
    const error = await rejection(rfetch(`${a.server.url}/late`));
    const waited = performance.now() - started;
    assert.ok(error instanceof TypeError && error.message === 'fetch failed');
    assert.ok(isQueueTimeoutError(error.cause), String(error.cause));
    assert.equal((error.cause as { code: string }).code, 'ERR_RF_QUEUE_TIMEOUT');
    assert.ok(waited >= 95 && waited < 1_000, `rejected after ${waited} ms`);
    assert.equal(rfetch.stats().queue?.length, 0);
    const length = await points(reader, 'resilient_fetch.queue.length');
    assert.equal(length[0]?.value, 0);
    const active = await points(reader, 'resilient_fetch.queue.active');
    assert.equal(active[0]?.value, 1, 'the first request still holds its slot');
    await a.waitForArrivals(1);
    a.release();
    assert.equal(await (await first).text(), 'done /first');
    assert.deepEqual(a.arrived, ['/first']);
    const rejected = await points(reader, 'resilient_fetch.queue.rejections');
    assert.deepEqual(
      rejected.map((p) => [p.attributes['resilient_fetch.reason'], p.value]),
      [['queue_timeout', 1]],
    );
    await rfetch.close();
  });

  it('an abort while queued removes the waiter at once and rejects with the reason; so does a timeout', async () => {
    a.arrived.length = 0;
    const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 1 } });
    const first = rfetch(`${a.server.url}/first`);
    const controller = new AbortController();
    const queued = rfetch(`${a.server.url}/aborted`, { signal: controller.signal });
    const timedOut = rfetch(`${a.server.url}/timed-out`, { resilience: { timeout: { attemptMs: 80 } } });
    await a.waitForArrivals(1);
    assert.equal(rfetch.stats().queue?.length, 2);
    const reason = new Error('not needed any more');
    controller.abort(reason);
    assert.equal(rfetch.stats().queue?.length, 1, 'removed from the queue synchronously');
    assert.equal(await rejection(queued), reason, "rejects with the caller's reason");
    const timeout = await rejection(timedOut);
    assert.equal((timeout as Error).name, 'TimeoutError');
    assert.equal(rfetch.stats().queue?.length, 0);
    a.release();
    assert.equal(await (await first).text(), 'done /first');
    assert.deepEqual(a.arrived, ['/first'], 'neither waiter was ever sent');
    await rfetch.close();
  });

  describe('a request holds its slot until its body ends, errors or is cancelled', () => {
    // With one slot, a second call can only be sent once the first has released it.
    const next = async (rfetch: ReturnType<typeof createResilientFetch>, s: TestServer) => {
      const started = performance.now();
      const text = await (await rfetch(`${s.url}/small-next`)).text();
      assert.equal(text, 'small body');
      return performance.now() - started;
    };

    it('a body read to its end', async () => {
      const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 1, queueTimeoutMs: 1_000 } });
      await (await rfetch(`${a.server.url}/small`)).text();
      assert.equal(rfetch.stats().queue?.active, 0);
      await next(rfetch, a.server);
      await rfetch.close();
    });

    it('a small body never read', async () => {
      const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 1, queueTimeoutMs: 1_000 } });
      const unread = await rfetch(`${a.server.url}/small`);
      await next(rfetch, a.server);
      assert.equal(rfetch.stats().queue?.active, 0);
      assert.equal(unread.bodyUsed, false);
      await rfetch.close();
    });

    it('an endless body that holds its slot while it flows, and frees it when cancelled', async () => {
      const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 1, queueTimeoutMs: 150 } });
      const streaming = await rfetch(`${a.server.url}/big`);
      const refused = await rejection(next(rfetch, a.server));
      assert.ok(isQueueTimeoutError((refused as Error).cause), 'the flowing body still holds the slot');
      await streaming.body?.cancel();
      await next(rfetch, a.server); // within queueTimeoutMs: the slot was freed
      assert.equal(rfetch.stats().queue?.active, 0);
      await rfetch.close();
    });

    it('a call aborted while its body flows, and one aborted before its headers', async () => {
      const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 1, queueTimeoutMs: 1_000 } });
      const controller = new AbortController();
      const streaming = await rfetch(`${a.server.url}/big`, { signal: controller.signal });
      const reading = streaming.arrayBuffer().catch((e: unknown) => e);
      controller.abort();
      assert.equal(((await reading) as Error).name, 'AbortError');
      await next(rfetch, a.server); // within queueTimeoutMs: the slot was freed

      const waiting = new AbortController();
      const hanging = rfetch(`${a.server.url}/held`, { signal: waiting.signal });
      await sleep(20);
      waiting.abort();
      await rejection(hanging);
      await next(rfetch, a.server); // within queueTimeoutMs: the slot was freed
      assert.equal(rfetch.stats().queue?.active, 0);
      a.release();
      await rfetch.close();
    });

    it('a large body never read, once its Response is garbage-collected (child with --expose-gc)', async () => {
      const src = new URL('../../src/index.ts', import.meta.url).href;
      const script = `
        const { createResilientFetch } = await import(${JSON.stringify(src)});
        const rfetch = createResilientFetch({ retry: false, limits: { maxInFlight: 1, queueTimeoutMs: 2_000 } });
        const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
        // An endless body, never read: undici's buffers fill, the body stalls, the slot stays held.
        await (async () => { await rfetch(${JSON.stringify(`${a.server.url}/big`)}); })();
        await sleep(50);
        const before = rfetch.stats().queue.active;
        for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(20); }
        const afterGc = rfetch.stats().queue.active;
        const text = await (await rfetch(${JSON.stringify(`${a.server.url}/small-next`)})).text();
        console.log(JSON.stringify([before, afterGc, text]));
        await rfetch.close();`;
      const result = await runInChild(['--expose-gc', '--input-type=module', '-e', script]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(JSON.parse(result.stdout), [1, 0, 'small body']);
    });

    it('a request that fails (the connection is refused)', async () => {
      const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 1, queueTimeoutMs: 1_000 } });
      const closed = await startServer(() => {});
      const url = closed.url;
      await closed.close();
      const failed = await rejection(rfetch(url));
      assert.ok(causes(failed).some((e) => (e as { code?: string }).code === 'ECONNREFUSED'));
      await next(rfetch, a.server);
      assert.equal(rfetch.stats().queue?.active, 0);
      await rfetch.close();
    });
  });

  it('destroy() ends the waiting calls with a DestroyedError cause', async () => {
    const rfetch = createResilientFetch({ ...base, limits: { maxInFlight: 1 } });
    const first = rejection(rfetch(`${a.server.url}/held-1`));
    const waiting = rejection(rfetch(`${a.server.url}/held-2`));
    await sleep(20);
    await rfetch.destroy();
    for (const error of [await first, await waiting]) {
      assert.ok(error instanceof TypeError);
      assert.equal((error.cause as { code?: string }).code, 'ERR_RF_DESTROYED');
    }
    assert.equal(rfetch.stats().queue?.length, 0);
    a.release();
  });

  it('limits: false turns the cap off', async () => {
    b.arrived.length = 0;
    const rfetch = createResilientFetch({ ...base, limits: false });
    const calls = Array.from({ length: 5 }, (_, i) => rfetch(`${b.server.url}/free-${i}`));
    await b.waitForArrivals(5);
    assert.equal(rfetch.stats().queue, null);
    b.release();
    await Promise.all(calls.map(async (c) => (await c).text()));
    await rfetch.close();
  });

  it('rejects invalid limits with the option path and the value', () => {
    assert.throws(
      () => createResilientFetch({ limits: { maxInFlight: 0 } }),
      /option limits\.maxInFlight must be an integer >= 1, received 0/,
    );
    assert.throws(
      () => createResilientFetch({ limits: { queueTimeoutMs: true as never } }),
      /option limits\.queueTimeoutMs must be a number, received true/,
    );
    assert.throws(
      () => createResilientFetch({ limits: { maxWaiting: 1 } as never }),
      /unknown option limits\.maxWaiting/,
    );
  });
});
