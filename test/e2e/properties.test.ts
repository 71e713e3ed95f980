/**
 * Property-based tests (issue 17, item 4) with fast-check, over the inputs a caller can give: URL,
 * method, headers, body kinds, `init.resilience` and the options. Each generated call runs against
 * Node's fetch and ours on one real loopback server: both settle, the same way (status, or the error's
 * class, message and cause), and invalid input sends nothing. Invalid options and `init.resilience` get
 * our TypeError or RangeError naming the option path.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { createResilientFetch } from '../../src/index.ts';
import { startServer, type TestServer } from '../helpers/server.ts';
import { settle } from '../helpers/settle.ts';

const runs = Number(process.env.RF_PROPERTY_RUNS ?? 60);

/** What code written for fetch sees of how a call ended. */
async function outcome(call: () => Promise<Response>): Promise<unknown> {
  const out = await settle(Promise.resolve().then(call), 5_000);
  if (out.status === 'pending') return { pending: true };
  if (out.status === 'fulfilled') {
    await out.value.body?.cancel();
    return { status: out.value.status };
  }
  const e = out.reason as {
    constructor?: { name?: string };
    message?: unknown;
    cause?: { message?: unknown };
  };
  return { error: e?.constructor?.name, message: e?.message, cause: e?.cause?.message };
}

const ascii = (maxLength: number) => fc.string({ unit: 'binary-ascii', maxLength });

const methods = fc.oneof(
  fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'get', 'post', 'patch'),
  fc.constantFrom('CONNECT', 'TRACE', 'TRACK', 'M-SEARCH', '', 'GET /', 'G\u00e9T'),
  ascii(6),
);

const headerNames = fc.oneof(
  fc.constantFrom('x-a', 'accept', 'content-type', 'Idempotency-Key', 'host'),
  ascii(6),
);
const headerValues = fc.oneof(fc.constantFrom('1', 'text/plain', ' padded ', ''), ascii(10));
const headers = fc.option(
  fc.oneof(
    fc.dictionary(headerNames, headerValues, { maxKeys: 3 }),
    fc.array(fc.tuple(headerNames, headerValues), { maxLength: 3 }),
  ),
  { nil: undefined },
);

const bodies = fc.oneof(
  fc.constant(undefined),
  fc.constant(null),
  fc.string({ maxLength: 20 }),
  fc.uint8Array({ maxLength: 20 }),
  fc.string({ maxLength: 10 }).map((s) => new URLSearchParams({ q: s })),
  fc.string({ maxLength: 10 }).map((s) => new Blob([s])),
);

describe('properties of generated calls', () => {
  let server: TestServer;
  let hits = 0;
  before(async () => {
    server = await startServer((req, res) => {
      hits++;
      req.resume();
      req.on('end', () => res.end('ok'));
    });
  });
  after(() => server.close());

  /** URLs: our server with generated paths and queries, and inputs fetch refuses. */
  const urls = () =>
    fc.oneof(
      { weight: 3, arbitrary: fc.string({ maxLength: 12 }).map((p) => `${server.url}/${p}`) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          'http://',
          'not a url',
          'http://[::1',
          `ftp://127.0.0.1:${server.port}/`,
          `http://user:pw@127.0.0.1:${server.port}/`,
          'about:blank',
          `http://127.0.0.1:${server.port}/%zz?a=%`,
        ),
      },
    );

  it('every call settles as it does with Node fetch, and invalid input sends nothing', async () => {
    await using rfetch = createResilientFetch({
      retry: false,
      circuitBreaker: false,
      timeout: { attemptMs: 3_000 },
    });
    const kinds = new Set<string>();
    await fc.assert(
      fc.asyncProperty(urls(), methods, headers, bodies, async (url, method, headerInit, body) => {
        const init = { method, headers: headerInit, body } as RequestInit;
        const before = hits;
        const native = await outcome(() => fetch(url, init));
        const nativeSent = hits - before;
        const ours = await outcome(() => rfetch(url, init));
        const oursSent = hits - before - nativeSent;
        assert.deepEqual(ours, native);
        assert.equal(oursSent, nativeSent, 'sent as often as by Node fetch (nothing for invalid input)');
        kinds.add('status' in (native as object) ? 'resolved' : 'rejected');
        if (nativeSent > 0) kinds.add('sent');
      }),
      { numRuns: runs },
    );
    assert.deepEqual(
      [...kinds].sort(),
      ['rejected', 'resolved', 'sent'],
      'the generated calls reach every case',
    );
  });

  it('init.resilience: valid values settle, invalid ones reject with our error naming the path, nothing sent', async () => {
    // Backoffs capped at 10 ms, so that a generated 1 ms attempt timeout with retries settles soon.
    await using rfetch = createResilientFetch({ circuitBreaker: false, retry: { maxDelayMs: 10 } });
    const seen = new Set<string>();
    const value = fc.oneof(
      fc.integer({ min: -5, max: 300 }),
      fc.double({ noDefaultInfinity: false }),
      fc.constantFrom(true, false, null, 'x', [], {}),
    );
    const resilience = fc.record(
      {
        retry: fc.oneof(
          fc.constant(false),
          fc.record({ maxRetries: value, baseDelayMs: value, jitterRatio: value }, { requiredKeys: [] }),
        ),
        timeout: fc.record({ attemptMs: value, deadlineMs: value }, { requiredKeys: [] }),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(resilience, async (policy) => {
        const before = hits;
        const out = await settle(
          Promise.resolve().then(() => rfetch(`${server.url}/r`, { resilience: policy as never })),
          10_000,
        );
        assert.notEqual(out.status, 'pending', 'the call settled');
        seen.add(out.status);
        if (out.status === 'fulfilled') {
          assert.equal(out.value.status, 200);
          await out.value.body?.cancel();
          return;
        }
        const error = out.status === 'rejected' ? (out.reason as Error) : undefined;
        if (error instanceof DOMException && error.name === 'TimeoutError') return; // a tiny valid timeout
        assert.ok(error instanceof TypeError || error instanceof RangeError, String(error));
        assert.match(
          error.message,
          /^resilient-fetch: option init\.resilience\.(retry|timeout)(\.\w+)? must be /,
        );
        assert.equal(hits, before, 'nothing was sent');
      }),
      { numRuns: runs },
    );
    assert.deepEqual(
      [...seen].sort(),
      ['fulfilled', 'rejected'],
      'valid and invalid policies were generated',
    );
  });
});

describe('properties of generated options', () => {
  const paths = [
    'pool.connections',
    'pool.keepAliveTimeoutMs',
    'pool.headersTimeoutMs',
    'retry.maxRetries',
    'retry.jitterRatio',
    'retry.factor',
    'circuitBreaker.consecutiveFailures',
    'circuitBreaker.failureRatio',
    'timeout.attemptMs',
    'health.windowMs',
    'limits.maxInFlight',
    'dns.ttlMs',
    'telemetry.maxHosts',
    'drainTimeoutMs',
  ];
  const bad = fc.oneof(
    fc.constantFrom(-1, 0.5, Number.NaN, Number.POSITIVE_INFINITY, -0.001, 2 ** 40, null, '10', true, [], {}),
    fc.string({ maxLength: 4 }),
    fc.integer({ max: -1 }),
  );

  /** `{ a: { b: value } }` for 'a.b'. */
  const optionsAt = (path: string, value: unknown): Record<string, unknown> =>
    path.split('.').reduceRight<unknown>((inner, key) => ({ [key]: inner }), value) as Record<
      string,
      unknown
    >;

  /** Values the option accepts after all (an integer >= 1 for connections is fine, 0.5 for a ratio). */
  const accepted = (path: string, value: unknown): boolean => {
    try {
      void createResilientFetch(optionsAt(path, value)).close();
      return true;
    } catch {
      return false;
    }
  };

  it('an invalid option throws our TypeError or RangeError naming its path and the value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...paths), bad, (path, value) => {
        fc.pre(!accepted(path, value));
        assert.throws(
          () => createResilientFetch(optionsAt(path, value)),
          (e: Error) =>
            (e instanceof TypeError || e instanceof RangeError) &&
            e.message.startsWith(`resilient-fetch: option ${path} must be `) &&
            e.message.includes('received '),
        );
        // The same through configureHost, as hosts.<pattern>.<path> (host options only).
        if (['pool', 'retry', 'circuitBreaker', 'timeout'].includes(path.split('.')[0] as string)) {
          const rfetch = createResilientFetch();
          assert.throws(
            () => rfetch.configureHost('prop.example', optionsAt(path, value)),
            (e: Error) => e.message.startsWith(`resilient-fetch: option hosts.prop.example.${path} must be `),
          );
          void rfetch.close();
        }
      }),
      { numRuns: runs * 2 },
    );
  });

  it('an unknown option is refused, naming it', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('', 'pool.', 'retry.', 'timeout.', 'telemetry.'),
        fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'), minLength: 1, maxLength: 8 }),
        (group, key) => {
          const path = `${group}${key}Zz`;
          assert.throws(
            () => createResilientFetch(optionsAt(path, 1)),
            new RegExp(`unknown option ${path.replace('.', '\\.')} `),
          );
        },
      ),
      { numRuns: runs },
    );
  });
});

describe('properties of response limits', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((req, res) => {
      const q = new URL(req.url ?? '/', 'http://x').searchParams;
      const raw = Buffer.alloc(Number(q.get('n')), 'a');
      const body = q.has('gzip') ? gzipSync(raw) : raw;
      const headers: Record<string, string | number> = q.has('gzip') ? { 'content-encoding': 'gzip' } : {};
      if (!q.has('chunked')) headers['content-length'] = body.length;
      res.writeHead(200, headers).end(body);
    });
  });
  after(() => server.close());

  it('a body is read whole exactly when its decoded size is within maxBytes, on both routes', async () => {
    await using rfetch = createResilientFetch({ retry: false });
    const call = fc.record({
      size: fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 40 })),
      maxBytes: fc.oneof(fc.integer({ min: 0, max: 200_000 }), fc.integer({ min: 0, max: 40 })),
      gzip: fc.boolean(),
      chunked: fc.boolean(),
      viaRequest: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(call, async ({ size, maxBytes, gzip, chunked, viaRequest }) => {
        const url = `${server.url}/?n=${size}${gzip ? '&gzip' : ''}${chunked ? '&chunked' : ''}`;
        const init = { resilience: { response: { maxBytes } } } as RequestInit;
        const read = async () =>
          (await (viaRequest ? rfetch(new Request(url), init) : rfetch(url, init))).arrayBuffer();
        const out = await settle(read(), 5_000);
        if (size <= maxBytes) {
          assert.equal(out.status, 'fulfilled', String(out.status === 'rejected' && out.reason));
          assert.equal(out.status === 'fulfilled' && out.value.byteLength, size);
          return;
        }
        assert.equal(out.status, 'rejected');
        const error = (out as { reason: TypeError }).reason;
        // Before the body when an unencoded body's content-length is over the cap, else while reading.
        assert.ok(['fetch failed', 'terminated'].includes(error.message), error.message);
        assert.equal((error.cause as { code?: string }).code, 'ERR_RF_RESPONSE_TOO_LARGE');
      }),
      { numRuns: Math.ceil(runs / 2) },
    );
  });
});
