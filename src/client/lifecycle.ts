/**
 * The life of one resilientFetch instance: open -> closing -> closed. Counts calls in flight (from entry
 * until their promise settles) so that `close()` can wait for them before it closes the pools; `destroy()`
 * ends everything at once, through the shutdown signal (calls waiting in a backoff, which no pool knows
 * about) and the teardown it is given (the queue, the pools).
 */
import { DestroyedError } from '../errors.ts';
import { resolveCloseOptions } from '../options/resolve.ts';
import type { CloseOptions } from '../options/types.ts';

export type LifecycleState = 'open' | 'closing' | 'closed';

/** What the lifecycle closes: the instance's dispatch layer. */
export interface Teardown {
  /** Resolves once every response has ended (or `signal` aborts) and every pool is closed. */
  close(signal: AbortSignal): Promise<void>;
  /** Ends every request at once with `error` and closes every socket. */
  destroy(error: Error): Promise<void>;
}

export class Lifecycle {
  #state: LifecycleState = 'open';
  #inFlight = 0;
  #waiters: Array<() => void> = [];
  readonly #teardown: Teardown;
  readonly #drainTimeoutMs: number;
  /** Aborted by `destroy()`: ends calls waiting in a backoff. */
  readonly #shutdown = new AbortController();
  #closing: Promise<void> | undefined;
  #destroying: Promise<void> | undefined;

  constructor(teardown: Teardown, drainTimeoutMs: number) {
    this.#teardown = teardown;
    this.#drainTimeoutMs = drainTimeoutMs;
  }

  get state(): LifecycleState {
    return this.#state;
  }

  /** Calls whose promise has not settled yet. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Aborted (with a `DestroyedError`) when the instance is destroyed. */
  get shutdown(): AbortSignal {
    return this.#shutdown.signal;
  }

  /** Marks one call as started. Only call while `state === 'open'`. */
  enter(): void {
    this.#inFlight++;
  }

  /** Marks one call as settled. */
  leave(): void {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#waiters.length > 0) {
      const ready = this.#waiters;
      this.#waiters = [];
      for (const resolve of ready) resolve();
    }
  }

  /** Graceful: new calls are refused, calls in flight finish, then the pools close (see `close()`). */
  close(options?: CloseOptions): Promise<void> {
    const { force, drainTimeoutMs } = resolveCloseOptions(options, this.#drainTimeoutMs);
    if (force) return this.destroy();
    if (this.#destroying) return this.#destroying;
    this.#closing ??= this.#drain(drainTimeoutMs);
    return this.#closing;
  }

  /** Ends every call in flight at once (see `destroy()`). Idempotent. */
  destroy(reason = 'destroy() was called'): Promise<void> {
    if (!this.#destroying) {
      this.#beginClose();
      const error = new DestroyedError(reason);
      this.#shutdown.abort(error);
      this.#destroying = this.#teardown.destroy(error).then(() => {
        this.#state = 'closed';
      });
    }
    return this.#destroying;
  }

  async #drain(drainTimeoutMs: number): Promise<void> {
    this.#beginClose();
    const expired = new AbortController();
    const timedOut = new Promise<'timeout'>((resolve) => {
      expired.signal.addEventListener('abort', () => resolve('timeout'), { once: true });
    });
    const timer = setTimeout(() => expired.abort(), drainTimeoutMs);
    // close() rejects only when destroy() overtook it; the destroy is then what we wait for.
    const drained = this.#idle()
      .then(() => this.#teardown.close(expired.signal))
      .catch(() => this.#destroying);
    const winner = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (winner === 'timeout' || expired.signal.aborted) {
      await this.destroy(
        `close() waited drainTimeoutMs (${drainTimeoutMs} ms) and the call had not finished`,
      );
    }
    await this.#destroying;
    this.#state = 'closed';
  }

  #beginClose(): void {
    if (this.#state === 'open') this.#state = 'closing';
  }

  /** Resolves once no call is in flight. */
  #idle(): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
}
