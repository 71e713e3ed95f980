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

/**
 * Where a request is: waiting in the queue (since `queuedAt`), dispatched (holding a slot), or done
 * (its slot freed, or refused).
 */
type SlotState = 'queued' | 'dispatched' | 'done';

/** The handler every request goes through: frees its slot when the request ends, and is its queue node. */
class Slot extends ForwardingHandler {
  readonly opts: { origin?: unknown };
  readonly #limiter: Limiter;
  state: SlotState = 'dispatched';
  queuedAt = 0;
  prev: Slot | undefined = undefined;
  next: Slot | undefined = undefined;
  /** undici's abort of the dispatched request (known once it calls onConnect). */
  #abort: Abort | undefined = undefined;
  /** Set when the request had to wait: the caller's handler already has our abort. */
  #connected = false;
  /** An abort that came after the dispatch but before undici's onConnect. */
  #pendingAbort: { reason: unknown } | undefined = undefined;

  constructor(limiter: Limiter, opts: { origin?: unknown }, handler: Handler) {
    super(handler);
    this.#limiter = limiter;
    this.opts = opts;
  }

  /** The request waits: the caller's handler gets our abort, so that an abort leaves the queue at once. */
  wait(now: number): void {
    this.state = 'queued';
    this.queuedAt = now;
    this.#connected = true;
  }

  /** Ends the request without sending it (refused, destroyed, or aborted while it waited). */
  refuse(error: unknown): void {
    this.state = 'done';
    this.handler.onError(error);
  }

  /** Given to the caller's handler while waiting: an abort then leaves the queue at once. */
  abortWhileQueued(reason?: unknown): void {
    if (this.state === 'queued') {
      this.#limiter.remove(this);
      this.refuse(reason);
    } else if (this.state === 'dispatched') {
      if (this.#abort) this.#abort(reason);
      else this.#pendingAbort = { reason };
    }
  }

  /** The request ended: its slot goes to the next waiter. */
  protected ended(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.#limiter.release();
  }

  override onConnect(abort: Abort, context?: unknown): unknown {
    if (!this.#connected) return super.onConnect(abort, context);
    this.#abort = abort;
    if (this.#pendingAbort) abort(this.#pendingAbort.reason);
    return undefined;
  }
}

/** The FIFO of waiting requests: a linked list through the slots, so removing one costs nothing. */
class WaitQueue {
  head: Slot | undefined;
  #tail: Slot | undefined;
  length = 0;

  push(slot: Slot): void {
    slot.prev = this.#tail;
    if (this.#tail) this.#tail.next = slot;
    else this.head = slot;
    this.#tail = slot;
    this.length++;
  }

  remove(slot: Slot): void {
    if (slot.prev) slot.prev.next = slot.next;
    else this.head = slot.next;
    if (slot.next) slot.next.prev = slot.prev;
    else this.#tail = slot.prev;
    slot.prev = slot.next = undefined;
    this.length--;
  }

  shift(): Slot | undefined {
    const slot = this.head;
    if (slot !== undefined) this.remove(slot);
    return slot;
  }
}

export class Limiter {
  readonly #options: LimiterOptions;
  readonly #inner: Inner;
  readonly #hooks: LimiterHooks;
  readonly #queue = new WaitQueue();
  #active = 0;
  /** One timer for the whole queue: FIFO with one timeout, so the head always expires first. */
  #timer: NodeJS.Timeout | undefined;
  #draining = false;

  /** What Node's fetch dispatches to: the cap in front of the pools. */
  readonly dispatcher: Inner & { readonly slots: Slots };

  constructor(options: LimiterOptions, inner: Inner, hooks: LimiterHooks) {
    this.#options = options;
    this.#inner = inner;
    this.#hooks = hooks;
    this.dispatcher = {
      // For a caller whose handler frees its slot itself (the fast transport): a slot without the
      // wrapping handler when one is free and nobody waits; otherwise it dispatches through the queue.
      slots: {
        tryAcquire: () => {
          if (!this.#hasFreeSlot()) return false;
          this.#active++;
          return true;
        },
        release: () => this.release(),
        inner,
      },
      dispatch: (opts, handler) => this.#dispatch(opts as { origin?: unknown }, handler as Handler),
    };
  }

  /** Requests holding a slot. */
  get active(): number {
    return this.#active;
  }

  /** Requests waiting for one. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Ends every waiting request with `error` (destroy). */
  fail(error: Error): void {
    for (let slot = this.#queue.shift(); slot !== undefined; slot = this.#queue.shift()) slot.refuse(error);
    this.#clearTimer();
  }

  /** A request left the queue (aborted while waiting). */
  remove(slot: Slot): void {
    this.#queue.remove(slot);
    if (this.#queue.head === undefined) this.#clearTimer();
  }

  /** A request holding a slot ended. */
  release(): void {
    this.#active--;
    if (this.#queue.head !== undefined) this.#drain();
  }

  #hasFreeSlot(): boolean {
    return this.#active < this.#options.maxInFlight && this.#queue.head === undefined;
  }

  #dispatch(opts: { origin?: unknown }, handler: Handler): boolean {
    const slot = new Slot(this, opts, handler);
    // Fast path: a free slot and nobody waiting.
    if (this.#hasFreeSlot()) {
      this.#active++;
      return this.#inner.dispatch(opts, slot);
    }
    return this.#enqueue(slot);
  }

  #enqueue(slot: Slot): boolean {
    const { maxInFlight, maxQueue } = this.#options;
    if (this.#queue.length >= maxQueue) {
      this.#hooks.rejected('queue_full');
      slot.refuse(new QueueFullError(maxInFlight, maxQueue, hostOption(slot)));
      return true;
    }
    slot.wait(performance.now());
    this.#queue.push(slot);
    this.#armTimer();
    // The caller's handler gets our abort now: fetch calls it on an abort or a timeout while we wait
    // (and at once, from inside this call, if the request was aborted already: it is linked by then, so
    // it leaves the queue cleanly).
    slot.handler.onConnect?.((reason?: unknown) => slot.abortWhileQueued(reason));
    return true;
  }

  #send(slot: Slot): void {
    try {
      this.#inner.dispatch(slot.opts, slot);
    } catch (error) {
      // A dispatcher that throws (invalid options, closed) ends the request as undici would.
      slot.onError(error);
    }
  }

  /** Hands free slots to the waiters, oldest first. A loop, not recursion: a dispatch may end at once. */
  #drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    try {
      while (this.#active < this.#options.maxInFlight && this.#queue.head !== undefined) {
        const slot = this.#queue.shift() as Slot;
        slot.state = 'dispatched';
        this.#active++;
        this.#hooks.waited(performance.now() - slot.queuedAt);
        this.#send(slot);
      }
    } finally {
      this.#draining = false;
    }
    if (this.#queue.head === undefined) this.#clearTimer();
  }

  #armTimer(): void {
    const { queueTimeoutMs } = this.#options;
    const head = this.#queue.head;
    if (queueTimeoutMs === false || this.#timer !== undefined || head === undefined) return;
    const wait = Math.max(0, head.queuedAt + queueTimeoutMs - performance.now());
    this.#timer = setTimeout(() => this.#expire(), Math.ceil(wait)).unref();
  }

  #expire(): void {
    this.#timer = undefined;
    const { queueTimeoutMs, maxInFlight } = this.#options;
    if (queueTimeoutMs === false) return;
    const now = performance.now();
    for (
      let head = this.#queue.head;
      head !== undefined && now - head.queuedAt >= queueTimeoutMs;
      head = this.#queue.head
    ) {
      this.#queue.remove(head);
      this.#hooks.rejected('queue_timeout');
      head.refuse(new QueueTimeoutError(queueTimeoutMs, maxInFlight, hostOption(head)));
    }
    this.#armTimer();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

/** The `host` option of a refusal error: the request's host, when its origin has one. */
function hostOption(slot: Slot): { host?: string } {
  const host = hostOfOrigin(slot.opts.origin);
  return host === undefined ? {} : { host };
}

export function createLimiter(options: LimiterOptions, inner: Inner, hooks: LimiterHooks): Limiter {
  return new Limiter(options, inner, hooks);
}
