/** The public shape of a resilientFetch instance: the function, its methods, what they report. */
import type { OriginPoolStats } from '../dispatch/pools.ts';
import type { HostPattern } from '../hosts/patterns.ts';
import type { CloseOptions, HostOptions, ResilientRequestInit } from '../options/types.ts';
import type { HealthStatus, HostHealth } from '../outcome/health.ts';
import type { CircuitStateName } from '../policies/breaker.ts';
import type { RateLimitStats } from '../policies/pacing.ts';
import type { LifecycleState } from './lifecycle.ts';

export interface ResilientFetchStats {
  /** `open`, then `closing` while `close()` drains, then `closed`. */
  readonly state: LifecycleState;
  /** Calls whose promise has not settled yet. */
  readonly inFlight: number;
  /** One entry per origin with a live pool, keyed by origin. */
  readonly pools: Record<string, OriginPoolStats>;
  /** Policy state per host (`hostname:port`) called so far. */
  readonly hosts: Record<string, HostStats>;
  /**
   * What carries the calls: `node`, our pools of Node's own undici Agent class (no adapter, native speed);
   * `global`, the global dispatcher somebody else chose (the app's ProxyAgent or MockAgent, Node's
   * EnvHttpProxyAgent under `NODE_USE_ENV_PROXY`), used as Node's fetch uses it: policies and telemetry
   * still apply, our pool options do not.
   */
  readonly transport: 'node' | 'global';
  /**
   * Requests sent so far, by route: `fast`, dispatched on our pools directly (src/transport/fast/;
   * each attempt and each redirect hop counts); `fetch`, handed to Node's fetch (each attempt counts once,
   * its redirects are followed inside fetch): any request the fast transport does not reproduce exactly,
   * such as a `Request` input, a `Headers` object, a stream, Blob or FormData body, a redirect mode other
   * than `follow`, or a dispatcher that is not ours.
   */
  readonly sent: { readonly fast: number; readonly fetch: number };
  /** The total cap (`limits`), or null when it is off. */
  readonly queue: QueueStats | null;
}

/** The total cap and its queue. */
export interface QueueStats {
  /**
   * Requests holding a slot: dispatched, and their response body not yet ended, errored or cancelled
   * (each attempt and each redirect hop is one request).
   */
  readonly active: number;
  /** Requests waiting for a slot. */
  readonly length: number;
  readonly maxInFlight: number;
  readonly maxQueue: number;
}

/** A host's health status moved. */
export interface HealthChange {
  readonly host: string;
  readonly from: HealthStatus;
  readonly to: HealthStatus;
  readonly health: HostHealth;
}

export interface HostStats {
  /** `closed`, `open`, `half-open` or `isolated`; `disabled` when the host has no breaker. */
  readonly circuit: CircuitStateName | 'disabled';
  /** Retries the retry budget refused. */
  readonly retriesDenied: number;
  /**
   * What the host said of its rate limit in its last response that said anything (remaining, reset
   * time, limit, policy, which headers), and until when new calls wait (`pacedUntil`, 0: not paced);
   * null when it never said, or when `rateLimit` is off.
   */
  readonly rateLimit: RateLimitStats | null;
}

export interface ResilientFetchMethods {
  /**
   * Graceful shutdown: new calls reject with `ClosedError` (code `ERR_RF_CLOSED`); in-flight calls and
   * their response bodies finish; then the pools close. If that takes longer than `drainTimeoutMs`, what
   * is left is destroyed. Resolves when nothing is left that keeps the process alive. Idempotent.
   */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Ends every in-flight call at once: a call waiting for its response rejects with
   * `TypeError('fetch failed')` whose cause is a `DestroyedError` (code `ERR_RF_DESTROYED`); a body
   * being read errors with that cause. Idempotent.
   */
  destroy(): Promise<void>;
  /** A snapshot of the instance: lifecycle state, calls in flight, per-origin pools, per-host policy state. */
  stats(): ResilientFetchStats;
  /**
   * Closes the circuit of `host` (`hostname:port`, or a URL) at once, as a successful probe would.
   */
  resetCircuit(host: string): void;
  /**
   * Holds the circuit of `host` open: its calls fail fast with `CircuitOpenError` until the returned
   * function is called (isolations nest: the circuit closes when the last one is released).
   */
  isolate(host: string): () => void;
  /** Health of every host called so far (see `health(host)`). */
  health(): HostHealth[];
  /**
   * Health of one host (`hostname:port` or a URL), counted per call over the health window: status
   * (HEALTHY, DEGRADED, FAILED, TIMEOUT, UNKNOWN), success rate, calls, failures by kind, retries,
   * latency, last request time and circuit state. A host never called is UNKNOWN.
   */
  health(host: string): HostHealth;
  /**
   * Calls `listener` whenever a host's health status changes (after a call ends or its circuit moves).
   * Returns the function that unsubscribes. The same changes are published on the diagnostics channel
   * `resilient-fetch:health`. A throwing listener is ignored.
   */
  onHealthChange(listener: (change: HealthChange) => void): () => void;
  /**
   * Sets (replaces) the override of `pattern` (`hostname:port`, `hostname`, `*.domain` or a predicate,
   * as in the `hosts` option), validated as at creation. New calls use it at once; calls in flight
   * finish with the options they started with. When the pool options a host gets change, its old pool
   * is drained (calls and bodies on it finish undisturbed) and closed, and new calls open a new one.
   * A changed `circuitBreaker` group starts the host's circuit afresh (closed); a changed retry budget
   * starts a fresh budget.
   */
  configureHost(pattern: HostPattern, options: HostOptions): void;
  /** Removes the override of `pattern` (as `configureHost` changes it); false when there was none. */
  removeHost(pattern: HostPattern): boolean;
  /** `await using rfetch = createResilientFetch()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * A drop-in replacement for the global fetch, with lifecycle and circuit methods. It accepts everything
 * fetch accepts, plus `init.resilience` for per-request policy overrides.
 */
export interface ResilientFetch extends ResilientFetchMethods {
  (input: string | URL | Request, init?: ResilientRequestInit): Promise<Response>;
}
