/**
 * One circuit breaker per host. The decision "should it open?" is cockatiel's (`ConsecutiveBreaker`,
 * `SamplingBreaker`: small swappable strategies behind its `IBreaker` interface). The state machine around
 * it is ours, because cockatiel's `CircuitBreakerPolicy` does two things a fetch cannot accept: while
 * half-open, other calls wait for the probe's verdict with no way to abort that wait, and a probe that
 * ends in an error the policy does not handle (a caller's abort) counts as a success and closes the circuit.
 * Here, while half-open, every call but the probe fails fast, and an aborted probe decides nothing.
 */
import { CircuitState, ConsecutiveBreaker, type IBreaker, SamplingBreaker } from 'cockatiel';
import type { ResolvedBreaker } from '../options/resolved.ts';

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

/**
 * Where the circuit is. Each state carries what only it needs: when an open circuit opened, whether a
 * half-open circuit's one probe is running, how many isolations hold an isolated one.
 */
type State =
  | { readonly name: 'closed' }
  | { readonly name: 'open'; readonly openedAt: number }
  | { readonly name: 'half-open'; probing: boolean }
  | { readonly name: 'isolated'; holds: number };

const closed: State = Object.freeze({ name: 'closed' });

class Breaker implements CircuitBreaker {
  readonly #host: string;
  readonly #options: ResolvedBreaker;
  readonly #strategy: IBreaker;
  readonly #onTransition: (transition: BreakerTransition) => void;
  #state: State = closed;
  /** `reset()` starts a new epoch: release functions handed out before it no longer count. */
  #epoch = 0;

  constructor(host: string, options: ResolvedBreaker, onTransition: (transition: BreakerTransition) => void) {
    this.#host = host;
    this.#options = options;
    this.#strategy = createStrategy(options);
    this.#onTransition = onTransition;
  }

  get state(): CircuitStateName {
    return this.#state.name;
  }

  get retryAt(): number | undefined {
    const state = this.#state;
    return state.name === 'open' ? state.openedAt + this.#options.halfOpenAfterMs : undefined;
  }

  enter(now = Date.now()): Admission {
    const state = this.#state;
    switch (state.name) {
      case 'closed':
        return { admitted: true, probe: false };
      case 'isolated':
        return { admitted: false, state: 'isolated' };
      case 'open': {
        const retryAt = state.openedAt + this.#options.halfOpenAfterMs;
        if (now < retryAt) return { admitted: false, state: 'open', retryAt };
        this.#move({ name: 'half-open', probing: true });
        return { admitted: true, probe: true };
      }
      case 'half-open':
        if (state.probing) return { admitted: false, state: 'half-open' };
        state.probing = true;
        return { admitted: true, probe: true };
    }
  }

  success(probe: boolean): void {
    if (this.#state.name === 'closed') this.#strategy.success(CircuitState.Closed);
    else if (probe && this.#state.name === 'half-open') this.#close();
  }

  failure(probe: boolean, now = Date.now()): void {
    if (this.#state.name === 'closed') {
      if (this.#strategy.failure(CircuitState.Closed)) this.#move({ name: 'open', openedAt: now });
    } else if (probe && this.#state.name === 'half-open') {
      this.#move({ name: 'open', openedAt: now });
    }
  }

  abandon(probe: boolean): void {
    if (probe && this.#state.name === 'half-open') this.#state.probing = false;
  }

  reset(): void {
    this.#epoch++;
    this.#close();
  }

  isolate(): () => void {
    const state = this.#state;
    if (state.name === 'isolated') state.holds++;
    else this.#move({ name: 'isolated', holds: 1 });
    const epoch = this.#epoch;
    let released = false;
    return () => {
      if (released || epoch !== this.#epoch) return;
      released = true;
      const now = this.#state;
      if (now.name === 'isolated' && --now.holds === 0) this.#close();
    };
  }

  #close(): void {
    // A fresh strategy forgets the failures that opened the circuit.
    Object.assign(this.#strategy, { state: createStrategy(this.#options).state });
    this.#move(closed);
  }

  #move(to: State): void {
    const from = this.#state.name;
    this.#state = to;
    if (to.name === from) return;
    try {
      this.#onTransition({ host: this.#host, from, to: to.name });
    } catch {
      // A listener never breaks a request.
    }
  }
}

export function createCircuitBreaker(
  host: string,
  options: ResolvedBreaker,
  onTransition: (transition: BreakerTransition) => void,
): CircuitBreaker {
  return new Breaker(host, options, onTransition);
}
