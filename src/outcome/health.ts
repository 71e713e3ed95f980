/**
 * Per-host health, derived from the one outcome record each call produces (the record metrics and spans
 * read too, so they can never disagree).
 *
 * Counted per call, after its retries, over a sliding window kept in one-second buckets: a call fails
 * when it ends in a network error, a timeout, a 5xx or a 429 (the host is not usable); other 4xx are
 * successes; the caller's aborts and calls refused by an open circuit are not counted (they say nothing
 * new about the host). The status rule is a small swappable function (`classifyHealth`).
 */
import { BucketRing } from './window.ts';

export type HealthStatus = 'HEALTHY' | 'DEGRADED' | 'FAILED' | 'TIMEOUT' | 'UNKNOWN';

/** Why a call failed, as health counts it. */
export type FailureKind = 'network' | 'timeout' | 'status_5xx' | 'status_429';

/** The one record of a call's end. */
export interface CallOutcome {
  /** `hostname:port`. */
  readonly host: string;
  readonly method: string;
  /** Epoch ms when the call started. */
  readonly startedAt: number;
  /** From the call's start to its final response headers (or its rejection), in ms. */
  readonly durationMs: number;
  /** Attempts sent (0 when the call was refused before any). */
  readonly attempts: number;
  /**
   * `success`: a response the host is usable with; `failure`: see `failure`; `aborted`: the caller's
   * abort (or our shutdown); `rejected`: refused without touching the network (open circuit);
   * `invalid`: a request fetch refused to send (a caller's mistake).
   */
  readonly result: 'success' | 'failure' | 'aborted' | 'rejected' | 'invalid';
  readonly failure?: FailureKind;
  /** Final status, when the call ended with a response. */
  readonly status?: number;
  /** Error code or class name of the final error (never a message). */
  readonly errorType?: string;
}

export interface HealthThresholds {
  /** @default 60_000 */
  windowMs: number;
  /** Fewer calls than this in the window: UNKNOWN. @default 10 */
  minCalls: number;
  /** Success ratio at or above which a host is HEALTHY. @default 0.95 */
  healthyRatio: number;
  /** Success ratio at or above which a host is DEGRADED (below: FAILED). @default 0.8 */
  degradedRatio: number;
}

export interface HealthCounts {
  readonly calls: number;
  readonly successes: number;
  readonly failures: Readonly<Record<FailureKind, number>>;
  /** Retries made by the calls of the window. */
  readonly retries: number;
}

/** The status rule, first match wins. Pure: exported for users who compose their own views. */
export function classifyHealth(
  counts: HealthCounts,
  circuitOpen: boolean,
  options: HealthThresholds,
): HealthStatus {
  if (circuitOpen) return 'FAILED';
  if (counts.calls < options.minCalls) return 'UNKNOWN';
  const ratio = counts.successes / counts.calls;
  if (ratio >= options.healthyRatio) return 'HEALTHY';
  const { timeout, network, status_5xx, status_429 } = counts.failures;
  if (timeout > 0 && timeout >= Math.max(network, status_5xx, status_429)) return 'TIMEOUT';
  if (ratio >= options.degradedRatio) return 'DEGRADED';
  return 'FAILED';
}

export interface LatencySummary {
  readonly min: number;
  readonly avg: number;
  readonly max: number;
  readonly p50: number;
  readonly p99: number;
}

/** What `rfetch.health(host)` returns. Latencies in ms, over the window. */
export interface HostHealth extends HealthCounts {
  readonly host: string;
  readonly status: HealthStatus;
  /** successes / calls over the window; null without calls. */
  readonly successRate: number | null;
  /** Shorthand for `failures.timeout`. */
  readonly timeouts: number;
  readonly latencyMs: LatencySummary | null;
  /** Epoch ms of the last call's start; null if none yet. */
  readonly lastRequestAt: number | null;
  readonly circuit: string;
}

// In the order of their counters (see `counts`): calls, successes, retries, then one per failure kind.
const kinds: readonly FailureKind[] = ['network', 'timeout', 'status_5xx', 'status_429'];
const SAMPLES = 1_024;

/** The window of one host: one-second buckets of counters and a ring of recent latencies. */
export class HostHealthWindow {
  readonly #ring: BucketRing;
  readonly #latencyAt = new Float64Array(SAMPLES);
  readonly #latency = new Float64Array(SAMPLES);
  #next = 0;
  #stored = 0;
  lastRequestAt: number | null = null;

  constructor(options: HealthThresholds) {
    this.#ring = new BucketRing(options.windowMs, 3 + kinds.length);
  }

  /** Counts one call's outcome; aborted and rejected calls only move `lastRequestAt`. */
  record(outcome: CallOutcome, now = Date.now()): void {
    this.lastRequestAt = outcome.startedAt;
    if (outcome.result !== 'success' && outcome.result !== 'failure') return;
    const ring = this.#ring;
    const bucket = ring.at(now);
    ring.add(bucket, 0, 1);
    if (outcome.result === 'success') ring.add(bucket, 1, 1);
    ring.add(bucket, 2, Math.max(0, outcome.attempts - 1));
    if (outcome.failure) ring.add(bucket, 3 + kinds.indexOf(outcome.failure), 1);
    this.#latencyAt[this.#next] = now;
    this.#latency[this.#next] = outcome.durationMs;
    this.#next = (this.#next + 1) % SAMPLES;
    this.#stored = Math.min(SAMPLES, this.#stored + 1);
  }

  counts(now = Date.now()): HealthCounts {
    this.#ring.at(now);
    const t = this.#ring.totals;
    const failures: Record<FailureKind, number> = {
      network: t[3] ?? 0,
      timeout: t[4] ?? 0,
      status_5xx: t[5] ?? 0,
      status_429: t[6] ?? 0,
    };
    return { calls: t[0] ?? 0, successes: t[1] ?? 0, retries: t[2] ?? 0, failures };
  }

  /** Latency over the window (the most recent 1,024 calls at most), on the same buckets as the counts. */
  latency(now = Date.now()): LatencySummary | null {
    const since = (Math.floor(now / 1_000) - this.#ring.seconds + 1) * 1_000;
    const values: number[] = [];
    for (let i = 0; i < this.#stored; i++) {
      if ((this.#latencyAt[i] ?? 0) >= since) values.push(this.#latency[i] ?? 0);
    }
    if (values.length === 0) return null;
    values.sort((a, b) => a - b);
    const at = (q: number) => values[Math.min(values.length - 1, Math.ceil(q * values.length) - 1)] ?? 0;
    const sum = values.reduce((a, b) => a + b, 0);
    return {
      min: values[0] ?? 0,
      avg: sum / values.length,
      max: values.at(-1) ?? 0,
      p50: at(0.5),
      p99: at(0.99),
    };
  }
}

/** An open, half-open (probe running) or isolated circuit makes a host FAILED. */
export const isCircuitOpen = (circuit: string | undefined): boolean =>
  circuit === 'open' || circuit === 'half-open' || circuit === 'isolated';

/** The health of one host from its window and its circuit (`disabled` when it has no breaker). */
export function hostHealth(
  host: string,
  window: HostHealthWindow,
  circuit: string,
  thresholds: HealthThresholds,
  now = Date.now(),
): HostHealth {
  const counts = window.counts(now);
  return {
    host,
    status: classifyHealth(counts, isCircuitOpen(circuit), thresholds),
    successRate: counts.calls === 0 ? null : counts.successes / counts.calls,
    ...counts,
    timeouts: counts.failures.timeout,
    latencyMs: window.latency(now),
    lastRequestAt: window.lastRequestAt,
    circuit,
  };
}

/** The health of a host never called (or forgotten). */
export const unknownHealth = (host: string): HostHealth => ({
  host,
  status: 'UNKNOWN',
  successRate: null,
  calls: 0,
  successes: 0,
  retries: 0,
  failures: { network: 0, timeout: 0, status_5xx: 0, status_429: 0 },
  timeouts: 0,
  latencyMs: null,
  lastRequestAt: null,
  circuit: 'closed',
});
