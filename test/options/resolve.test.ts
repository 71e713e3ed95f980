import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createResilientFetch, defaults, resolveOptions } from '../../src/index.ts';
import { policyForHost, resolveRequestPolicy } from '../../src/options/resolve.ts';

describe('resolveOptions', () => {
  it('fills every field from the defaults and freezes the result', () => {
    const resolved = resolveOptions();
    assert.equal(resolved.drainTimeoutMs, 30_000);
    assert.deepEqual(resolved.pool, {
      connections: 30,
      keepAliveTimeoutMs: 30_000,
      connectTimeoutMs: 30_000,
      headersTimeoutMs: 60_000,
      bodyTimeoutMs: 60_000,
      tls: {},
      allowH2: false,
      proxy: false,
      maxHeaderSize: 16_384,
    });
    assert.deepEqual(resolved.response, { maxBytes: false, maxRatio: false });
    assert.deepEqual(resolved.timeout, { attemptMs: 60_000, deadlineMs: 120_000, deadlineCoversBody: false });
    assert.ok(resolved.retry);
    const { statuses, errorCodes, shouldRetry, budget, ...retry } = resolved.retry;
    assert.deepEqual(retry, {
      strategy: 'exponential',
      maxRetries: 3,
      baseDelayMs: 1_000,
      factor: 2,
      maxDelayMs: 60_000,
      jitter: 'proportional',
      jitterRatio: 0.1,
      retryNonIdempotent: false,
      bufferBodyBytes: 0,
      idempotencyKey: false,
    });
    assert.deepEqual(resolved.rateLimit, { maxWaitMs: 10_000 });
    assert.deepEqual([...statuses], [408, 429, 500, 502, 503, 504]);
    assert.ok(
      errorCodes.has('ECONNRESET') && errorCodes.has('ECONNREFUSED') && errorCodes.has('TimeoutError'),
    );
    assert.ok(errorCodes.has('ENOTFOUND') && errorCodes.has('UND_ERR_SOCKET'));
    assert.equal(shouldRetry, undefined);
    assert.deepEqual(budget, { ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 10 });
    assert.ok(resolved.circuitBreaker);
    const { isFailureStatus, ...breaker } = resolved.circuitBreaker;
    assert.deepEqual(breaker, {
      mode: 'consecutive',
      consecutiveFailures: 5,
      failureRatio: 0.5,
      windowMs: 60_000,
      minimumRps: 1,
      halfOpenAfterMs: 300_000,
    });
    assert.equal(isFailureStatus(503), true);
    assert.equal(isFailureStatus(429), false);
    assert.equal(resolved.hosts.size, 0);
    assert.equal(resolved.pool.connections, defaults.pool.connections);
    for (const group of [
      resolved,
      resolved.pool,
      resolved.retry,
      resolved.circuitBreaker,
      resolved.timeout,
      resolved.response,
    ]) {
      assert.ok(Object.isFrozen(group));
    }
  });

  it('turns retries and the breaker off with false', () => {
    const resolved = resolveOptions({ retry: false, circuitBreaker: false });
    assert.equal(resolved.retry, false);
    assert.equal(resolved.circuitBreaker, false);
  });

  it('merges per-host overrides over the top level, group by group, by exact host or by hostname', () => {
    const resolved = resolveOptions({
      retry: { maxRetries: 5 },
      hosts: {
        'api.example.com:443': { retry: { baseDelayMs: 10 }, timeout: { attemptMs: 5 } },
        'llm.example.com': { retry: false, pool: { connections: 2 } },
      },
    });
    const api = policyForHost(resolved, 'api.example.com:443');
    assert.ok(api.retry);
    assert.equal(api.retry.maxRetries, 5, 'top-level override kept');
    assert.equal(api.retry.baseDelayMs, 10, 'host override applied');
    assert.equal(api.timeout.attemptMs, 5);
    assert.equal(api.timeout.deadlineMs, 120_000);
    const llm = policyForHost(resolved, 'llm.example.com:8443');
    assert.equal(llm.retry, false, 'a hostname key applies to every port');
    assert.equal(llm.pool.connections, 2);
    const other = policyForHost(resolved, 'api.example.com:8080');
    assert.equal(other, resolved, 'another port of an exact-host entry gets the top level');
  });

  it('merges init.resilience over the host policy, and validates it with the init path', () => {
    const resolved = resolveOptions();
    const merged = resolveRequestPolicy(resolved, { retry: { maxRetries: 0 }, timeout: { deadlineMs: 50 } });
    assert.ok(merged.retry);
    assert.equal(merged.retry.maxRetries, 0);
    assert.equal(merged.retry.baseDelayMs, 1_000);
    assert.equal(merged.timeout.deadlineMs, 50);
    assert.equal(merged.timeout.attemptMs, 60_000);
    assert.equal(resolveRequestPolicy(resolved, { retry: false }).retry, false);
    assert.throws(
      () => resolveRequestPolicy(resolved, { timeout: { attemptMs: -1 } }),
      /option init\.resilience\.timeout\.attemptMs must be a finite number between 1 and 2147483647, received -1/,
    );
    assert.throws(
      () => resolveRequestPolicy(resolved, { retry: { budget: false } }),
      /unknown option init\.resilience\.retry\.budget/,
    );
  });

  it('merges user values over the defaults, field by field', () => {
    const resolved = resolveOptions({ pool: { connections: 4 }, drainTimeoutMs: 0 });
    assert.equal(resolved.pool.connections, 4);
    assert.equal(resolved.pool.keepAliveTimeoutMs, 30_000);
    assert.equal(resolved.drainTimeoutMs, 0);
  });

  it('treats an explicit undefined as "use the default"', () => {
    const resolved = resolveOptions({ pool: { connections: undefined }, drainTimeoutMs: undefined });
    assert.equal(resolved.pool.connections, 30);
    assert.equal(resolved.drainTimeoutMs, 30_000);
  });

  it('does not keep a reference to the caller object', () => {
    const user = { pool: { connections: 3 } };
    const resolved = resolveOptions(user);
    user.pool.connections = 99;
    assert.equal(resolved.pool.connections, 3);
  });

  const bad: Array<[string, unknown, ErrorConstructor, RegExp]> = [
    [
      'unknown top-level key',
      { retries: 3 },
      TypeError,
      /unknown option retries \(known options: pool, retry, circuitBreaker, timeout, response, rateLimit, dns, telemetry, health, hosts, drainTimeoutMs, limits\)/,
    ],
    ['unknown nested key', { pool: { maxSockets: 3 } }, TypeError, /unknown option pool\.maxSockets/],
    [
      'negative count',
      { pool: { connections: -1 } },
      RangeError,
      /option pool\.connections must be an integer >= 1, received -1/,
    ],
    ['zero connections', { pool: { connections: 0 } }, RangeError, /pool\.connections .* received 0/],
    ['fractional count', { pool: { connections: 1.5 } }, RangeError, /pool\.connections must be an integer/],
    [
      'NaN delay',
      { pool: { headersTimeoutMs: Number.NaN } },
      RangeError,
      /pool\.headersTimeoutMs .* received NaN/,
    ],
    [
      'infinite delay',
      { pool: { bodyTimeoutMs: Number.POSITIVE_INFINITY } },
      RangeError,
      /received Infinity/,
    ],
    [
      'string number',
      { pool: { connectTimeoutMs: '100' } },
      TypeError,
      /pool\.connectTimeoutMs must be a number, received "100"/,
    ],
    [
      'negative drain',
      { drainTimeoutMs: -5 },
      RangeError,
      /option drainTimeoutMs must be a finite number between 0 and 2147483647, received -5/,
    ],
    ['pool not an object', { pool: 5 }, TypeError, /option pool must be an object, received 5/],
    ['pool an array', { pool: [] }, TypeError, /option pool must be an object, received an array/],
    [
      'options not an object',
      'fast',
      TypeError,
      /resilient-fetch: options must be an object, received "fast"/,
    ],
  ];
  bad.push(
    [
      'unknown strategy',
      { retry: { strategy: 'random' } },
      TypeError,
      /option retry\.strategy must be one of "exponential", "linear", "fixed", "none", received "random"/,
    ],
    [
      'negative retries',
      { retry: { maxRetries: -1 } },
      RangeError,
      /option retry\.maxRetries must be an integer >= 0, received -1/,
    ],
    [
      'NaN base delay',
      { retry: { baseDelayMs: Number.NaN } },
      RangeError,
      /option retry\.baseDelayMs .* received NaN/,
    ],
    [
      'jitter ratio above 1',
      { retry: { jitterRatio: 2 } },
      RangeError,
      /option retry\.jitterRatio must be a finite number between 0 and 1, received 2/,
    ],
    [
      'status out of range',
      { retry: { statuses: [503, 700] } },
      RangeError,
      /option retry\.statuses\[1\] must be an integer between 100 and 599, received 700/,
    ],
    [
      'shouldRetry not a function',
      { retry: { shouldRetry: true } },
      TypeError,
      /option retry\.shouldRetry must be a function, received true/,
    ],
    [
      'budget ratio negative',
      { retry: { budget: { ratio: -0.1 } } },
      RangeError,
      /option retry\.budget\.ratio .* received -0\.1/,
    ],
    ['retry true', { retry: true }, TypeError, /option retry must be an object or false, received true/],
    [
      'failure ratio above 1',
      { circuitBreaker: { failureRatio: 1.5 } },
      RangeError,
      /circuitBreaker\.failureRatio must be a finite number between 0 and 1/,
    ],
    [
      'zero consecutive failures',
      { circuitBreaker: { consecutiveFailures: 0 } },
      RangeError,
      /circuitBreaker\.consecutiveFailures must be an integer >= 1, received 0/,
    ],
    [
      'unknown breaker mode',
      { circuitBreaker: { mode: 'count' } },
      TypeError,
      /circuitBreaker\.mode must be one of "consecutive", "sampling"/,
    ],
    [
      'zero attempt timeout',
      { timeout: { attemptMs: 0 } },
      RangeError,
      /option timeout\.attemptMs must be a finite number between 1 and 2147483647, received 0/,
    ],
    ['timeout false', { timeout: false }, TypeError, /option timeout must be an object, received false/],
    [
      'duration past the timer limit',
      { timeout: { deadlineMs: 3e9 } },
      RangeError,
      /option timeout\.deadlineMs must be a finite number between 1 and 2147483647, received 3000000000/,
    ],
    [
      'health ratios inverted',
      { health: { healthyRatio: 0.7 } },
      RangeError,
      /option health\.degradedRatio must be <= health\.healthyRatio \(0\.7\), received 0\.8/,
    ],
    [
      'bad host override',
      { hosts: { 'api:443': { retry: { factor: 0.5 } } } },
      RangeError,
      /option hosts\.api:443\.retry\.factor must be a finite number >= 1, received 0\.5/,
    ],
    [
      'unknown host option',
      { hosts: { api: { drainTimeoutMs: 5 } } },
      TypeError,
      /unknown option hosts\.api\.drainTimeoutMs/,
    ],
    [
      'host key with a path',
      { hosts: { 'api/v1': {} } },
      TypeError,
      /option hosts key must be hostname, hostname:port or \*\.domain, received "api\/v1"/,
    ],
  );
  for (const [name, options, type, message] of bad) {
    it(`rejects ${name} with a ${type.name} naming the path and value`, () => {
      assert.throws(
        () => resolveOptions(options as never),
        (error: unknown) => {
          assert.ok(error instanceof type, `expected ${type.name}, got ${String(error)}`);
          assert.match((error as Error).message, message);
          return true;
        },
      );
    });
  }

  it('makes createResilientFetch throw synchronously at creation', () => {
    assert.throws(() => createResilientFetch({ pool: { connections: -1 } }), RangeError);
  });
});
