/**
 * The sliding window both health and the retry budget count in: counters in one-second buckets over
 * `windowMs`, with running totals, so that reading the window costs nothing per bucket. Time that goes
 * backwards (a clock set back) counts into the current bucket.
 */
export class BucketRing {
  readonly #buckets: number;
  readonly #width: number;
  /** Per bucket, `width` counters. */
  readonly #counts: Float64Array;
  readonly #totals: Float64Array;
  #second = -1;

  /** A window of `windowMs` (whole seconds, at least one) with `width` counters per bucket. */
  constructor(windowMs: number, width: number) {
    this.#buckets = Math.max(1, Math.ceil(windowMs / 1_000));
    this.#width = width;
    this.#counts = new Float64Array(this.#buckets * width);
    this.#totals = new Float64Array(width);
  }

  /** How many one-second buckets the window has. */
  get seconds(): number {
    return this.#buckets;
  }

  /** The counters summed over the window as of the last `at()`. Read, do not keep. */
  get totals(): Readonly<Float64Array> {
    return this.#totals;
  }

  /** Moves the window to `now` (buckets that fell out are emptied); returns the current bucket. */
  at(now: number): number {
    const second = Math.floor(now / 1_000);
    const width = this.#width;
    if (this.#second === -1 || second - this.#second >= this.#buckets) {
      this.#counts.fill(0);
      this.#totals.fill(0);
    } else {
      for (let s = this.#second + 1; s <= second; s++) {
        const base = (s % this.#buckets) * width;
        for (let i = 0; i < width; i++) {
          this.#totals[i] = (this.#totals[i] ?? 0) - (this.#counts[base + i] ?? 0);
          this.#counts[base + i] = 0;
        }
      }
    }
    if (second > this.#second) this.#second = second;
    return (this.#second % this.#buckets) * width;
  }

  /** Adds `amount` to counter `index` of `bucket` (from `at()`). */
  add(bucket: number, index: number, amount: number): void {
    this.#counts[bucket + index] = (this.#counts[bucket + index] ?? 0) + amount;
    this.#totals[index] = (this.#totals[index] ?? 0) + amount;
  }
}
