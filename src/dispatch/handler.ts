/**
 * A legacy undici handler (the interface Node's bundled undici core calls natively and Node's fetch
 * speaks) placed in front of another one: every callback is forwarded as is, and `ended()` runs once
 * when the request ends (completed, errored, or upgraded). The one place that sees a request end,
 * whichever route dispatched it: the total cap (dispatch/queue.ts) frees its slot there, the deadline over
 * the body (policies/deadline.ts) stops its timer there; `both-faces.ts` adds undici 8's handler API
 * over it.
 *
 * Explicit parameters, no rest arrays: these run for every request, `onData` for every chunk.
 */
export type LegacyHandler = Record<string, ((...args: unknown[]) => unknown) | undefined> & {
  onError(error: unknown): unknown;
};

export abstract class ForwardingHandler {
  readonly handler: LegacyHandler;
  #ended = false;

  constructor(handler: LegacyHandler) {
    this.handler = handler;
  }

  /** Runs once, when the request ends (after the wrapped handler heard of it, even if it threw). */
  protected abstract ended(): void;

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.ended();
  }

  onConnect(abort: unknown, context?: unknown): unknown {
    return this.handler.onConnect?.(abort, context);
  }
  onUpgrade(status: unknown, headers: unknown, socket: unknown): unknown {
    try {
      return this.handler.onUpgrade?.(status, headers, socket);
    } finally {
      this.#end();
    }
  }
  onHeaders(status: unknown, headers: unknown, resume: unknown, statusText: unknown): unknown {
    return this.handler.onHeaders?.(status, headers, resume, statusText);
  }
  onData(chunk: unknown): unknown {
    return this.handler.onData?.(chunk);
  }
  onBodySent(chunk: unknown): unknown {
    return this.handler.onBodySent?.(chunk);
  }
  onRequestSent(): unknown {
    return this.handler.onRequestSent?.();
  }
  onResponseStarted(): unknown {
    return this.handler.onResponseStarted?.();
  }
  onComplete(trailers: unknown): unknown {
    try {
      return this.handler.onComplete?.(trailers);
    } finally {
      this.#end();
    }
  }
  onError(error: unknown): unknown {
    try {
      return this.handler.onError(error);
    } finally {
      this.#end();
    }
  }
}
