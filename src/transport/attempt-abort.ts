/**
 * An attempt's abort, cheap until something needs a real `AbortSignal`. Creating an `AbortSignal` (and
 * combining it with the caller's through `AbortSignal.any`) and listening to it cost microseconds per
 * request, and the attempt's own abort almost never fires: the fast transport listens here with one
 * function slot; Node's fetch gets `signal`, made on first use.
 */
export class AttemptAbort {
  aborted = false;
  reason: unknown = undefined;
  #controller: AbortController | undefined;
  #listener: ((reason: unknown) => void) | undefined;

  /** Aborts with `reason` (by default an `AbortError`, as `AbortController.abort()` makes one). */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason =
      reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
    this.#controller?.abort(this.reason);
    const listener = this.#listener;
    this.#listener = undefined;
    listener?.(this.reason);
  }

  /** Sets the one listener (a transport's), or clears it with `undefined`. */
  listen(listener: ((reason: unknown) => void) | undefined): void {
    this.#listener = listener;
  }

  /** A real signal that aborts with this abort; made on first use. */
  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort(this.reason);
    }
    return this.#controller.signal;
  }
}
