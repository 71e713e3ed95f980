/**
 * The life of one resilientFetch instance: open -> closing -> closed. Counts calls in flight (from entry
 * until their promise settles) so `close()` can wait for them before it closes the pools.
 */

export type LifecycleState = 'open' | 'closing' | 'closed';

export interface Lifecycle {
  readonly state: LifecycleState;
  readonly inFlight: number;
  /** Marks one call as started. Only call while `state === 'open'`. */
  enter(): void;
  /** Marks one call as settled. */
  leave(): void;
  /** Moves to `closing` (no effect unless open). */
  beginClose(): void;
  /** Moves to `closed`. */
  finishClose(): void;
  /** Resolves once no call is in flight. */
  idle(): Promise<void>;
}

export function createLifecycle(): Lifecycle {
  let state: LifecycleState = 'open';
  let inFlight = 0;
  let waiters: Array<() => void> = [];

  return {
    get state() {
      return state;
    },
    get inFlight() {
      return inFlight;
    },
    enter() {
      inFlight++;
    },
    leave() {
      inFlight--;
      if (inFlight === 0 && waiters.length > 0) {
        const ready = waiters;
        waiters = [];
        for (const resolve of ready) resolve();
      }
    },
    beginClose() {
      if (state === 'open') state = 'closing';
    },
    finishClose() {
      state = 'closed';
    },
    idle() {
      if (inFlight === 0) return Promise.resolve();
      return new Promise((resolve) => waiters.push(resolve));
    },
  };
}
