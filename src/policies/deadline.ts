/**
 * The call's overall deadline: one instant for all attempts and backoffs, its `TimeoutError` made once,
 * when it passes, and (with `timeout.deadlineCoversBody`) kept running over the response body until the
 * body has ended, seen through the one handler that sees each dispatch end.
 */
import { ForwardingHandler, type LegacyHandler } from '../dispatch/handler.ts';
import { isOwnDispatcher, markOwnDispatcher } from '../dispatch/own.ts';
import { timeoutError } from '../errors.ts';
import type { AttemptAbort } from '../transport/attempt-abort.ts';
import type { FetchInit } from '../transport/types.ts';

export class Deadline {
  readonly at: number;
  readonly ms: number;
  readonly #host: string;
  /** Set when the deadline passes: created then, as building a DOMException costs a stack capture. */
  #error: DOMException | undefined;

  constructor(host: string, ms: number, now = Date.now()) {
    this.#host = host;
    this.ms = ms;
    this.at = now + ms;
  }

  /** The deadline's error, made on first use. */
  expire(): DOMException {
    this.#error ??= timeoutError(
      `resilient-fetch: call to ${this.#host} exceeded its ${this.ms} ms deadline`,
    );
    return this.#error;
  }

  /** True when `error` is this deadline's. */
  isIt(error: unknown): boolean {
    return this.#error !== undefined && error === this.#error;
  }

  /** Milliseconds left. */
  remaining(now = Date.now()): number {
    return this.at - now;
  }
}

/** The dispatches of one attempt still running (each redirect hop is one), and the body's timer. */
export interface DispatchTracker {
  active: number;
  timer: NodeJS.Timeout | undefined;
}

/** Sees one dispatch of the attempt end. */
class EndTap extends ForwardingHandler {
  readonly #tracker: DispatchTracker;

  constructor(handler: LegacyHandler, tracker: DispatchTracker) {
    super(handler);
    this.#tracker = tracker;
  }

  protected ended(): void {
    if (--this.#tracker.active === 0 && this.#tracker.timer) clearTimeout(this.#tracker.timer);
  }
}

/**
 * A dispatcher for one attempt that tracks when its responses (redirect hops included) have ended, by
 * wrapping the handler the transport gives the dispatcher: the only place that sees a response body end.
 */
export function trackingDispatcher(
  inner: FetchInit['dispatcher'],
  tracker: DispatchTracker,
): FetchInit['dispatcher'] {
  if (inner === undefined) return undefined;
  const dispatch = (opts: unknown, handler: LegacyHandler) => {
    tracker.active++;
    return (inner.dispatch as (o: unknown, h: unknown) => boolean)(opts, new EndTap(handler, tracker));
  };
  const wrapper = { dispatch };
  if (isOwnDispatcher(inner)) markOwnDispatcher(wrapper);
  return wrapper as unknown as FetchInit['dispatcher'];
}

/**
 * Keeps the deadline running over the response body: it errors with the deadline's TimeoutError. The
 * timer is cleared as soon as the body has ended, so it holds nothing once the body is read.
 */
export function coverBody(abort: AttemptAbort, deadline: Deadline, tracker: DispatchTracker): void {
  if (tracker.active === 0) return; // the body has already ended
  // unref: a body nobody reads must not keep the process alive until the deadline.
  tracker.timer = setTimeout(() => abort.abort(deadline.expire()), Math.max(0, deadline.remaining())).unref();
}
