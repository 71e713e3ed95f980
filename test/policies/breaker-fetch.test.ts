/** The per-host circuit breaker on real calls through createResilientFetch, against loopback servers. */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { CircuitOpenError, ErrorCodes, isCircuitOpenError } from '../../src/errors.ts';
import { createResilientFetch, type ResilientFetch, type ResilientFetchOptions } from '../../src/index.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';

describe('circuit breaker through createResilientFetch', () => {
  let server: TestServer;
  let other: TestServer;
  let host: string;
  /** Requests that reached the server, by path. */
  let hits: Record<string, number> = {};
  const total = () => Object.values(hits).reduce((a, b) => a + b, 0);
  /** Responses of `/hold` kept open until a test ends them. */
  const held: ServerResponse[] = [];
  const instances: ResilientFetch[] = [];

  const fresh = (options: ResilientFetchOptions): ResilientFetch => {
    const rfetch = createResilientFetch(options);
    instances.push(rfetch);
    return rfetch;
  };
  const circuitOf = (rfetch: ResilientFetch, key = host) => rfetch.stats().hosts[key]?.circuit;

  async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
    const start = Date.now();
    while (!condition()) {
      if (Date.now() - start > timeoutMs) throw new Error('condition not met in time');
      await sleep(5);
    }
  }

  /** A call that must be refused by an open circuit; returns its error. */
  async function refused(pending: Promise<Response>): Promise<CircuitOpenError> {
    const error = await pending.then(
      (response) => assert.fail(`expected a CircuitOpenError, got a ${response.status} response`),
      (e: unknown) => e,
    );
    assert.ok(isCircuitOpenError(error), `expected a CircuitOpenError, got ${String(error)}`);
    assert.ok(error instanceof CircuitOpenError);
    return error;
  }

  const handler = (req: import('node:http').IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    hits[url.pathname] = (hits[url.pathname] ?? 0) + 1;
    const status = Number(url.pathname.slice(1));
    if (url.pathname === '/destroy') return req.socket.destroy();
    if (url.pathname === '/hang') return;
    if (url.pathname === '/hold') return void held.push(res);
    if (url.pathname === '/recover') {
      // 503 for the first `fails` hits of this id, then 200.
      const id = `recover:${url.searchParams.get('id')}`;
      hits[id] = (hits[id] ?? 0) + 1;
      res.statusCode = hits[id] <= Number(url.searchParams.get('fails')) ? 503 : 200;
      return void res.end();
    }
    res.statusCode = Number.isInteger(status) && status >= 200 ? status : 200;
    res.end(String(res.statusCode));
  };

  before(async () => {
    server = await startServer(handler);
    other = await startServer(handler);
    host = `127.0.0.1:${server.port}`;
  });
  beforeEach(() => {
    hits = {};
  });
  afterEach(async () => {
    for (const res of held.splice(0)) res.end();
    await Promise.all(instances.splice(0).map((rfetch) => rfetch.destroy()));
  });
  after(async () => {
    await Promise.all([server.close(), other.close()]);
  });

  it('opens after 5 consecutive 5xx calls, then fails fast without touching the network', async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: { halfOpenAfterMs: 150 } });
    for (let i = 0; i < 4; i++) assert.equal((await rfetch(`${server.url}/503`)).status, 503);
    assert.equal(circuitOf(rfetch), 'closed');
    const before = Date.now();
    const fifth = await rfetch(`${server.url}/503`);
    const afterFifth = Date.now();
    assert.equal(fifth.status, 503, 'the failure that opens the circuit still returns its Response');
    assert.equal(circuitOf(rfetch), 'open');
    const connections = server.connections;

    for (const path of ['/200', '/503', '/404']) {
      const error = await refused(rfetch(`${server.url}${path}`));
      assert.ok(error instanceof TypeError, 'a fetch-style network error');
      assert.equal(error.code, ErrorCodes.CIRCUIT_OPEN);
      assert.equal(error.code, 'ERR_RF_CIRCUIT_OPEN');
      assert.equal(error.host, host);
      assert.equal(error.state, 'open');
      assert.ok(error.retryAt instanceof Date);
      const at = error.retryAt.getTime();
      assert.ok(at >= before + 150 && at <= afterFifth + 150, `retryAt ${at} not 150 ms after opening`);
    }
    assert.equal(total(), 5, 'a call was sent while the circuit was open');
    assert.equal(server.connections, connections, 'a connection was opened while the circuit was open');
  });

  it('by default stays open 5 minutes (retryAt about 300 s ahead)', async () => {
    const rfetch = fresh({ retry: false });
    for (let i = 0; i < 5; i++) await rfetch(`${server.url}/500`);
    const error = await refused(rfetch(`${server.url}/200`));
    const ahead = (error.retryAt?.getTime() ?? 0) - Date.now();
    assert.ok(ahead > 295_000 && ahead <= 300_000, `retryAt ${ahead} ms ahead`);
    assert.equal(total(), 5);
  });

  it('counts a call once, after its retries; a call that recovers on a retry is a success', async () => {
    const rfetch = fresh({
      retry: { maxRetries: 2, baseDelayMs: 1, jitter: 'none', budget: false },
      circuitBreaker: { consecutiveFailures: 3, halfOpenAfterMs: 150 },
    });
    for (let i = 0; i < 2; i++) assert.equal((await rfetch(`${server.url}/503`)).status, 503);
    assert.equal(hits['/503'], 6, 'each call makes 3 attempts');
    assert.equal(circuitOf(rfetch), 'closed', 'attempts were counted as calls');
    const recovered = await rfetch(`${server.url}/recover?id=a&fails=2`);
    assert.equal(recovered.status, 200);
    assert.equal(hits['recover:a'], 3);
    for (let i = 0; i < 2; i++) await rfetch(`${server.url}/503`);
    assert.equal(circuitOf(rfetch), 'closed', 'the recovered call did not break the run of failures');
    await rfetch(`${server.url}/503`);
    assert.equal(circuitOf(rfetch), 'open');
    assert.equal(hits['/503'], 15);
    await refused(rfetch(`${server.url}/503`));
    assert.equal(hits['/503'], 15, 'a refused call made attempts');
  });

  it('network errors, attempt timeouts and deadline expiries are failures', async () => {
    const rfetch = fresh({
      retry: false,
      timeout: { attemptMs: 50 },
      circuitBreaker: { consecutiveFailures: 3, halfOpenAfterMs: 150 },
    });
    const destroyed = await rfetch(`${server.url}/destroy`).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(destroyed instanceof TypeError && !isCircuitOpenError(destroyed));
    const timedOut = await rfetch(`${server.url}/hang`).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(timedOut instanceof DOMException && timedOut.name === 'TimeoutError', String(timedOut));
    assert.equal(circuitOf(rfetch), 'closed');
    const expired = await rfetch(`${server.url}/hang`, {
      resilience: { timeout: { attemptMs: 5_000, deadlineMs: 40 } },
    }).then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(expired instanceof DOMException && /deadline/.test(expired.message), String(expired));
    assert.equal(circuitOf(rfetch), 'open');
    await refused(rfetch(`${server.url}/200`));
    assert.equal(total(), 3);
  });

  it('4xx (429 included) and caller aborts do not trip it', async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 150 } });
    for (const status of [404, 429, 400, 429, 403, 429]) {
      assert.equal((await rfetch(`${server.url}/${status}`)).status, status);
    }
    assert.equal(circuitOf(rfetch), 'closed');
    for (let i = 0; i < 3; i++) {
      const controller = new AbortController();
      const pending = rfetch(`${server.url}/hang`, { signal: controller.signal });
      await until(() => (hits['/hang'] ?? 0) > i);
      const reason = new Error(`caller gave up ${i}`);
      controller.abort(reason);
      await assert.rejects(pending, (e) => e === reason);
    }
    assert.equal(circuitOf(rfetch), 'closed');
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    assert.equal(hits['/200'], 1);
  });

  it('a request the caller got wrong (rejected before it is sent) is not a failure of the host', async () => {
    const rfetch = fresh({ retry: false });
    for (let i = 0; i < 5; i++) {
      await assert.rejects(rfetch(`${server.url}/200`, { method: 'GET', body: 'x' }), TypeError);
    }
    assert.equal(total(), 0);
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
  });

  it('half-open lets one probe through while other calls fail fast; its success closes the circuit', async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 100 } });
    for (let i = 0; i < 2; i++) await rfetch(`${server.url}/503`);
    await refused(rfetch(`${server.url}/200`));
    await sleep(130);
    const probe = rfetch(`${server.url}/hold`);
    await until(() => held.length === 1);
    assert.equal(circuitOf(rfetch), 'half-open');
    for (let i = 0; i < 3; i++) {
      const error = await refused(rfetch(`${server.url}/200`));
      assert.equal(error.state, 'half-open');
      assert.equal(error.retryAt, undefined);
    }
    assert.equal(hits['/200'], undefined, 'a call went through beside the probe');
    held.shift()?.end('probe ok');
    const response = await probe;
    assert.equal(await response.text(), 'probe ok');
    assert.equal(circuitOf(rfetch), 'closed');
    for (let i = 0; i < 3; i++) assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    // Closed afresh: one new failure does not re-open it.
    await rfetch(`${server.url}/503`);
    assert.equal(circuitOf(rfetch), 'closed');
  });

  it('a failed probe re-opens it for another halfOpenAfterMs', async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 100 } });
    for (let i = 0; i < 2; i++) await rfetch(`${server.url}/503`);
    await sleep(130);
    const start = Date.now();
    assert.equal((await rfetch(`${server.url}/502`)).status, 502);
    const end = Date.now();
    assert.equal(circuitOf(rfetch), 'open');
    const error = await refused(rfetch(`${server.url}/200`));
    assert.equal(error.state, 'open');
    const at = error.retryAt?.getTime() ?? 0;
    assert.ok(at >= start + 100 && at <= end + 100, `retryAt ${at - end} ms after the probe`);
    assert.equal(hits['/200'], undefined);
    await sleep(130);
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    assert.equal(circuitOf(rfetch), 'closed');
  });

  it('a probe aborted by the caller decides nothing: the next call probes', async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 100 } });
    for (let i = 0; i < 2; i++) await rfetch(`${server.url}/503`);
    await sleep(130);
    const controller = new AbortController();
    const probe = rfetch(`${server.url}/hold`, { signal: controller.signal });
    await until(() => held.length === 1);
    controller.abort();
    await assert.rejects(probe, { name: 'AbortError' });
    assert.equal(circuitOf(rfetch), 'half-open');
    assert.equal((await rfetch(`${server.url}/200`)).status, 200, 'the next call was not let through');
    assert.equal(hits['/200'], 1);
    assert.equal(circuitOf(rfetch), 'closed');
  });

  it('isFailureStatus decides which statuses are failures', async () => {
    const rfetch = fresh({
      retry: false,
      circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 150, isFailureStatus: (s) => s === 404 },
    });
    for (let i = 0; i < 4; i++) assert.equal((await rfetch(`${server.url}/503`)).status, 503);
    assert.equal(circuitOf(rfetch), 'closed', 'a 503 counted although isFailureStatus said no');
    for (let i = 0; i < 2; i++) await rfetch(`${server.url}/404`);
    assert.equal(circuitOf(rfetch), 'open');
    await refused(rfetch(`${server.url}/200`));
    assert.equal(total(), 6);
  });

  it('a throwing isFailureStatus never breaks a request (the default rule decides)', async () => {
    const rfetch = fresh({
      retry: false,
      circuitBreaker: {
        consecutiveFailures: 2,
        halfOpenAfterMs: 150,
        isFailureStatus: () => {
          throw new Error('hook bug');
        },
      },
    });
    for (let i = 0; i < 3; i++) assert.equal(await (await rfetch(`${server.url}/200`)).text(), '200');
    assert.equal((await rfetch(`${server.url}/404`)).status, 404);
    assert.equal(circuitOf(rfetch), 'closed');
    assert.equal((await rfetch(`${server.url}/503`)).status, 503);
    assert.equal((await rfetch(`${server.url}/500`)).status, 500);
    assert.equal(circuitOf(rfetch), 'open', 'with the hook throwing, 5xx stopped counting');
  });

  it("one host's failures never affect another host's calls", async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 150 } });
    const otherHost = `127.0.0.1:${other.port}`;
    // One failure on each: a shared count would reach 2 and open.
    await rfetch(`${server.url}/503`);
    await rfetch(`${other.url}/503`);
    assert.equal(circuitOf(rfetch), 'closed');
    assert.equal(circuitOf(rfetch, otherHost), 'closed');
    await rfetch(`${server.url}/503`);
    assert.equal(circuitOf(rfetch), 'open');
    assert.equal(circuitOf(rfetch, otherHost), 'closed');
    const error = await refused(rfetch(`${server.url}/200`));
    assert.equal(error.host, host);
    for (let i = 0; i < 3; i++) assert.equal((await rfetch(`${other.url}/200`)).status, 200);
    assert.equal(hits['/200'], 3, 'the healthy host was not called');
  });

  it('resetCircuit(host) closes an open circuit at once (by hostname:port or URL)', async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: { consecutiveFailures: 2 } });
    for (let i = 0; i < 2; i++) await rfetch(`${server.url}/503`);
    await refused(rfetch(`${server.url}/200`));
    rfetch.resetCircuit(host);
    assert.equal(circuitOf(rfetch), 'closed');
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    // Reset forgets the failures: one more does not re-open it.
    await rfetch(`${server.url}/503`);
    assert.equal(circuitOf(rfetch), 'closed');
    await rfetch(`${server.url}/503`);
    await refused(rfetch(`${server.url}/200`));
    rfetch.resetCircuit(`${server.url}/some/path?q=1`);
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    assert.equal(hits['/200'], 2);
    assert.throws(() => rfetch.resetCircuit('not a host'), TypeError);
  });

  it('isolate(host) holds it open until released; nested isolations close with the last release', async () => {
    const rfetch = fresh({ retry: false });
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    const first = rfetch.isolate(host);
    const second = rfetch.isolate(`${server.url}/`);
    const error = await refused(rfetch(`${server.url}/200`));
    assert.ok(error instanceof TypeError);
    assert.equal(error.code, 'ERR_RF_CIRCUIT_OPEN');
    assert.equal(error.host, host);
    assert.equal(error.state, 'isolated');
    assert.equal(error.retryAt, undefined);
    assert.equal(circuitOf(rfetch), 'isolated');
    first();
    first();
    await refused(rfetch(`${server.url}/200`));
    assert.equal(hits['/200'], 1, 'an isolated call touched the network');
    second();
    assert.equal(circuitOf(rfetch), 'closed');
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    assert.equal(hits['/200'], 2);
  });

  it('isolate() works on a host not called yet, and not on the others', async () => {
    const rfetch = fresh({ retry: false });
    const release = rfetch.isolate(`127.0.0.1:${other.port}`);
    await refused(rfetch(`${other.url}/200`));
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
    release();
    assert.equal((await rfetch(`${other.url}/200`)).status, 200);
    assert.equal(hits['/200'], 2);
  });

  it('circuitBreaker: false turns it off', async () => {
    const rfetch = fresh({ retry: false, circuitBreaker: false });
    for (let i = 0; i < 12; i++) assert.equal((await rfetch(`${server.url}/503`)).status, 503);
    assert.equal(hits['/503'], 12);
    assert.equal(circuitOf(rfetch), 'disabled');
    assert.throws(() => rfetch.isolate(host), TypeError);
  });

  it('per-host override: another threshold for one host, the breaker off for another', async () => {
    const rfetch = fresh({
      retry: false,
      circuitBreaker: { consecutiveFailures: 3, halfOpenAfterMs: 150 },
      hosts: {
        [host]: { circuitBreaker: { consecutiveFailures: 1 } },
        [`127.0.0.1:${other.port}`]: { circuitBreaker: false },
      },
    });
    await rfetch(`${server.url}/503`);
    assert.equal(circuitOf(rfetch), 'open');
    const error = await refused(rfetch(`${server.url}/200`));
    // The override keeps the top-level halfOpenAfterMs.
    const ahead = (error.retryAt?.getTime() ?? 0) - Date.now();
    assert.ok(ahead > 0 && ahead <= 150, `retryAt ${ahead} ms ahead`);
    for (let i = 0; i < 6; i++) assert.equal((await rfetch(`${other.url}/503`)).status, 503);
    assert.equal(circuitOf(rfetch, `127.0.0.1:${other.port}`), 'disabled');
    assert.equal(hits['/503'], 7);
  });

  it('per-host override turns it on for one host when it is off at the top level', async () => {
    const rfetch = fresh({
      retry: false,
      circuitBreaker: false,
      hosts: { [host]: { circuitBreaker: { consecutiveFailures: 2 } } },
    });
    for (let i = 0; i < 2; i++) await rfetch(`${server.url}/503`);
    await refused(rfetch(`${server.url}/503`));
    for (let i = 0; i < 4; i++) await rfetch(`${other.url}/503`);
    assert.equal(hits['/503'], 6);
    assert.equal(circuitOf(rfetch, `127.0.0.1:${other.port}`), 'disabled');
  });

  it('sampling mode opens on the failure ratio, then fails fast', async () => {
    const rfetch = fresh({
      retry: false,
      circuitBreaker: { mode: 'sampling', failureRatio: 0.5, windowMs: 10_000, minimumRps: 0.5 },
    });
    for (let i = 0; i < 4; i++) await rfetch(`${server.url}/200`);
    for (let i = 0; i < 3; i++) await rfetch(`${server.url}/503`);
    assert.equal(circuitOf(rfetch), 'closed', 'opened at 3 failures in 7 calls');
    // 4 of 8 is the ratio itself, 5 of 9 is above it: open by then, and nothing more is sent.
    let refusedCalls = 0;
    for (let i = 0; i < 4; i++) {
      const outcome = await rfetch(`${server.url}/503`).catch((e: unknown) => e);
      if (isCircuitOpenError(outcome)) refusedCalls++;
    }
    assert.ok(refusedCalls >= 2, `${refusedCalls} of 4 calls refused`);
    assert.equal(hits['/503'], 3 + 4 - refusedCalls);
    assert.equal(circuitOf(rfetch), 'open');
  });

  it('failureRatio 1 in sampling mode is either refused at creation or works', async () => {
    const options: ResilientFetchOptions = {
      retry: false,
      circuitBreaker: { mode: 'sampling', failureRatio: 1 },
    };
    let rfetch: ResilientFetch;
    try {
      rfetch = fresh(options);
    } catch (error) {
      assert.ok(error instanceof RangeError && /failureRatio/.test(error.message), String(error));
      return;
    }
    assert.equal((await rfetch(`${server.url}/200`)).status, 200);
  });

  it('CircuitOpenError and isCircuitOpenError are exported from the package entry', async () => {
    const api: Record<string, unknown> = await import('../../src/index.ts');
    assert.equal(api.CircuitOpenError, CircuitOpenError);
    assert.equal(api.isCircuitOpenError, isCircuitOpenError);
  });
});
