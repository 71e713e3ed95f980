/** What the hub tells when its signal aborts (an exchange in flight). */
export interface AbortWatcher {
  aborted(reason: unknown): void;
}

/**
 * The caller's signal, listened to once: one `abort` listener per signal, shared by every exchange that
 * watches it (an exchange watches until its body is read to the end, cancelled or errored). A signal
 * shared by many requests (an app-wide shutdown signal) would otherwise gather one listener per request,
 * and Node's EventTarget walks its whole list on every add and remove. The listener is there only while
 * something is watched: Node keeps a timeout or composite (`AbortSignal.any`) signal alive while it has
 * an abort listener, so a listener left behind would keep a per-request signal forever, and nothing of a
 * finished call stays attached to the caller's signal.
 */
export class SignalHub {
  readonly #signal: AbortSignal;
  readonly #listener = () => this.#fire();
  #listening = false;
  /** Exchanges in flight: told when the signal aborts. Each leaves when it ends. */
  readonly #exchanges = new Set<AbortWatcher>();

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

  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#signal.addEventListener('abort', this.#listener, { once: true });
  }

  #unlistenIfIdle(): void {
    if (!this.#listening || this.#exchanges.size > 0) return;
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
    this.#exchanges.clear();
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
