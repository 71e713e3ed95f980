/**
 * Health as the instance reports it: each host's `HostHealth` from its window and circuit, the status
 * each host last reported, and the change events (`onHealthChange` listeners and the diagnostics
 * channel `resilient-fetch:health`) when a status moves.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  classifyHealth,
  type HealthThresholds,
  type HostHealth,
  hostHealth,
  isCircuitOpen,
} from '../outcome/health.ts';
import type { HostState } from './host-registry.ts';
import type { HealthChange } from './types.ts';

/** Health changes of every instance, for tools that observe the process. */
export const healthChannel = diagnosticsChannel.channel('resilient-fetch:health');

export class HealthBoard {
  readonly #thresholds: HealthThresholds;
  readonly #listeners = new Set<(change: HealthChange) => void>();

  constructor(thresholds: HealthThresholds) {
    this.#thresholds = thresholds;
  }

  /** The health of a known host. */
  of(state: HostState, now = Date.now()): HostHealth {
    return hostHealth(state.host, state.health, state.breaker?.state ?? 'disabled', this.#thresholds, now);
  }

  /** Recomputes a host's status and tells the listeners when it moved. */
  refresh(state: HostState): void {
    const counts = state.health.counts();
    const status = classifyHealth(counts, isCircuitOpen(state.breaker?.state), this.#thresholds);
    if (status === state.status) return;
    const from = state.status;
    state.status = status;
    if (this.#listeners.size === 0 && !healthChannel.hasSubscribers) return;
    const change: HealthChange = { host: state.host, from, to: status, health: this.of(state) };
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch {
        // A listener never breaks a request.
      }
    }
    if (healthChannel.hasSubscribers) healthChannel.publish(change);
  }

  /** Adds a listener; returns the function that removes it. */
  listen(listener: (change: HealthChange) => void): () => void {
    if (typeof listener !== 'function') {
      throw new TypeError(
        `resilient-fetch: onHealthChange() expects a function, received ${typeof listener}`,
      );
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
