/**
 * Policy options per host (exact host:port over hostname) and per request: bad init.resilience values
 * reject, never throw, and name their path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isTimeoutError } from '../helpers/errors.ts';
import { type FaultServer, respond, startFaultServer } from '../helpers/fault-server.ts';
import { create, fresh, quick } from '../helpers/policies.ts';
import { settle } from '../helpers/settle.ts';

describe('per-host overrides', () => {
  let a: FaultServer;
  let b: FaultServer;
  before(async () => {
    a = await startFaultServer();
    b = await startFaultServer();
  });
  after(async () => {
    await a.close();
    await b.close();
  });

  it('hosts["127.0.0.1:PORT"] applies to that port only', async () => {
    const path = fresh('host-exact');
    a.route(path, [respond(503)]);
    b.route(path, [respond(503)]);
    await using rfetch = create({ retry: quick, hosts: { [a.host]: { retry: { maxRetries: 1 } } } });
    await (await rfetch(`${a.url}${path}`)).text();
    await (await rfetch(`${b.url}${path}`)).text();
    assert.equal(a.hits(path), 2);
    assert.equal(b.hits(path), 4);
  });

  it('a hostname key applies to every port; an exact host:port key wins over it', async () => {
    const path = fresh('host-name');
    a.route(path, [respond(503)]);
    b.route(path, [respond(503)]);
    await using rfetch = create({
      retry: quick,
      hosts: { '127.0.0.1': { retry: false }, [b.host]: { retry: { maxRetries: 2 } } },
    });
    await (await rfetch(`${a.url}${path}`)).text();
    await (await rfetch(`${b.url}${path}`)).text();
    assert.equal(a.hits(path), 1, 'hostname key: retries off');
    assert.equal(b.hits(path), 3, 'exact key: 2 retries');
  });

  it('a per-host timeout applies to that host only', async () => {
    const path = fresh('host-timeout');
    a.route(path, [{ kind: 'slowHeaders', delayMs: 250, next: respond(200) }]);
    b.route(path, [{ kind: 'slowHeaders', delayMs: 250, next: respond(200) }]);
    await using rfetch = create({ retry: false, hosts: { [a.host]: { timeout: { attemptMs: 100 } } } });
    const [slowA, slowB] = await Promise.all([
      settle(rfetch(`${a.url}${path}`), 2_000),
      settle(rfetch(`${b.url}${path}`), 2_000),
    ]);
    assert.equal(slowA.status, 'rejected');
    if (slowA.status === 'rejected') assert.ok(isTimeoutError(slowA.reason));
    assert.equal(slowB.status, 'fulfilled');
    if (slowB.status === 'fulfilled') await slowB.value.text();
  });
});

describe('bad per-request options', () => {
  let server: FaultServer;
  before(async () => {
    server = await startFaultServer();
  });
  after(() => server.close());

  const cases: Array<[unknown, ErrorConstructor, string]> = [
    ['fast', TypeError, 'init.resilience '],
    [{ retries: 3 }, TypeError, 'init.resilience.retries'],
    [{ retry: true }, TypeError, 'init.resilience.retry '],
    [{ retry: { maxRetries: -1 } }, RangeError, 'init.resilience.retry.maxRetries'],
    [{ retry: { maxRetries: 1.5 } }, RangeError, 'init.resilience.retry.maxRetries'],
    [{ retry: { baseDelayMs: Number.NaN } }, RangeError, 'init.resilience.retry.baseDelayMs'],
    [{ retry: { strategy: 'quadratic' } }, TypeError, 'init.resilience.retry.strategy'],
    [{ retry: { jitterRatio: 2 } }, RangeError, 'init.resilience.retry.jitterRatio'],
    [{ retry: { statuses: [503, 700] } }, RangeError, 'init.resilience.retry.statuses[1]'],
    [{ retry: { shouldRetry: 'yes' } }, TypeError, 'init.resilience.retry.shouldRetry'],
    [{ retry: { budget: false } }, TypeError, 'init.resilience.retry.budget'],
    [{ timeout: { attemptMs: 0 } }, RangeError, 'init.resilience.timeout.attemptMs'],
    [{ timeout: { deadlineMs: '1s' } }, TypeError, 'init.resilience.timeout.deadlineMs'],
    [{ timeout: { deadlineCoversBody: 1 } }, TypeError, 'init.resilience.timeout.deadlineCoversBody'],
  ];

  it('reject (never throw synchronously) with a TypeError or RangeError naming init.resilience.<path>', async () => {
    const path = fresh('bad-options');
    server.route(path, [respond(200)]);
    await using rfetch = create();
    for (const [resilience, Kind, name] of cases) {
      let pending: Promise<Response> | undefined;
      assert.doesNotThrow(() => {
        pending = rfetch(`${server.url}${path}`, { resilience: resilience as never });
      }, JSON.stringify(resilience));
      await assert.rejects(pending as Promise<Response>, (e: unknown) => {
        assert.equal((e as Error).constructor, Kind, `${JSON.stringify(resilience)}: ${String(e)}`);
        assert.ok(
          (e as Error).message.includes(name.trim()),
          `${JSON.stringify(resilience)}: "${(e as Error).message}" does not name ${name}`,
        );
        return true;
      });
    }
    assert.equal(server.hits(path), 0, 'nothing was sent');
    assert.equal(rfetch.stats().inFlight, 0);
    const ok = await rfetch(`${server.url}${path}`, { resilience: { retry: { maxRetries: 0 } } });
    assert.equal(ok.status, 200, 'the instance works after bad calls');
    await ok.text();
  });
});
