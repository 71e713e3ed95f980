/** What the hub tells when its signal aborts (an exchange in flight). */
export interface AbortWatcher {
  aborted(reason: unknown): void;
}

/**
 * The caller's signal, listened to once: one `abort` listener per signal, shared by every exchange and
 * finished body that watches it. A signal shared by many requests (an app-wide shutdown signal) would
 * otherwise gather one listener per request, and Node's EventTarget walks its whole list on every add
 * and remove. The listener is there only while something is watched: Node keeps a timeout or composite
 * (`AbortSignal.any`) signal alive while it has an abort listener, so a listener left behind would keep a
 * per-request signal forever.
 */
export class SignalHub {
  readonly #signal: AbortSignal;
  readonly #listener = () => this.#fire();
  #listening = false;
  /** Exchanges in flight: told when the signal aborts. Each leaves when it ends. */
  readonly #exchanges = new Set<AbortWatcher>();
  /**
   * Bodies that arrived whole but may be unread: as in fetch, an abort errors them. Held weakly, and
   * forgotten once collected, so that a long-lived signal does not keep finished calls alive (fetch does
   * the same with its own finalization registry).
   */
  readonly #bodies = new Set<WeakRef<ReadableByteStreamController>>();

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  join(exchange: AbortWatcher): void {
    this.#exchanges.add(exchange);
    this.#listen();
  }

  leave(exchange: AbortWatcher): void {
    this.#exchanges.delete(exchange);
    this.#unlistenIfIdle();
  }

  watchLate(controller: ReadableByteStreamController): void {
    const body = new WeakRef(controller);
    this.#bodies.add(body);
    lateBodies.register(controller, { hub: this, body });
    this.#listen();
  }

  forget(body: WeakRef<ReadableByteStreamController>): void {
    this.#bodies.delete(body);
    this.#unlistenIfIdle();
  }

  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#signal.addEventListener('abort', this.#listener, { once: true });
  }

  #unlistenIfIdle(): void {
    if (!this.#listening || this.#exchanges.size > 0 || this.#bodies.size > 0) return;
    this.#listening = false;
    this.#signal.removeEventListener('abort', this.#listener);
  }

  #fire(): void {
    this.#listening = false;
    const reason = this.#signal.reason;
    for (const exchange of [...this.#exchanges]) {
      try {
        exchange.aborted(reason);
      } catch (error) {
        // One exchange failing must not leave the others pending; reported as a listener's error would be.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    for (const body of this.#bodies) {
      try {
        body.deref()?.error(reason);
      } catch {
        // Read to its end, or cancelled: nothing left to error.
      }
    }
    this.#exchanges.clear();
    this.#bodies.clear();
  }
}

const hubs = new WeakMap<AbortSignal, SignalHub>();

export function hubOf(signal: AbortSignal): SignalHub {
  let hub = hubs.get(signal);
  if (hub === undefined) {
    hub = new SignalHub(signal);
    hubs.set(signal, hub);
  }
  return hub;
}

/** Forgets a watched body once it is collected (see `SignalHub.watchLate`). */
const lateBodies = new FinalizationRegistry<{
  hub: SignalHub;
  body: WeakRef<ReadableByteStreamController>;
}>(({ hub, body }) => hub.forget(body));
