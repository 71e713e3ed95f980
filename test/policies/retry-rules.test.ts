/** The pure retry rules: delay strategies and jitter, Retry-After, which methods are retryable. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaults } from '../../src/options/defaults.ts';
import type { ResolvedRetry } from '../../src/options/resolved.ts';
import { computeRetryDelay, isRetryableMethod, parseRetryAfter } from '../../src/policies/retry-rules.ts';

type DelayOptions = Pick<
  ResolvedRetry,
  'strategy' | 'baseDelayMs' | 'factor' | 'maxDelayMs' | 'jitter' | 'jitterRatio'
>;

/** The default delay options, with `over` applied. */
function delayOptions(over: Partial<DelayOptions> = {}): DelayOptions {
  const { strategy, baseDelayMs, factor, maxDelayMs, jitter, jitterRatio } = defaults.retry;
  return { strategy, baseDelayMs, factor, maxDelayMs, jitter, jitterRatio, ...over };
}

/** 101 evenly spread values in [0, 1), both ends included (0 and 0.999999). */
const randoms = Array.from({ length: 101 }, (_, i) => Math.min(i / 100, 0.999_999));
const fixedRandom = (value: number) => () => value;

describe('computeRetryDelay', () => {
  it('exponential doubles from 1 s (1000, 2000, 4000) and is capped at maxDelayMs', () => {
    const options = delayOptions({ jitter: 'none' });
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => computeRetryDelay(n, options)),
      [1_000, 2_000, 4_000, 8_000],
    );
    const capped = delayOptions({ jitter: 'none', maxDelayMs: 5_000 });
    assert.deepEqual(
      [3, 4, 10, 100, 2_000].map((n) => computeRetryDelay(n, capped)),
      [4_000, 5_000, 5_000, 5_000, 5_000],
    );
    assert.equal(computeRetryDelay(3, delayOptions({ jitter: 'none', factor: 3 })), 9_000);
  });

  it('linear adds the base per retry, fixed repeats it, none waits 0 even with jitter', () => {
    const linear = delayOptions({ strategy: 'linear', jitter: 'none', maxDelayMs: 3_500 });
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => computeRetryDelay(n, linear)),
      [1_000, 2_000, 3_000, 3_500],
    );
    const fixed = delayOptions({ strategy: 'fixed', jitter: 'none', baseDelayMs: 250 });
    assert.deepEqual(
      [1, 2, 5].map((n) => computeRetryDelay(n, fixed)),
      [250, 250, 250],
    );
    for (const jitter of ['proportional', 'full', 'decorrelated', 'none'] as const) {
      for (const r of [0, 0.5, 0.999_999]) {
        assert.equal(
          computeRetryDelay(3, delayOptions({ strategy: 'none', jitter }), 5_000, fixedRandom(r)),
          0,
        );
      }
    }
  });

  it('proportional jitter stays within ±jitterRatio of the delay and spreads over that whole range', () => {
    const options = delayOptions({ jitter: 'proportional', jitterRatio: 0.25 });
    const delays = randoms.map((r) => computeRetryDelay(2, options, undefined, fixedRandom(r)));
    for (const delay of delays) {
      assert.ok(delay >= 1_500 && delay <= 2_500, `${delay} outside [1500, 2500]`);
    }
    assert.equal(Math.min(...delays), 1_500);
    assert.ok(Math.max(...delays) > 2_499);
    assert.equal(computeRetryDelay(2, options, undefined, fixedRandom(0.5)), 2_000);
  });

  it('the default policy (exponential, 10 % proportional jitter) keeps the first retry in [900, 1100] ms', () => {
    const options = delayOptions();
    const delays = Array.from({ length: 500 }, () => computeRetryDelay(1, options));
    for (const delay of delays) assert.ok(delay >= 900 && delay <= 1_100, `${delay} outside [900, 1100]`);
    // Jitter is on: 500 draws of Math.random are not all the same delay.
    assert.ok(new Set(delays).size > 1);
  });

  it('jitter never pushes a capped delay above maxDelayMs', () => {
    const options = delayOptions({ jitter: 'proportional', jitterRatio: 0.5, maxDelayMs: 3_000 });
    for (const r of randoms) {
      const delay = computeRetryDelay(10, options, undefined, fixedRandom(r));
      assert.ok(delay >= 1_500 && delay <= 3_000, `${delay} outside [1500, 3000]`);
    }
  });

  it('full jitter picks in [0, delay]', () => {
    const options = delayOptions({ jitter: 'full' });
    const delays = randoms.map((r) => computeRetryDelay(3, options, undefined, fixedRandom(r)));
    for (const delay of delays) assert.ok(delay >= 0 && delay <= 4_000, `${delay} outside [0, 4000]`);
    assert.equal(Math.min(...delays), 0);
    assert.ok(Math.max(...delays) > 3_990);
    assert.equal(computeRetryDelay(3, options, undefined, fixedRandom(0.5)), 2_000);
  });

  it('decorrelated jitter picks in [base, 3 x previous delay], capped at maxDelayMs', () => {
    const options = delayOptions({ jitter: 'decorrelated', maxDelayMs: 40_000 });
    const delays = randoms.map((r) => computeRetryDelay(2, options, 2_000, fixedRandom(r)));
    for (const delay of delays) assert.ok(delay >= 1_000 && delay <= 6_000, `${delay} outside [1000, 6000]`);
    assert.equal(Math.min(...delays), 1_000);
    assert.ok(Math.max(...delays) > 5_990);
    // Without a previous delay the base is the previous one: [1000, 3000].
    const first = randoms.map((r) => computeRetryDelay(1, options, undefined, fixedRandom(r)));
    for (const delay of first) assert.ok(delay >= 1_000 && delay <= 3_000, `${delay} outside [1000, 3000]`);
    // 3 x 30 s would be 90 s: the cap wins.
    for (const r of randoms) {
      const delay = computeRetryDelay(5, options, 30_000, fixedRandom(r));
      assert.ok(delay >= 1_000 && delay <= 40_000, `${delay} outside [1000, 40000]`);
    }
    assert.equal(computeRetryDelay(5, options, 30_000, fixedRandom(0.999_999)), 40_000);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2026-01-01T00:00:00Z');

  it('reads delta-seconds as milliseconds', () => {
    assert.equal(parseRetryAfter('0', now), 0);
    assert.equal(parseRetryAfter('1', now), 1_000);
    assert.equal(parseRetryAfter('120', now), 120_000);
  });

  it('reads an HTTP-date as the time left until it; a date in the past is 0', () => {
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000);
    assert.equal(parseRetryAfter('Fri, 02 Jan 2026 00:00:00 GMT', now), 86_400_000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now), 0);
    assert.equal(parseRetryAfter('Sun, 06 Nov 1994 08:49:37 GMT', now), 0);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:00 GMT', now), 0);
  });

  it('returns undefined for a missing header and for garbage', () => {
    assert.equal(parseRetryAfter(null, now), undefined);
    for (const garbage of [
      'soon',
      '-5',
      '1.5',
      '',
      '  ',
      '+5',
      '5s',
      '1e3',
      '0x10',
      'Thu, 99 Foo 2026 GMT',
    ]) {
      assert.equal(parseRetryAfter(garbage, now), undefined, JSON.stringify(garbage));
    }
  });

  it('returns undefined for garbage that merely starts with three letters and a space', () => {
    for (const garbage of ['now 5', 'abc 1', 'try 30']) {
      assert.equal(parseRetryAfter(garbage, now), undefined, JSON.stringify(garbage));
    }
  });

  it('accepts the obsolete RFC 850 date format that RFC 9110 §5.6.7 says recipients MUST accept', () => {
    assert.equal(parseRetryAfter('Thursday, 01-Jan-26 00:00:10 GMT', now), 10_000);
  });

  it('returns absurd values as large numbers so the caller can refuse them', () => {
    const maxDelay = defaults.retry.maxDelayMs;
    assert.equal(parseRetryAfter('99999999999', now), 99_999_999_999_000);
    const huge = parseRetryAfter('9'.repeat(400), now);
    assert.equal(typeof huge, 'number');
    assert.ok((huge as number) > maxDelay);
    const farFuture = parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', now);
    assert.ok(typeof farFuture === 'number' && farFuture > maxDelay);
  });
});

describe('isRetryableMethod', () => {
  /** A key callback that counts how often it is asked. */
  function keyCallback(answer: boolean) {
    const callback = () => {
      callback.asked++;
      return answer;
    };
    callback.asked = 0;
    return callback;
  }

  it('GET, HEAD, OPTIONS, TRACE, PUT and DELETE are always retryable, without asking for a key', () => {
    const hasKey = keyCallback(false);
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']) {
      assert.equal(isRetryableMethod(method, hasKey, false), true, method);
    }
    assert.equal(hasKey.asked, 0);
  });

  it('POST and PATCH only with an Idempotency-Key or the opt-in', () => {
    for (const method of ['POST', 'PATCH']) {
      assert.equal(isRetryableMethod(method, keyCallback(false), false), false, `${method} plain`);
      const hasKey = keyCallback(true);
      assert.equal(isRetryableMethod(method, hasKey, false), true, `${method} with key`);
      assert.equal(hasKey.asked, 1);
      assert.equal(isRetryableMethod(method, keyCallback(false), true), true, `${method} opted in`);
    }
  });

  it('CONNECT and custom methods never, whatever the key or the opt-in, and the key is not asked for', () => {
    const hasKey = keyCallback(true);
    for (const method of ['CONNECT', 'PURGE', 'PROPFIND', 'FOO']) {
      assert.equal(isRetryableMethod(method, hasKey, true), false, method);
      assert.equal(isRetryableMethod(method, hasKey, false), false, method);
    }
    assert.equal(hasKey.asked, 0);
  });
});
