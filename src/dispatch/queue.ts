/**
 * The total cap: at most `maxInFlight` requests in flight across all hosts, the rest waiting in one FIFO
 * queue of at most `maxQueue`, each for at most `queueTimeoutMs`.
 *
 * "In flight" is counted where undici counts requests, at the dispatcher: a request (each attempt, each
 * redirect hop) holds its slot from its dispatch until its response body has ended, or the request
 * errored, or it was aborted (a caller's abort, a timeout, a body cancelled): undici then ends its
 * handler with `onComplete` or `onError`, and that frees the slot. So a body that is never read holds its
 * slot only while its bytes do not fit undici's buffers (as it holds its connection).
 *
 * Under the cap a dispatch costs a counter increment and the one small handler object that sees its end;
 * no promise, no timer. A waiting request is told to its handler at once (`onConnect` with our abort), so
 * an abort while it waits (caller, attempt timeout, deadline) removes it from the queue at once.
 */
import { QueueFullError, QueueTimeoutError } from '../errors.ts';
import { hostOfOrigin } from '../hosts/key.ts';
import { ForwardingHandler, type LegacyHandler } from './handler.ts';

export interface LimiterOptions {
  readonly maxInFlight: number;
  readonly maxQueue: number;
  /** `false`: a request waits as long as its attempt timeout allows. */
  readonly queueTimeoutMs: number | false;
}

export interface LimiterHooks {
  /** A request left the queue for a slot after waiting `ms`. */
  waited(ms: number): void;
  /** A request was refused: the queue was full, or it waited `queueTimeoutMs`. */
  rejected(reason: 'queue_full' | 'queue_timeout'): void;
}

/** The legacy undici handler Node's fetch hands its dispatcher. */
type Handler = LegacyHandler;
type Abort = (reason?: unknown) => void;

interface Inner {
  dispatch(opts: unknown, handler: unknown): boolean;
}

/**
 * Slots taken directly, by a dispatcher's caller whose handler calls `release()` once when its request
 * ends (completes, errors, or is upgraded).
 */
export interface Slots {
  /** Takes a slot if one is free and nobody waits; false: dispatch through the queue instead. */
  tryAcquire(): boolean;
  release(): void;
  /** Where a request holding a slot is dispatched. */
  readonly inner: Inner;
}

export interface Limiter {
  /** What Node's fetch dispatches to: the cap in front of the pools. */
  readonly dispatcher: Inner & { readonly slots: Slots };
  /** Requests holding a slot. */
  readonly active: number;
  /** Requests waiting for one. */
  readonly queued: number;
  /** Ends every waiting request with `error` (destroy). */
  fail(error: Error): void;
}

const QUEUED = 1;
const DISPATCHED = 2;
const DONE = 3;

/** The handler every request goes through: frees its slot when the request ends, and is its queue node. */
class Slot extends ForwardingHandler {
  readonly opts: { origin?: unknown };
  readonly limiter: LimiterState;
  state = DISPATCHED;
  queuedAt = 0;
  prev: Slot | undefined = undefined;
  next: Slot | undefined = undefined;
  /** undici's abort of the dispatched request (known once it calls onConnect). */
  abort: Abort | undefined = undefined;
  /** Set when the request had to wait: the caller's handler already has our abort. */
  connected = false;
  /** An abort that came after the dispatch but before undici's onConnect. */
  pendingAbort: { reason: unknown } | undefined = undefined;

  constructor(limiter: LimiterState, opts: { origin?: unknown }, handler: Handler) {
    super(handler);
    this.limiter = limiter;
    this.opts = opts;
  }

  /** Bound and given to the caller's handler while waiting: an abort then leaves the queue at once. */
  abortWhileQueued(reason?: unknown): void {
    if (this.state === QUEUED) {
      this.limiter.remove(this);
      this.state = DONE;
      this.handler.onError(reason);
    } else if (this.state === DISPATCHED) {
      if (this.abort) this.abort(reason);
      else this.pendingAbort = { reason };
    }
  }

  /** The request ended: its slot goes to the next waiter. */
  protected ended(): void {
    if (this.state === DONE) return;
    this.state = DONE;
    this.limiter.release();
  }

  override onConnect(abort: Abort, context?: unknown): unknown {
    if (!this.connected) return super.onConnect(abort, context);
    this.abort = abort;
    if (this.pendingAbort) abort(this.pendingAbort.reason);
    return undefined;
  }
}

interface LimiterState {
  remove(slot: Slot): void;
  release(): void;
}

export function createLimiter(options: LimiterOptions, inner: Inner, hooks: LimiterHooks): Limiter {
  const { maxInFlight, maxQueue, queueTimeoutMs } = options;
  let active = 0;
  let queued = 0;
  let head: Slot | undefined;
  let tail: Slot | undefined;
  let timer: NodeJS.Timeout | undefined;
  let draining = false;

  const unlink = (slot: Slot): void => {
    if (slot.prev) slot.prev.next = slot.next;
    else head = slot.next;
    if (slot.next) slot.next.prev = slot.prev;
    else tail = slot.prev;
    slot.prev = slot.next = undefined;
    queued--;
  };

  const send = (slot: Slot): void => {
    try {
      inner.dispatch(slot.opts, slot);
    } catch (error) {
      // A dispatcher that throws (invalid options, closed) ends the request as undici would.
      slot.onError(error);
    }
  };

  /** Hands free slots to the waiters, oldest first. A loop, not recursion: a dispatch may end at once. */
  const drain = (): void => {
    if (draining) return;
    draining = true;
    try {
      while (active < maxInFlight && head !== undefined) {
        const slot = head;
        unlink(slot);
        slot.state = DISPATCHED;
        active++;
        hooks.waited(performance.now() - slot.queuedAt);
        send(slot);
      }
    } finally {
      draining = false;
    }
    if (head === undefined && timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
  };

  // One timer for the whole queue: FIFO with one timeout, so the head always expires first.
  const armTimer = (): void => {
    if (queueTimeoutMs === false || timer !== undefined || head === undefined) return;
    const wait = Math.max(0, head.queuedAt + queueTimeoutMs - performance.now());
    timer = setTimeout(expire, Math.ceil(wait)).unref();
  };
  const expire = (): void => {
    timer = undefined;
    const now = performance.now();
    while (head !== undefined && queueTimeoutMs !== false && now - head.queuedAt >= queueTimeoutMs) {
      const slot = head;
      unlink(slot);
      slot.state = DONE;
      hooks.rejected('queue_timeout');
      const host = hostOfOrigin(slot.opts.origin);
      slot.handler.onError(
        new QueueTimeoutError(queueTimeoutMs, maxInFlight, host === undefined ? {} : { host }),
      );
    }
    armTimer();
  };

  const state: LimiterState = {
    remove(slot) {
      unlink(slot);
      if (head === undefined && timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
    },
    release() {
      active--;
      if (head !== undefined) drain();
    },
  };

  const enqueue = (slot: Slot): boolean => {
    if (queued >= maxQueue) {
      slot.state = DONE;
      hooks.rejected('queue_full');
      const host = hostOfOrigin(slot.opts.origin);
      slot.handler.onError(new QueueFullError(maxInFlight, maxQueue, host === undefined ? {} : { host }));
      return true;
    }
    slot.state = QUEUED;
    slot.queuedAt = performance.now();
    slot.connected = true;
    slot.prev = tail;
    if (tail) tail.next = slot;
    else head = slot;
    tail = slot;
    queued++;
    armTimer();
    // The caller's handler gets our abort now: fetch calls it on an abort or a timeout while we wait
    // (and at once, from inside this call, if the request was aborted already: it is linked by then, so
    // it leaves the queue cleanly).
    slot.handler.onConnect?.((reason?: unknown) => slot.abortWhileQueued(reason));
    return true;
  };

  return {
    dispatcher: {
      // For a caller whose handler frees its slot itself (the fast transport): a slot without the
      // wrapping handler when one is free and nobody waits; otherwise it dispatches through the queue.
      slots: {
        tryAcquire(): boolean {
          if (active >= maxInFlight || head !== undefined) return false;
          active++;
          return true;
        },
        release: state.release,
        inner,
      },
      dispatch(opts, handler) {
        const slot = new Slot(state, opts as { origin?: unknown }, handler as Handler);
        // Fast path: a free slot and nobody waiting.
        if (active < maxInFlight && head === undefined) {
          active++;
          return inner.dispatch(opts, slot);
        }
        return enqueue(slot);
      },
    },
    get active() {
      return active;
    },
    get queued() {
      return queued;
    },
    fail(error) {
      while (head !== undefined) {
        const slot = head;
        unlink(slot);
        slot.state = DONE;
        slot.handler.onError(error);
      }
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
  };
}
