/** Redirects across hosts: each host's breaker is judged by what that host answered. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createResilientFetch, isCircuitOpenError } from '../../src/index.ts';
import { startServer } from '../helpers/server.ts';

describe('redirects to another host', () => {
  it("do not make the first host pay for the second one's failures", async () => {
    let bHits = 0;
    const b = await startServer((_req, res) => {
      bHits++;
      res.writeHead(503).end('down');
    });
    const a = await startServer((_req, res) => res.writeHead(302, { location: `${b.url}/target` }).end());
    const rfetch = createResilientFetch({ retry: false, circuitBreaker: { consecutiveFailures: 2 } });
    for (let i = 0; i < 2; i++) {
      const res = await rfetch(`${a.url}/start`);
      assert.equal(res.status, 503);
      assert.equal(res.redirected, true);
      await res.text();
    }
    // b's circuit is open now: the next redirect to it fails fast instead of reaching it.
    const hitsBefore = bHits;
    await assert.rejects(rfetch(`${a.url}/start`), (e: unknown) => isCircuitOpenError(e));
    assert.equal(bHits, hitsBefore);
    const hosts = rfetch.stats().hosts;
    assert.equal(hosts[`127.0.0.1:${a.port}`]?.circuit, 'closed', 'the redirecting host answered fine');
    assert.equal(hosts[`127.0.0.1:${b.port}`]?.circuit, 'open', 'the failing host is judged on its own');
    // A direct call to the failing host now fails fast, without reaching it.
    const before = bHits;
    await assert.rejects(rfetch(`${b.url}/direct`), (e: unknown) => isCircuitOpenError(e));
    assert.equal(bHits, before);
    await rfetch.close();
    await a.close();
    await b.close();
  });

  it('a network failure on the hop to another host counts against that host, not the first', async () => {
    // b accepts connections and resets them: a network error on the redirected hop.
    const b = await startServer((req) => req.socket.destroy());
    const a = await startServer((_req, res) => res.writeHead(307, { location: `${b.url}/target` }).end());
    const rfetch = createResilientFetch({ retry: false, circuitBreaker: { consecutiveFailures: 2 } });
    for (let i = 0; i < 2; i++) {
      await assert.rejects(
        rfetch(`${a.url}/start`),
        (e: unknown) => e instanceof TypeError && e.message === 'fetch failed',
      );
    }
    assert.equal(rfetch.stats().sent.fast, 4, 'two hops per call, both by the fast transport');
    const hosts = rfetch.stats().hosts;
    assert.equal(hosts[`127.0.0.1:${a.port}`]?.circuit, 'closed', 'the redirecting host answered fine');
    assert.equal(hosts[`127.0.0.1:${b.port}`]?.circuit, 'open', 'the host that failed pays for it');
    await rfetch.close();
    await a.close();
    await b.close();
  });

  it('a hop to a host whose circuit is open fails fast with CircuitOpenError, without reaching it', async () => {
    let bHits = 0;
    const b = await startServer((_req, res) => {
      bHits++;
      res.writeHead(503).end('down');
    });
    const a = await startServer((_req, res) => res.writeHead(302, { location: `${b.url}/target` }).end());
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: { consecutiveFailures: 2, halfOpenAfterMs: 60_000 },
    });
    for (let i = 0; i < 2; i++) await (await rfetch(`${b.url}/direct`)).text();
    assert.equal(rfetch.stats().hosts[`127.0.0.1:${b.port}`]?.circuit, 'open');
    const before = bHits;
    const error = await rfetch(`${a.url}/start`).then(
      () => assert.fail('must reject'),
      (e: unknown) => e,
    );
    assert.ok(isCircuitOpenError(error) && error instanceof TypeError);
    assert.equal((error as { host?: string }).host, `127.0.0.1:${b.port}`);
    assert.equal(bHits, before, 'the open host was not contacted');
    assert.equal(rfetch.stats().hosts[`127.0.0.1:${a.port}`]?.circuit, 'closed');
    await rfetch.close();
    await a.close();
    await b.close();
  });

  it("redirect: 'error' is the caller's choice, not a failure of the host", async () => {
    const a = await startServer((req, res) => {
      if (req.url === '/ok') return void res.end('ok');
      res.writeHead(302, { location: '/ok' }).end();
    });
    const rfetch = createResilientFetch({ retry: false, circuitBreaker: { consecutiveFailures: 2 } });
    for (let i = 0; i < 3; i++) {
      await assert.rejects(rfetch(`${a.url}/moved`, { redirect: 'error' }), TypeError);
    }
    assert.equal(rfetch.stats().hosts[`127.0.0.1:${a.port}`]?.circuit, 'closed');
    assert.equal(await (await rfetch(`${a.url}/ok`)).text(), 'ok');
    assert.equal(rfetch.health(a.url).calls, 1, 'refused redirects are not counted in health either');
    await rfetch.close();
    await a.close();
  });
});
