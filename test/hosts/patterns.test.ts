/**
 * Per-host overrides by pattern (exact host, hostname, `*.suffix`, predicate), most specific first. Real
 * loopback servers; host names resolve to 127.0.0.1 through `dns.lookup`.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch, type HostTarget, type ResilientFetchOptions } from '../../src/index.ts';
import { policyForHost, resolveOptions } from '../../src/options/resolve.ts';
import { loopback } from '../helpers/dns.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const retries = (maxRetries: number) => ({ retry: { maxRetries } });

describe('host patterns: which override applies', () => {
  const resolved = resolveOptions({
    retry: { maxRetries: 0 },
    hosts: [
      { match: ({ port }: HostTarget) => port === 8080, ...retries(6) },
      { match: () => true, ...retries(7) },
      { match: '*.example.com', ...retries(1) },
      { match: '*.b.example.com', ...retries(2) },
      { match: 'api.b.example.com', ...retries(3) },
      { match: 'API.b.example.com:443', ...retries(4) },
    ],
  });
  const maxRetriesOf = (host: string) => {
    const retry = policyForHost(resolved, host).retry;
    return retry === false ? -1 : retry.maxRetries;
  };

  it('exact host:port > hostname > longest wildcard suffix > predicates in the order given', () => {
    assert.equal(
      maxRetriesOf('api.b.example.com:443'),
      4,
      'exact host and port (matched case-insensitively)',
    );
    assert.equal(maxRetriesOf('api.b.example.com:8443'), 3, 'hostname, any other port');
    assert.equal(maxRetriesOf('x.api.b.example.com:443'), 2, 'the longest wildcard suffix');
    assert.equal(maxRetriesOf('web.b.example.com:443'), 2);
    assert.equal(maxRetriesOf('web.example.com:8080'), 1, 'a wildcard beats every predicate');
    assert.equal(maxRetriesOf('other.org:8080'), 6, 'predicates in order: the first that matches');
    assert.equal(maxRetriesOf('other.org:443'), 7);
  });

  it('a wildcard matches subdomains at any depth, not the bare domain', () => {
    const r = resolveOptions({ hosts: { '*.example.com': { retry: false } } });
    assert.equal(policyForHost(r, 'a.example.com:443').retry, false);
    assert.equal(policyForHost(r, 'a.b.c.example.com:80').retry, false);
    assert.equal(policyForHost(r, 'example.com:443'), r, 'the bare domain gets the top level');
    assert.equal(policyForHost(r, 'badexample.com:443'), r, 'a suffix matches on a label boundary only');
  });

  it('gives a predicate the host, hostname and port; a throwing predicate does not match', () => {
    const seen: HostTarget[] = [];
    const r = resolveOptions({
      hosts: [
        {
          match: () => {
            throw new Error('boom');
          },
          retry: false,
        },
        {
          match: (target: HostTarget) => {
            seen.push(target);
            return target.hostname === '[::1]';
          },
          ...retries(5),
        },
      ],
    });
    const retry = policyForHost(r, '[::1]:8080').retry;
    assert.equal(retry === false ? -1 : retry.maxRetries, 5);
    assert.deepEqual(seen, [{ host: '[::1]:8080', hostname: '[::1]', port: 8080 }]);
  });

  const bad: Array<[string, unknown, ErrorConstructor, RegExp]> = [
    [
      'a wildcard inside the name',
      { hosts: { 'a.*.com': {} } },
      TypeError,
      /option hosts key must be hostname, hostname:port or \*\.domain, received "a\.\*\.com"/,
    ],
    ['a bare *', { hosts: { '*': {} } }, TypeError, /option hosts key must be .*, received "\*"/],
    ['a port out of range', { hosts: { 'api:70000': {} } }, TypeError, /received "api:70000"/],
    [
      'the same pattern twice (after normalising)',
      { hosts: { 'API.example.com': {}, 'api.example.com.': {} } },
      TypeError,
      /option hosts key must be a pattern not given before, received "api\.example\.com\."/,
    ],
    [
      'an array entry without match',
      { hosts: [{ retry: false }] },
      TypeError,
      // `match` is required: a missing one is reported as its invalid value.
      /option hosts\[0\]\.match must be a string \(hostname, hostname:port or \*\.domain\) or a function, received undefined/,
    ],
    [
      'a number as match',
      { hosts: [{ match: 5 }] },
      TypeError,
      /option hosts\[0\]\.match must be a string .* or a function, received 5/,
    ],
    [
      'an unknown option in an array entry',
      { hosts: [{ match: '*.a.com' }, { match: 'b.com', pool: { maxSockets: 1 } }] },
      TypeError,
      /unknown option hosts\[1\]\.pool\.maxSockets/,
    ],
    [
      'an invalid value in an array entry',
      { hosts: [{ match: 'b.com', pool: { connections: 0 } }] },
      RangeError,
      /option hosts\[0\]\.pool\.connections must be an integer >= 1, received 0/,
    ],
    [
      'a duplicate in the array form',
      { hosts: [{ match: '*.a.com' }, { match: '*.A.com' }] },
      TypeError,
      /option hosts\[1\]\.match must be a pattern not given before \(as hosts\[0\]\), received "\*\.a\.com"/,
    ],
    [
      'hosts neither an object nor an array',
      { hosts: 'a.com' },
      TypeError,
      /option hosts must be an object or an array of \{ match, \.\.\.options \}, received "a\.com"/,
    ],
  ];
  for (const [name, options, type, message] of bad) {
    it(`rejects ${name} with a ${type.name} naming the path and value`, () => {
      assert.throws(
        () => createResilientFetch(options as ResilientFetchOptions),
        (error: unknown) => error instanceof type && message.test((error as Error).message),
      );
    });
  }
});

describe('host patterns against a real server', () => {
  let server: TestServer;
  // Hits per Host header: each name is a host of its own for the library.
  const hits = new Map<string, number>();
  before(async () => {
    server = await startServer((req, res: ServerResponse) => {
      const host = String(req.headers.host);
      hits.set(host, (hits.get(host) ?? 0) + 1);
      res.writeHead(503).end('busy');
    });
  });
  after(() => server.close());

  it('applies the most specific override to each host, and the top level to the rest', async () => {
    const port = server.port;
    const rfetch = createResilientFetch({
      dns: { lookup: loopback },
      retry: { maxRetries: 0, baseDelayMs: 1, jitter: 'none' },
      circuitBreaker: false,
      hosts: [
        { match: ({ hostname }: HostTarget) => hostname.startsWith('p.'), ...retries(3) },
        { match: '*.svc.test', ...retries(1) },
        { match: `exact.svc.test:${port}`, ...retries(2) },
      ],
    });
    const names = ['a.svc.test', 'deep.a.svc.test', 'exact.svc.test', 'p.other.test', 'plain.test'];
    for (const name of names) {
      const response = await rfetch(`http://${name}:${port}/`);
      assert.equal(response.status, 503);
      await response.arrayBuffer();
    }
    assert.deepEqual(
      names.map((name) => hits.get(`${name}:${port}`)),
      [2, 2, 3, 4, 1],
      'attempts per host: wildcard 1 retry, exact 2, predicate 3, top level none',
    );
    await rfetch.close();
  });

  it('gives hosts matched by a pattern with pool options the pattern’s pool', async () => {
    const handler = (_req: unknown, res: ServerResponse) => setTimeout(() => res.end('ok'), 40);
    const slow = await startServer(handler);
    const other = await startServer(handler);
    const rfetch = createResilientFetch({
      dns: { lookup: loopback },
      pool: { connections: 4 },
      hosts: { '*.narrow.test': { pool: { connections: 1 } } },
    });
    const calls = (name: string, s: TestServer) =>
      Array.from({ length: 4 }, () => rfetch(`http://${name}:${s.port}/`).then((r) => r.text()));
    await Promise.all([...calls('one.narrow.test', slow), ...calls('wide.test', other)]);
    assert.equal(slow.maxOpenSockets, 1, 'one connection per host under the wildcard');
    assert.equal(other.maxOpenSockets, 4, 'the top-level pool for other hosts');
    await rfetch.close();
    await slow.close();
    await other.close();
  });
});
