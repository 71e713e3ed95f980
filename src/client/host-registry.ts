/**
 * The per-host registry of one instance: the state each host called so far keeps (its policy, breaker
 * and budget for the policies; its health window and activity for the client), created on first use,
 * re-resolved when the host overrides change, and forgotten once idle.
 *
 * Per-host state is forgotten once it is back to its default (a closed circuit, not isolated) and idle
 * longer than every window it keeps (health, retry budget): a process calling many hosts stays flat.
 * Swept when the map has doubled since the last sweep, so the cost per new host stays constant, and by
 * an unref'd timer every `idleMs / 2` while any host is known, so state is released within 1.5 x
 * `idleMs` of going idle even when no new host comes.
 */
import type { HostTable } from '../hosts/patterns.ts';
import { sameGroup } from '../options/compare.ts';
import type { HostPolicy, ResolvedOptions } from '../options/resolved.ts';
import { type HealthStatus, HostHealthWindow } from '../outcome/health.ts';
import type { BreakerTransition, CircuitBreaker } from '../policies/breaker.ts';
import { type Circuits, createHostPolicies, type HostPolicyState } from '../policies/host-state.ts';
import type { HostRateLimit } from '../policies/pacing.ts';
import type { RetryBudget } from '../policies/retry-budget.ts';
import type { HostStats } from './types.ts';

/** What the registry keeps per host. */
export interface HostState extends HostPolicyState {
  /** Swapped by `reconfigure()` only: read-only to everything else. */
  policy: HostPolicy;
  breaker: CircuitBreaker | undefined;
  budget: RetryBudget | undefined;
  rateLimit: HostRateLimit | undefined;
  /** The calls of the health window. */
  readonly health: HostHealthWindow;
  /** The health status last reported. */
  status: HealthStatus;
  /** Calls started and not yet reported. */
  active: number;
  /** Epoch ms of the last call's start. */
  lastUsedAt: number;
}

const budgetOf = (policy: HostPolicy) => (policy.retry ? policy.retry.budget : undefined);
const budgetWindowOf = (policy: HostPolicy): number => {
  const budget = budgetOf(policy);
  return budget ? budget.windowMs : 0;
};

export class HostRegistry implements Circuits {
  readonly #options: ResolvedOptions;
  readonly #table: HostTable<HostPolicy>;
  /** A circuit moved; `state` is the host's current state, when it is still known. */
  readonly #onTransition: (transition: BreakerTransition, state: HostState | undefined) => void;
  readonly #hosts = new Map<string, HostState>();
  /** Idle time after which a host's state may go: the longest window it keeps. */
  readonly #idleMs: number;
  #sweepAt = 256;
  #timer: NodeJS.Timeout | undefined;
  /** Called after each sweep (the pools forget their remembered routes). */
  readonly #onSweep: () => void;

  constructor(
    options: ResolvedOptions,
    table: HostTable<HostPolicy>,
    onTransition: (transition: BreakerTransition, state: HostState | undefined) => void,
    onSweep: () => void,
  ) {
    this.#options = options;
    this.#table = table;
    this.#onTransition = onTransition;
    this.#onSweep = onSweep;
    this.#idleMs = Math.max(options.health.windowMs, budgetWindowOf(options));
  }

  /** The state of `host`, created on first use. */
  get(host: string): HostState {
    let state = this.#hosts.get(host);
    if (state === undefined) {
      if (this.#hosts.size >= this.#sweepAt) this.#sweep(Date.now());
      state = this.#create(host, this.#table.resolve(host));
      this.#hosts.set(host, state);
      if (this.#timer === undefined) this.#schedule();
    }
    return state;
  }

  /** The state of `host` if it is known (asking does not start tracking it). */
  peek(host: string): HostState | undefined {
    return this.#hosts.get(host);
  }

  breakerOf(host: string): CircuitBreaker | undefined {
    return this.get(host).breaker;
  }

  /** Every known host's state. */
  states(): IterableIterator<HostState> {
    return this.#hosts.values();
  }

  /** `circuits` of the telemetry sources: each host with a breaker, and its state. */
  *circuits(): IterableIterator<[string, string]> {
    for (const [host, state] of this.#hosts) if (state.breaker) yield [host, state.breaker.state];
  }

  /** `stats().hosts`. */
  stats(): Record<string, HostStats> {
    const out: Record<string, HostStats> = {};
    for (const [host, state] of this.#hosts) {
      out[host] = {
        circuit: state.breaker?.state ?? 'disabled',
        retriesDenied: state.retriesDenied,
        rateLimit: state.rateLimit?.stats() ?? null,
      };
    }
    return out;
  }

  /**
   * After the overrides changed: each known host takes its new policy for its next calls (calls in
   * flight keep the policy they started with). A changed breaker group starts the circuit afresh, a
   * changed budget starts a fresh budget. Returns the states whose policy changed.
   */
  reconfigure(): HostState[] {
    const changed: HostState[] = [];
    for (const [host, state] of this.#hosts) {
      const policy = this.#table.resolve(host);
      if (policy === state.policy) continue;
      const fresh = createHostPolicies(host, policy, this.#options.retry, (t) => this.#transition(host, t));
      if (!sameGroup(state.policy.circuitBreaker, policy.circuitBreaker)) state.breaker = fresh.breaker;
      if (!sameGroup(budgetOf(state.policy), budgetOf(policy))) state.budget = fresh.budget;
      // Pacing turned on or off; what the host said is kept while it stays on.
      if (!policy.rateLimit !== !state.policy.rateLimit) state.rateLimit = fresh.rateLimit;
      state.policy = policy;
      changed.push(state);
    }
    return changed;
  }

  #create(host: string, policy: HostPolicy): HostState {
    const { breaker, budget, rateLimit } = createHostPolicies(host, policy, this.#options.retry, (t) =>
      this.#transition(host, t),
    );
    return {
      host,
      policy,
      breaker,
      budget,
      rateLimit,
      retriesDenied: 0,
      health: new HostHealthWindow(this.#options.health),
      status: 'UNKNOWN',
      active: 0,
      lastUsedAt: Date.now(),
    };
  }

  #transition(host: string, transition: BreakerTransition): void {
    this.#onTransition(transition, this.#hosts.get(host));
  }

  #sweep(now: number): void {
    for (const [host, state] of this.#hosts) {
      const circuit = state.breaker?.state ?? 'closed';
      const idleFor = Math.max(this.#idleMs, budgetWindowOf(state.policy));
      const paced = state.rateLimit?.isPaced(now) === true;
      if (circuit === 'closed' && state.active === 0 && !paced && now - state.lastUsedAt > idleFor)
        this.#hosts.delete(host);
    }
    this.#sweepAt = Math.max(256, this.#hosts.size * 2);
    this.#onSweep();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(
      () => {
        this.#timer = undefined;
        this.#sweep(Date.now());
        if (this.#hosts.size > 0) this.#schedule();
      },
      Math.ceil(this.#idleMs / 2),
    ).unref();
  }
}
