/**
 * One circuit breaker per host. The decision "should it open?" is cockatiel's (`ConsecutiveBreaker`,
 * `SamplingBreaker`: small swappable strategies behind its `IBreaker` interface). The state machine around
 * it is ours, because cockatiel's `CircuitBreakerPolicy` does two things a fetch cannot accept: while
 * half-open, other calls wait for the probe's verdict with no way to abort that wait, and a probe that
 * ends in an error the policy does not handle (a caller's abort) counts as a success and closes the circuit.
 * Here, while half-open, every call but the probe fails fast, and an aborted probe decides nothing.
 */
import { CircuitState, ConsecutiveBreaker, type IBreaker, SamplingBreaker } from 'cockatiel';
import type { ResolvedBreaker } from './options.ts';

export type CircuitStateName = 'closed' | 'open' | 'half-open' | 'isolated';

export interface BreakerTransition {
  readonly host: string;
  readonly from: CircuitStateName;
  readonly to: CircuitStateName;
}

/** What `enter()` hands out: either permission to run the call, or when to try again. */
export type Admission =
  | { readonly admitted: true; readonly probe: boolean }
  | {
      readonly admitted: false;
      readonly state: 'open' | 'half-open' | 'isolated';
      readonly retryAt?: number;
    };

export interface CircuitBreaker {
  readonly state: CircuitStateName;
  /** Epoch ms at which an open circuit lets a probe through (undefined unless open). */
  readonly retryAt: number | undefined;
  /** Asks to run one call. A call admitted must end with exactly one of success/failure/abandon. */
  enter(now?: number): Admission;
  success(probe: boolean): void;
  failure(probe: boolean, now?: number): void;
  /** The call ended without a verdict on the host (the caller aborted): frees the probe slot. */
  abandon(probe: boolean): void;
  /** Closes the circuit (manual reset). */
  reset(): void;
  /** Holds the circuit open until every returned release function has been called. */
  isolate(): () => void;
}

function createStrategy(options: ResolvedBreaker): IBreaker {
  return options.mode === 'sampling'
    ? new SamplingBreaker({
        threshold: options.failureRatio,
        duration: options.windowMs,
        // cockatiel reads 0 as "not set" (and then asks for 5 / threshold calls per second).
        minimumRps: options.minimumRps > 0 ? options.minimumRps : Number.MIN_VALUE,
      })
    : new ConsecutiveBreaker(options.consecutiveFailures);
}

export function createCircuitBreaker(
  host: string,
  options: ResolvedBreaker,
  onTransition: (transition: BreakerTransition) => void,
): CircuitBreaker {
  const strategy = createStrategy(options);
  let state: CircuitStateName = 'closed';
  let openedAt = 0;
  let probing = false;
  let isolations = 0;
  // reset() starts a new epoch: release functions handed out before it no longer count.
  let epoch = 0;

  const move = (to: CircuitStateName) => {
    if (to === state) return;
    const from = state;
    state = to;
    try {
      onTransition({ host, from, to });
    } catch {
      // A listener never breaks a request.
    }
  };
  const open = (now: number) => {
    openedAt = now;
    probing = false;
    move('open');
  };
  const close = () => {
    probing = false;
    // A fresh strategy forgets the failures that opened the circuit.
    Object.assign(strategy, { state: createStrategy(options).state });
    move('closed');
  };

  return {
    get state() {
      return state;
    },
    get retryAt() {
      return state === 'open' ? openedAt + options.halfOpenAfterMs : undefined;
    },
    enter(now = Date.now()) {
      switch (state) {
        case 'closed':
          return { admitted: true, probe: false };
        case 'isolated':
          return { admitted: false, state: 'isolated' };
        case 'open':
          if (now - openedAt < options.halfOpenAfterMs) {
            return { admitted: false, state: 'open', retryAt: openedAt + options.halfOpenAfterMs };
          }
          move('half-open');
          probing = true;
          return { admitted: true, probe: true };
        default:
          if (probing) return { admitted: false, state: 'half-open' };
          probing = true;
          return { admitted: true, probe: true };
      }
    },
    success(probe) {
      if (state === 'closed') strategy.success(CircuitState.Closed);
      else if (probe && state === 'half-open') close();
    },
    failure(probe, now = Date.now()) {
      if (state === 'closed') {
        if (strategy.failure(CircuitState.Closed)) open(now);
      } else if (probe && state === 'half-open') {
        open(now);
      }
    },
    abandon(probe) {
      if (probe && state === 'half-open') probing = false;
    },
    reset() {
      isolations = 0;
      epoch++;
      close();
    },
    isolate() {
      isolations++;
      probing = false;
      move('isolated');
      const isolatedIn = epoch;
      let released = false;
      return () => {
        if (released || isolatedIn !== epoch) return;
        released = true;
        isolations--;
        if (isolations === 0 && state === 'isolated') close();
      };
    },
  };
}
