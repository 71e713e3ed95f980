/** The DNS cache: host names keep their identity, answers are cached with a TTL, failures briefly. */
import assert from 'node:assert/strict';
import dns, { type LookupAddress, type LookupAllOptions } from 'node:dns';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';
import { sleep, startServer, type TestServer } from '../helpers/server.ts';

type Callback = (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void;

/** A resolver that counts its calls, answers `local.test` with 127.0.0.1 and fails `down.test`. */
function countingResolver() {
  const calls: string[] = [];
  const lookup = (hostname: string, options: LookupAllOptions, callback: Callback) => {
    calls.push(hostname);
    if (hostname === 'local.test') return callback(null, [{ address: '127.0.0.1', family: 4 }]);
    if (hostname === 'down.test') {
      return callback(
        Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }),
        [],
      );
    }
    dns.lookup(hostname, options, callback);
  };
  return { calls, lookup };
}

describe('DNS cache', () => {
  let server: TestServer;
  before(async () => {
    // `connection: close`: every call opens a new connection, so every call would need a lookup.
    server = await startServer((req, res) =>
      res.writeHead(200, { connection: 'close' }).end(req.headers.host),
    );
  });
  after(() => server.close());

  it('resolves a name once per TTL, and keeps the name (not the IP) as the host of pools and policies', async () => {
    const resolver = countingResolver();
    const rfetch = createResilientFetch({ retry: false, dns: { ttlMs: 300, lookup: resolver.lookup } });
    const url = `http://local.test:${server.port}/`;
    for (let i = 0; i < 5; i++) assert.equal(await (await rfetch(url)).text(), `local.test:${server.port}`);
    assert.deepEqual(resolver.calls, ['local.test'], 'five connections, one lookup');
    assert.ok(Object.keys(rfetch.stats().hosts).includes(`local.test:${server.port}`));
    await sleep(350);
    await (await rfetch(url)).text();
    assert.equal(resolver.calls.length, 2, 'looked up again after the TTL');
    await rfetch.close();
  });

  it('shares one lookup between concurrent connections', async () => {
    const resolver = countingResolver();
    const rfetch = createResilientFetch({ retry: false, dns: { lookup: resolver.lookup } });
    const url = `http://local.test:${server.port}/`;
    await Promise.all(Array.from({ length: 6 }, () => rfetch(url).then((r) => r.text())));
    assert.deepEqual(resolver.calls, ['local.test']);
    await rfetch.close();
  });

  it('keeps a failure only errorTtlMs, and the call fails as fetch does', async () => {
    const resolver = countingResolver();
    const rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: false,
      dns: { errorTtlMs: 200, lookup: resolver.lookup },
    });
    const url = `http://down.test:${server.port}/`;
    for (let i = 0; i < 2; i++) {
      await assert.rejects(rfetch(url), (error: unknown) => {
        assert.ok(error instanceof TypeError && error.message === 'fetch failed');
        assert.equal((error.cause as { code?: string }).code, 'ENOTFOUND');
        return true;
      });
    }
    assert.equal(resolver.calls.length, 1, 'the failure was cached');
    await sleep(250);
    await assert.rejects(rfetch(url));
    assert.equal(resolver.calls.length, 2, 'asked again after errorTtlMs');
    await rfetch.close();
  });

  it('validates its options, and false turns it off', async () => {
    assert.throws(
      () => createResilientFetch({ dns: { ttlMs: -1 } }),
      /option dns\.ttlMs must be a finite number between 0 and 2147483647, received -1/,
    );
    assert.throws(
      () => createResilientFetch({ dns: true as never }),
      /option dns must be an object or false, received true/,
    );
    assert.throws(
      () => createResilientFetch({ dns: { lookup: 'x' as never } }),
      /option dns\.lookup must be a function/,
    );
    const rfetch = createResilientFetch({ retry: false, dns: false });
    assert.equal(await (await rfetch(`http://localhost:${server.port}/`)).text(), `localhost:${server.port}`);
    await rfetch.close();
  });
});
