/** Small order statistics for the benchmark. Every function takes a non-empty list. */

const sorted = (values: readonly number[]): number[] => [...values].sort((a, b) => a - b);

/** Nearest-rank percentile (`p` in 0..100) of `values`. */
export function percentile(values: readonly number[], p: number): number {
  const ordered = sorted(values);
  const rank = Math.max(1, Math.ceil((p / 100) * ordered.length));
  return ordered[rank - 1] ?? Number.NaN;
}

/** The median; for an even count, the mean of the two middle values. */
export function median(values: readonly number[]): number {
  const ordered = sorted(values);
  const mid = ordered.length >> 1;
  const upper = ordered[mid] ?? Number.NaN;
  return ordered.length % 2 === 1 ? upper : ((ordered[mid - 1] ?? Number.NaN) + upper) / 2;
}

/** Linearly interpolated quantile (`q` in 0..1), as R's type 7 and numpy's default. */
export function quantile(values: readonly number[], q: number): number {
  const ordered = sorted(values);
  const at = (ordered.length - 1) * q;
  const lower = ordered[Math.floor(at)] ?? Number.NaN;
  const upper = ordered[Math.ceil(at)] ?? Number.NaN;
  return lower + (upper - lower) * (at - Math.floor(at));
}

export interface Spread {
  readonly median: number;
  /** First and third quartiles: half of the rounds fall between them. */
  readonly p25: number;
  readonly p75: number;
  readonly min: number;
  readonly max: number;
}

export function spreadOf(values: readonly number[]): Spread {
  return {
    median: median(values),
    p25: quantile(values, 0.25),
    p75: quantile(values, 0.75),
    min: Math.min(...values),
    max: Math.max(...values),
  };
}

/** mulberry32: a small seeded PRNG, so the same rounds always give the same interval. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** Percentile-bootstrap confidence interval of the median (default 95 %, 2,000 resamples). */
export function bootstrapMedianInterval(
  values: readonly number[],
  level = 0.95,
  resamples = 2_000,
): { readonly low: number; readonly high: number } {
  const random = seededRandom(0x5eed);
  const medians: number[] = [];
  const resample = new Array<number>(values.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < values.length; i++)
      resample[i] = values[Math.floor(random() * values.length)] ?? Number.NaN;
    medians.push(median(resample));
  }
  return { low: quantile(medians, (1 - level) / 2), high: quantile(medians, (1 + level) / 2) };
}
