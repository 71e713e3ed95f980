/**
 * Finagle's retry budget, per host: each call deposits `ratio` of a retry, each retry withdraws one, and
 * a reserve of `minRetriesPerSecond x window` is always there. Counted in one-second buckets over a
 * sliding window (the ring health counts in too).
 */
import { BucketRing } from '../outcome/window.ts';

const CALLS = 0;
const RETRIES = 1;

export class RetryBudget {
  readonly #ratio: number;
  readonly #reserve: number;
  readonly #ring: BucketRing;

  constructor(options: { ratio: number; windowMs: number; minRetriesPerSecond: number }) {
    this.#ratio = options.ratio;
    this.#reserve = options.minRetriesPerSecond * (options.windowMs / 1_000);
    this.#ring = new BucketRing(options.windowMs, 2);
  }

  /** Counts one call (not its retries). */
  recordCall(now = Date.now()): void {
    this.#ring.add(this.#ring.at(now), CALLS, 1);
  }

  /** Takes one retry from the budget; false (and nothing taken) when it is spent. */
  tryRetry(now = Date.now()): boolean {
    const bucket = this.#ring.at(now);
    const totals = this.#ring.totals;
    const calls = totals[CALLS] ?? 0;
    const retries = totals[RETRIES] ?? 0;
    // The epsilon keeps 0.57 x 100 calls (56.99999...) at 57 retries.
    if (retries + 1 > this.#reserve + calls * this.#ratio + 1e-9) return false;
    this.#ring.add(bucket, RETRIES, 1);
    return true;
  }
}
