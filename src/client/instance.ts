/**
 * The methods of a resilientFetch instance (`close`, `destroy`, `stats`, `health`, `onHealthChange`,
 * `resetCircuit`, `isolate`, `configureHost`, `removeHost`), over the parts `create.ts` wired.
 */
import { hasAppGlobalDispatcher } from '../dispatch/global.ts';
import type { PoolSet } from '../dispatch/pools.ts';
import type { Limiter } from '../dispatch/queue.ts';
import { hostKeyOf } from '../hosts/key.ts';
import type { HostPattern, HostTable } from '../hosts/patterns.ts';
import { resolveHostOverride, resolveHostPattern } from '../options/resolve.ts';
import type { HostPolicy, ResolvedOptions } from '../options/resolved.ts';
import type { CloseOptions, HostOptions } from '../options/types.ts';
import { type HostHealth, unknownHealth } from '../outcome/health.ts';
import type { FastTransport } from '../transport/fast/transport.ts';
import type { HealthBoard } from './health-board.ts';
import type { HostRegistry } from './host-registry.ts';
import type { Lifecycle } from './lifecycle.ts';
import { warnIfHostVerifyOff } from './tls-warning.ts';
import type { HealthChange, ResilientFetchMethods, ResilientFetchStats } from './types.ts';

/** The parts the methods act on. */
export interface InstanceParts {
  readonly options: ResolvedOptions;
  readonly table: HostTable<HostPolicy>;
  readonly pools: PoolSet;
  readonly limiter: Limiter | undefined;
  readonly transport: FastTransport;
  readonly lifecycle: Lifecycle;
  readonly hosts: HostRegistry;
  readonly health: HealthBoard;
}

/** Every method, named once: a method missing here (or there) is a compile error. */
export const methodNames = {
  close: true,
  destroy: true,
  stats: true,
  resetCircuit: true,
  isolate: true,
  health: true,
  onHealthChange: true,
  configureHost: true,
  removeHost: true,
  [Symbol.asyncDispose]: true,
} as const satisfies Record<keyof ResilientFetchMethods, true>;

export class Instance implements ResilientFetchMethods {
  readonly #parts: InstanceParts;

  constructor(parts: InstanceParts) {
    this.#parts = parts;
  }

  close(options?: CloseOptions): Promise<void> {
    return this.#parts.lifecycle.close(options);
  }

  destroy(): Promise<void> {
    return this.#parts.lifecycle.destroy();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.#parts.lifecycle.close();
  }

  stats(): ResilientFetchStats {
    const { lifecycle, pools, transport, hosts } = this.#parts;
    return {
      state: lifecycle.state,
      inFlight: lifecycle.inFlight,
      pools: pools.stats(),
      transport: hasAppGlobalDispatcher() ? 'global' : 'node',
      sent: { fast: transport.sent.fast, fetch: transport.sent.fetch },
      queue: this.#queueStats(),
      hosts: hosts.stats(),
    };
  }

  health(): HostHealth[];
  health(host: string): HostHealth;
  health(host?: string): HostHealth | HostHealth[] {
    const { hosts, health } = this.#parts;
    if (host !== undefined) {
      const key = hostKeyOf(host);
      const state = hosts.peek(key);
      // Asking about a host does not start tracking it.
      return state ? health.of(state) : unknownHealth(key);
    }
    const now = Date.now();
    return [...hosts.states()].map((state) => health.of(state, now));
  }

  onHealthChange(listener: (change: HealthChange) => void): () => void {
    return this.#parts.health.listen(listener);
  }

  resetCircuit(host: string): void {
    this.#parts.hosts.peek(hostKeyOf(host))?.breaker?.reset();
  }

  isolate(host: string): () => void {
    const breaker = this.#parts.hosts.get(hostKeyOf(host)).breaker;
    if (!breaker)
      throw new TypeError(`resilient-fetch: ${host} has no circuit breaker (circuitBreaker: false)`);
    return breaker.isolate();
  }

  configureHost(pattern: HostPattern, options: HostOptions): void {
    const { key, policy } = resolveHostOverride(this.#parts.options, pattern, options);
    warnIfHostVerifyOff(this.#parts.options, key, policy);
    this.#parts.table.set(key, policy);
    this.#applyHostChange();
  }

  removeHost(pattern: HostPattern): boolean {
    const removed = this.#parts.table.delete(resolveHostPattern(pattern));
    if (removed) this.#applyHostChange();
    return removed;
  }

  /** The overrides changed: pools are re-routed (a replaced pool drains), hosts take their new policy. */
  #applyHostChange(): void {
    this.#parts.pools.reconfigure();
    for (const state of this.#parts.hosts.reconfigure()) this.#parts.health.refresh(state);
  }

  #queueStats(): ResilientFetchStats['queue'] {
    const { limiter, options } = this.#parts;
    if (!limiter || !options.limits) return null;
    return {
      active: limiter.active,
      length: limiter.queued,
      maxInFlight: options.limits.maxInFlight,
      maxQueue: options.limits.maxQueue,
    };
  }
}
