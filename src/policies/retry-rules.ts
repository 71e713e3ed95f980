/**
 * Retry rules as pure, exported helpers: the delay, Retry-After, idempotency. The budget is in
 * `retry-budget.ts`, the loop in `retry-loop.ts`, what an error is in `outcome/classify.ts`.
 *
 * Why not cockatiel's `retry()`: it sleeps through an abort (aborted at 100 ms during a 3 s backoff, the
 * call rejected at ~3 s and the function ran again), has no retry budget, cannot stop on a Retry-After
 * longer than the max delay, and cannot hand back the last Response after the last attempt. Its backoff
 * strategies have no linear or proportional-jitter variant either. The rules fit in these functions.
 */
import { randomUUID } from 'node:crypto';
import type { ResolvedRetry } from '../options/resolved.ts';
import { maxTimerMs } from '../options/validate.ts';
import { withContext } from '../telemetry/propagation.ts';
import type { FetchInit } from '../transport/types.ts';

/**
 * The delay before retry number `retry` (1 for the first retry), in ms, capped at `maxDelayMs`.
 * `previousDelayMs` feeds decorrelated jitter; `random` is injectable for tests.
 */
export function computeRetryDelay(
  retry: number,
  options: Pick<
    ResolvedRetry,
    'strategy' | 'baseDelayMs' | 'factor' | 'maxDelayMs' | 'jitter' | 'jitterRatio'
  >,
  previousDelayMs = options.baseDelayMs,
  random: () => number = Math.random,
): number {
  const { baseDelayMs: base, maxDelayMs: max } = options;
  let delay: number;
  switch (options.strategy) {
    case 'none':
      return 0;
    case 'fixed':
      delay = base;
      break;
    case 'linear':
      delay = base * retry;
      break;
    default:
      delay = base * options.factor ** (retry - 1);
  }
  delay = Math.min(delay, max);
  switch (options.jitter) {
    case 'proportional':
      delay += delay * options.jitterRatio * (2 * random() - 1);
      break;
    case 'full':
      delay = delay * random();
      break;
    case 'decorrelated': {
      const upper = Math.max(base, previousDelayMs * 3);
      delay = base + (upper - base) * random();
      break;
    }
  }
  return Math.max(0, Math.min(delay, max));
}

const days = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const months = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
// The three HTTP-date forms RFC 9110 (section 5.6.7) tells recipients to accept.
const imfFixdate = new RegExp(`^${days}, \\d{2} ${months} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`);
const rfc850 = new RegExp(
  `^(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${months}-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`,
);
const asctime = new RegExp(`^${days} ${months} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`);

/**
 * A `Retry-After` header as a delay in ms from `now`: delta-seconds or an HTTP-date (IMF-fixdate, RFC 850
 * or asctime, all GMT). `undefined` for a missing or malformed value; a date in the past is 0. A huge
 * value is returned as it is, for the caller to refuse.
 */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  let at = Number.NaN;
  if (imfFixdate.test(text) || rfc850.test(text)) at = Date.parse(text);
  else if (asctime.test(text)) at = Date.parse(`${text} GMT`); // asctime has no zone; HTTP means GMT
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const milliseconds = /^\d+(?:\.\d+)?$/;

/**
 * A `retry-after-ms` value (OpenAI, Anthropic; Azure's `x-ms-retry-after-ms`): a non-negative number of
 * milliseconds, fractions allowed. `undefined` for a missing or malformed value (a sign, a unit, two
 * values joined by a comma, one beyond a timer's reach, about 24.8 days: huge is garbage, not a wait).
 */
export function parseRetryAfterMs(value: string | null): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (!milliseconds.test(text)) return undefined;
  const ms = Number(text);
  return ms <= maxTimerMs ? ms : undefined;
}

/**
 * The delay a response asks for, in ms: `retry-after-ms`, else `x-ms-retry-after-ms`, else `Retry-After`
 * (the first well-formed one wins; a malformed one is passed over). `undefined` when none says.
 */
export function serverRetryDelay(headers: Headers, now = Date.now()): number | undefined {
  return (
    parseRetryAfterMs(headers.get('retry-after-ms')) ??
    parseRetryAfterMs(headers.get('x-ms-retry-after-ms')) ??
    parseRetryAfter(headers.get('retry-after'), now)
  );
}

/**
 * `x-should-retry` (OpenAI, Anthropic): `true` or `false`, any case; `undefined` when absent or anything
 * else.
 */
export function shouldRetryHint(headers: Headers): boolean | undefined {
  const value = headers.get('x-should-retry');
  if (value === null) return undefined;
  const text = value.trim().toLowerCase();
  return text === 'true' ? true : text === 'false' ? false : undefined;
}

const alwaysIdempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Whether a request with this method may be sent twice: the idempotent methods always; POST and PATCH
 * when they carry an `Idempotency-Key` header (`hasIdempotencyKey`, asked only for them) or the user
 * opted in; any other method never.
 */
export function isRetryableMethod(
  method: string,
  hasIdempotencyKey: () => boolean,
  retryNonIdempotent: boolean,
): boolean {
  if (alwaysIdempotent.has(method)) return true;
  if (method !== 'POST' && method !== 'PATCH') return false;
  return retryNonIdempotent || hasIdempotencyKey();
}

/** True when the call's headers (the init's, else the Request's) carry an `Idempotency-Key`. */
export function hasIdempotencyKey(
  input: unknown,
  init: { readonly headers?: RequestInit['headers'] | undefined },
): boolean {
  const headers = init.headers ?? (input instanceof Request ? input.headers : undefined);
  if (headers === undefined) return false;
  try {
    return new Headers(headers).has('idempotency-key');
  } catch {
    return false;
  }
}

const keyName = ['idempotency-key'];

/**
 * A copy of the call's init whose headers (the init's, else the Request's) carry a random
 * `Idempotency-Key` (`crypto.randomUUID()`): one key per call, so every attempt sends the same. The
 * caller's objects are never changed. Ask only when `hasIdempotencyKey` said there is none.
 */
export function withIdempotencyKey(input: string | Request, init: FetchInit): FetchInit {
  const headers = withContext(init.headers, input, { 'idempotency-key': randomUUID() }, keyName);
  return { ...init, headers };
}
