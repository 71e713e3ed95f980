import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createResilientFetch, defaults, resolveOptions } from '../src/index.ts';

describe('resolveOptions', () => {
  it('fills every field from the defaults and freezes the result', () => {
    const resolved = resolveOptions();
    assert.deepEqual(resolved, {
      drainTimeoutMs: 30_000,
      pool: {
        connections: 30,
        keepAliveTimeoutMs: 30_000,
        connectTimeoutMs: 30_000,
        headersTimeoutMs: 60_000,
        bodyTimeoutMs: 60_000,
      },
    });
    assert.deepEqual(resolved, defaults);
    assert.ok(Object.isFrozen(resolved));
    assert.ok(Object.isFrozen(resolved.pool));
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
      /unknown option retries \(known options: pool, drainTimeoutMs\)/,
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
      /option drainTimeoutMs must be a finite number >= 0, received -5/,
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
