/**
 * Retry rules as pure, exported helpers (the delay, Retry-After, idempotency, what an error is), and the
 * per-host retry budget. The retry loop itself lives in policies.ts.
 *
 * Why not cockatiel's `retry()`: it sleeps through an abort (aborted at 100 ms during a 3 s backoff, the
 * call rejected at ~3 s and the function ran again), has no retry budget, cannot stop on a Retry-After
 * longer than the max delay, and cannot hand back the last Response after the last attempt. Its backoff
 * strategies have no linear or proportional-jitter variant either. The rules fit in these functions.
 */
import type { ResolvedRetry } from './options.ts';

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

/**
 * The code that names an error: the first `code` in its cause chain (ECONNRESET, UND_ERR_SOCKET, ...), or
 * the name of a DOMException (TimeoutError, AbortError), else the error's class name.
 */
export function errorCodeOf(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (current instanceof DOMException) return current.name;
    current = (current as { cause?: unknown }).cause;
  }
  if (error instanceof Error) return error.name;
  return typeof error;
}

/**
 * Finagle's retry budget: each call deposits `ratio` of a retry, each retry withdraws one, and a reserve of
 * `minRetriesPerSecond x window` is always there. Counted in one-second buckets over a sliding window.
 */
export class RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #calls: Float64Array;
  readonly #retries: Float64Array;
  #bucket = -1;

  constructor(options: { ratio: number; windowMs: number; minRetriesPerSecond: number }) {
    const buckets = Math.max(1, Math.ceil(options.windowMs / 1_000));
    this.#ratio = options.ratio;
    this.#reserve = options.minRetriesPerSecond * (options.windowMs / 1_000);
    this.#calls = new Float64Array(buckets);
    this.#retries = new Float64Array(buckets);
  }

  #advance(now: number): number {
    const second = Math.floor(now / 1_000);
    const size = this.#calls.length;
    if (this.#bucket === -1 || second - this.#bucket >= size) {
      this.#calls.fill(0);
      this.#retries.fill(0);
    } else {
      for (let s = this.#bucket + 1; s <= second; s++) {
        this.#calls[s % size] = 0;
        this.#retries[s % size] = 0;
      }
    }
    this.#bucket = second;
    return second % size;
  }

  /** Counts one call (not its retries). */
  recordCall(now = Date.now()): void {
    const slot = this.#advance(now);
    this.#calls[slot] = (this.#calls[slot] ?? 0) + 1;
  }

  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryRetry(now = Date.now()): boolean {
    const slot = this.#advance(now);
    let calls = 0;
    let retries = 0;
    for (let i = 0; i < this.#calls.length; i++) {
      calls += this.#calls[i] ?? 0;
      retries += this.#retries[i] ?? 0;
    }
    // The epsilon keeps 0.57 x 100 calls (56.99999...) at 57 retries.
    if (retries + 1 > this.#reserve + calls * this.#ratio + 1e-9) return false;
    this.#retries[slot] = (this.#retries[slot] ?? 0) + 1;
    return true;
  }
}
