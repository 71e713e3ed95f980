/**
 * createResilientFetch(): the fetch-shaped function. Layers: lifecycle -> per-host policies (breaker,
 * retry loop, deadline, attempt timeout) -> transport (Node's fetch over per-host undici pools).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { CircuitStateName } from './breaker.ts';
import { hasAppGlobalDispatcher } from './dispatch/global.ts';
import { isOwnDispatcher, markOwnDispatcher } from './dispatch/own.ts';
import { createPools, hostOfUrl, type OriginPoolStats } from './dispatch/pools.ts';
import { createLimiter, type Limiter } from './dispatch/queue.ts';
import { ClosedError, DestroyedError } from './errors.ts';
import { type CallOutcome, classifyHealth, type HealthStatus, type HostHealth } from './health.ts';
import { createHostTable, type HostPattern } from './hosts.ts';
import { createLifecycle, type LifecycleState } from './lifecycle.ts';
import {
  type CloseOptions,
  type HostOptions,
  type HostPolicy,
  type ResilientFetchOptions,
  type ResilientRequestInit,
  resolveCloseOptions,
  resolveHostOverride,
  resolveHostPattern,
  resolveOptions,
  resolveRequestPolicy,
} from './options.ts';
import { createHostState, type HostState, runCall } from './policies.ts';
import { createQueueTelemetry, createTelemetry } from './telemetry.ts';
import { createFastTransport } from './transport/fast/transport.ts';
import { createNodeFetchTransport, nativeFetch } from './transport/node-fetch.ts';
import { type CallInit, hrefOf, isDictionary, normaliseInit } from './transport/request-shape.ts';
import type { Transport } from './transport/types.ts';

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

/** Health changes of every instance, for tools that observe the process. */
export const healthChannel = diagnosticsChannel.channel('resilient-fetch:health');

export interface HostStats {
  /** `closed`, `open`, `half-open` or `isolated`; `disabled` when the host has no breaker. */
  readonly circuit: CircuitStateName | 'disabled';
  /** Retries the retry budget refused. */
  readonly retriesDenied: number;
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

/** The health of a host never called (or forgotten). */
const unknownHealth = (host: string): HostHealth => ({
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

/** An open, half-open (probe running) or isolated circuit makes a host FAILED. */
const isOpen = (circuit: string | undefined): boolean =>
  circuit === 'open' || circuit === 'half-open' || circuit === 'isolated';

/** A host key from what a user passes to resetCircuit()/isolate(): `hostname:port` or a URL. */
function hostKey(value: string): string {
  if (typeof value === 'string' && value.includes('://')) {
    const host = hostOfUrl(value);
    if (host) return host;
  }
  if (typeof value !== 'string' || !/^[^\s/]+:\d+$/.test(value)) {
    throw new TypeError(
      `resilient-fetch: expected a host as "hostname:port" or an http(s) URL, received ${JSON.stringify(value)}`,
    );
  }
  return value.toLowerCase();
}

type AnyFetch = (...args: unknown[]) => Promise<Response>;

/** Two option groups with the same values (functions by identity). */
const sameOptions = (a: object, b: object): boolean => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) =>
    Object.is((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
};

export function createResilientFetch(options: ResilientFetchOptions = {}): ResilientFetch {
  const resolved = resolveOptions(options);
  const table = createHostTable(resolved, resolved.hosts);
  const pools = createPools(resolved, table);
  let limiter: Limiter | undefined;
  if (resolved.limits) {
    const queueTelemetry = createQueueTelemetry(resolved.telemetry, {
      queued: () => limiter?.queued ?? 0,
      active: () => limiter?.active ?? 0,
    });
    limiter = createLimiter(resolved.limits, pools.dispatcher, queueTelemetry);
  }
  // What Node's fetch dispatches to: the total cap in front of the pools.
  const dispatcher = (limiter?.dispatcher ?? pools.dispatcher) as typeof pools.dispatcher;
  // The cap forwards undici's handler interface as it is: the fast transport may dispatch to it.
  if (limiter && isOwnDispatcher(pools.dispatcher)) markOwnDispatcher(limiter.dispatcher);
  const transport = createFastTransport(createNodeFetchTransport(), isOwnDispatcher);
  const lifecycle = createLifecycle();
  const hosts = new Map<string, HostState>();
  // Aborted by destroy(): ends calls waiting in a backoff, which no pool knows about.
  const shutdown = new AbortController();
  let closing: Promise<void> | undefined;

  const healthListeners = new Set<(change: HealthChange) => void>();
  const telemetry = createTelemetry(resolved.telemetry, {
    circuits: () =>
      [...hosts].flatMap(([host, state]) => (state.breaker ? [[host, state.breaker.state]] : [])),
    health: () => [...hosts.values()].map((state) => [state.host, healthOf(state).status] as const),
    connections: () =>
      Object.values(pools.stats()).map((s) => [s.host, s.connected - s.free, s.free] as const),
  });

  // Per-host state is forgotten once it is back to its default (a closed circuit, not isolated) and idle
  // longer than every window it keeps (health, retry budget): a process calling many hosts stays flat.
  // Swept when the map has doubled since the last sweep, so the cost per new host stays constant, and
  // by an unref'd timer every `idleMs / 2` while any host is known, so state is released within 1.5 x
  // `idleMs` of going idle even when no new host comes.
  const budgetWindowOf = (policy: HostPolicy): number => {
    const budget = policy.retry ? policy.retry.budget : false;
    return budget ? budget.windowMs : 0;
  };
  const idleMs = Math.max(resolved.health.windowMs, budgetWindowOf(resolved));
  let sweepAt = 256;
  const sweep = (now: number) => {
    for (const [host, state] of hosts) {
      const circuit = state.breaker?.state ?? 'closed';
      const idleFor = Math.max(idleMs, budgetWindowOf(state.policy));
      if (circuit === 'closed' && state.active === 0 && now - state.lastUsedAt > idleFor) hosts.delete(host);
    }
    sweepAt = Math.max(256, hosts.size * 2);
    pools.forgetRoutes();
  };
  let sweepTimer: NodeJS.Timeout | undefined;
  const onSweepTimer = () => {
    sweepTimer = undefined;
    sweep(Date.now());
    if (hosts.size > 0) scheduleSweep();
  };
  const scheduleSweep = () => {
    sweepTimer ??= setTimeout(onSweepTimer, Math.ceil(idleMs / 2)).unref();
  };

  const newHostState = (host: string, policy: HostPolicy): HostState =>
    createHostState(host, policy, resolved, (transition) => {
      telemetry.circuit(transition);
      const changed = hosts.get(host);
      if (changed) refreshHealth(changed);
    });

  const hostState = (host: string): HostState => {
    let state = hosts.get(host);
    if (state === undefined) {
      if (hosts.size >= sweepAt) sweep(Date.now());
      state = newHostState(host, table.resolve(host));
      hosts.set(host, state);
      if (sweepTimer === undefined) scheduleSweep();
    }
    return state;
  };

  /**
   * After the overrides changed: pools are re-routed (a replaced pool drains), and each known host takes
   * its new policy for its next calls. Calls in flight keep the policy they started with.
   */
  const applyHostChange = (): void => {
    pools.reconfigure();
    for (const [host, state] of hosts) {
      const policy = table.resolve(host);
      if (policy === state.policy) continue;
      const fresh = newHostState(host, policy);
      const sameBreaker =
        state.policy.circuitBreaker === policy.circuitBreaker ||
        (state.policy.circuitBreaker !== false &&
          policy.circuitBreaker !== false &&
          sameOptions(state.policy.circuitBreaker, policy.circuitBreaker));
      const oldBudget = state.policy.retry ? state.policy.retry.budget : undefined;
      const newBudget = policy.retry ? policy.retry.budget : undefined;
      const sameBudget =
        oldBudget === newBudget || (!!oldBudget && !!newBudget && sameOptions(oldBudget, newBudget));
      // HostState's fields are read-only to the policies; this is the one place that swaps them.
      Object.assign(state, {
        policy,
        breaker: sameBreaker ? state.breaker : fresh.breaker,
        budget: sameBudget ? state.budget : fresh.budget,
      });
      refreshHealth(state);
    }
  };

  const healthOf = (state: HostState, now = Date.now()): HostHealth => {
    const counts = state.health.counts(now);
    const circuit = state.breaker?.state ?? 'disabled';
    return {
      host: state.host,
      status: classifyHealth(counts, isOpen(circuit), resolved.health),
      successRate: counts.calls === 0 ? null : counts.successes / counts.calls,
      ...counts,
      timeouts: counts.failures.timeout,
      latencyMs: state.health.latency(now),
      lastRequestAt: state.health.lastRequestAt,
      circuit,
    };
  };

  /** Recomputes a host's status and tells the listeners when it moved. */
  function refreshHealth(state: HostState): void {
    const counts = state.health.counts();
    const status = classifyHealth(counts, isOpen(state.breaker?.state), resolved.health);
    if (status === state.status) return;
    const from = state.status;
    state.status = status;
    if (healthListeners.size === 0 && !healthChannel.hasSubscribers) return;
    const change: HealthChange = { host: state.host, from, to: status, health: healthOf(state) };
    for (const listener of healthListeners) {
      try {
        listener(change);
      } catch {
        // A listener never breaks a request.
      }
    }
    if (healthChannel.hasSubscribers) healthChannel.publish(change);
  }

  const report = (outcome: CallOutcome): void => {
    telemetry.outcome(outcome);
    const state = hosts.get(outcome.host);
    if (state === undefined) return;
    state.active--;
    state.health.record(outcome);
    refreshHealth(state);
  };
  let destroying: Promise<void> | undefined;

  const onSettled = (response: Response): Response => {
    lifecycle.leave();
    return response;
  };
  const onFailed = (error: unknown): never => {
    lifecycle.leave();
    throw error;
  };

  function resilientFetch(input: string | URL | Request, init?: ResilientRequestInit): Promise<Response> {
    if (lifecycle.state !== 'open') return Promise.reject(new ClosedError());
    // Inputs fetch would refuse are handed to Node's fetch untouched, so they reject exactly as there.
    // biome-ignore lint/complexity/noArguments: native fetch tells 0 arguments from an undefined input.
    if (arguments.length === 0) return (nativeFetch as AnyFetch)();
    if (!isDictionary(init)) return (nativeFetch as AnyFetch)(input, init);
    lifecycle.enter();
    let pending: Promise<Response>;
    try {
      pending = startCall(transport, input, init, normaliseInit(input, init, dispatcher));
    } catch (error) {
      // A throwing getter on the caller's init: fetch would reject with that error too.
      pending = Promise.reject(error);
    }
    return pending.then(onSettled, onFailed);
  }

  function startCall(
    send: Transport,
    input: string | URL | Request,
    init: ResilientRequestInit | undefined,
    { init: fetchInit, signal }: CallInit,
  ): Promise<Response> {
    const href = hrefOf(input);
    // The URL as it is now, as fetch reads it at call time: a URL object the caller changes later
    // must not change where the call (or its retries) go.
    if (!(input instanceof Request)) input = href;
    const host = hostOfUrl(href);
    // data:, blob:, and URLs fetch will refuse: no host, no policy; Node's fetch answers as it does.
    if (host === undefined) return send({ input, init: fetchInit, signal });
    const state = hostState(host);
    const extra = init?.resilience;
    const policy = extra === undefined ? state.policy : resolveRequestPolicy(state.policy, extra, resolved);
    state.active++;
    state.lastUsedAt = Date.now();
    const request = input instanceof Request ? input : undefined;
    const method = String(fetchInit.method ?? request?.method ?? 'GET').toUpperCase();
    const call = {
      input,
      init: fetchInit,
      method,
      host,
      state,
      policy,
      signal,
      shutdown: shutdown.signal,
      hostOf: hostOfUrl,
      hostStateOf: hostState,
      report,
      startedAt: Date.now(),
      attempts: 0,
      sent: 0,
      hopHost: undefined,
      href,
      allowH2: policy.pool.allowH2,
      telemetry,
    };
    return runCall(call, send);
  }

  function destroy(reason = 'destroy() was called'): Promise<void> {
    if (!destroying) {
      lifecycle.beginClose();
      const error = new DestroyedError(reason);
      shutdown.abort(error);
      limiter?.fail(error);
      destroying = pools.destroy(error).then(() => lifecycle.finishClose());
    }
    return destroying;
  }

  function close(closeOptions?: CloseOptions): Promise<void> {
    const { force, drainTimeoutMs } = resolveCloseOptions(closeOptions, resolved.drainTimeoutMs);
    if (force) return destroy();
    if (destroying) return destroying;
    closing ??= drain(drainTimeoutMs);
    return closing;
  }

  async function drain(drainTimeoutMs: number): Promise<void> {
    lifecycle.beginClose();
    const expired = new AbortController();
    const timedOut = new Promise<'timeout'>((resolve) => {
      expired.signal.addEventListener('abort', () => resolve('timeout'), { once: true });
    });
    const timer = setTimeout(() => expired.abort(), drainTimeoutMs);
    // pools.close() rejects only when destroy() overtook it; the destroy is then what we wait for.
    const drained = lifecycle
      .idle()
      .then(() => pools.close(expired.signal))
      .catch(() => destroying);
    const winner = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (winner === 'timeout' || expired.signal.aborted) {
      await destroy(`close() waited drainTimeoutMs (${drainTimeoutMs} ms) and the call had not finished`);
    }
    await destroying;
    lifecycle.finishClose();
  }

  const methods: ResilientFetchMethods = {
    close,
    destroy: () => destroy(),
    stats: () => ({
      state: lifecycle.state,
      inFlight: lifecycle.inFlight,
      pools: pools.stats(),
      transport: hasAppGlobalDispatcher() ? 'global' : 'node',
      sent: { fast: transport.sent.fast, fetch: transport.sent.fetch },
      queue:
        limiter && resolved.limits
          ? {
              active: limiter.active,
              length: limiter.queued,
              maxInFlight: resolved.limits.maxInFlight,
              maxQueue: resolved.limits.maxQueue,
            }
          : null,
      hosts: Object.fromEntries(
        [...hosts].map(([host, state]) => [
          host,
          { circuit: state.breaker?.state ?? 'disabled', retriesDenied: state.retriesDenied },
        ]),
      ),
    }),
    health: ((host?: string) => {
      if (host !== undefined) {
        const key = hostKey(host);
        const state = hosts.get(key);
        // Asking about a host does not start tracking it.
        return state ? healthOf(state) : unknownHealth(key);
      }
      const now = Date.now();
      return [...hosts.values()].map((state) => healthOf(state, now));
    }) as ResilientFetchMethods['health'],
    onHealthChange(listener) {
      if (typeof listener !== 'function') {
        throw new TypeError(
          `resilient-fetch: onHealthChange() expects a function, received ${typeof listener}`,
        );
      }
      healthListeners.add(listener);
      return () => healthListeners.delete(listener);
    },
    resetCircuit: (host) => hosts.get(hostKey(host))?.breaker?.reset(),
    isolate(host) {
      const breaker = hostState(hostKey(host)).breaker;
      if (!breaker)
        throw new TypeError(`resilient-fetch: ${host} has no circuit breaker (circuitBreaker: false)`);
      return breaker.isolate();
    },
    configureHost(pattern, hostOptions) {
      const { key, policy } = resolveHostOverride(resolved, pattern, hostOptions);
      table.set(key, policy);
      applyHostChange();
    },
    removeHost(pattern) {
      const removed = table.delete(resolveHostPattern(pattern));
      if (removed) applyHostChange();
      return removed;
    },
    [Symbol.asyncDispose]: () => close(),
  };
  return Object.assign(resilientFetch, methods);
}
