/**
 * A body nobody reads and nobody holds would keep its connection (and its slot under the total cap)
 * forever: as Node's fetch does, it is cancelled once its Response is garbage-collected (see
 * `Exchange.collected`). Registered a microtask after the Response is handed over: a small body has then
 * usually ended, and needs no registration (which costs more than the check).
 */

/** What is watched: an exchange whose body may still be open. */
export interface Watched {
  /** The body is still arriving, or arrived but not yet read. */
  readonly bodyOpen: boolean;
  /** Its Response was garbage-collected before the body ended. */
  collected(): void;
}

/** Cancels the body of a Response collected before its body ended. */
const bodyFinalizer = new FinalizationRegistry<Watched>((watched) => watched.collected());

export class BodyWatch {
  #watched = false;

  /**
   * Watches `response` for `watched` from the next microtask, unless its body has ended by then. A
   * method of its own: a closure in the exchange's `headers` over the Response would share that method's
   * context with the body stream's callbacks, and the request in flight would then hold the Response.
   */
  soon(response: Response, watched: Watched): void {
    queueMicrotask(() => {
      if (!watched.bodyOpen) return;
      this.#watched = true;
      bodyFinalizer.register(response, watched, this);
    });
  }

  stop(): void {
    if (!this.#watched) return;
    this.#watched = false;
    bodyFinalizer.unregister(this);
  }
}
