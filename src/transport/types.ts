/**
 * The transport seam: one function from a normalised request to a `Response`. Everything above it (the
 * policies, the telemetry) works on `OutboundRequest`; a transport can be replaced without touching them.
 * Two implement it: Node's own fetch (`node-fetch.ts`), and the fast transport (`fast/`), which sends the
 * common requests itself and hands everything else to Node's fetch.
 */
import type { Peer } from '../dispatch/peers.ts';
import type { Dispatcher } from '../dispatch/undici.ts';
import type { AttemptAbort } from './attempt-abort.ts';
import type { ResponseLimits } from './response-limit.ts';

/** `RequestInit` as Node's fetch reads it, including its `dispatcher` extension. */
export type FetchInit = RequestInit & { dispatcher?: Dispatcher };

export interface OutboundRequest {
  /** The caller's `input`: the URL string as it was at call time, or the caller's `Request`. */
  readonly input: string | Request;
  /**
   * A fresh init object owned by this call: the caller's fields copied (never the caller's object, so
   * it is never mutated), its headers and its bytes or URLSearchParams body copies taken when the call
   * was made (a transport may use them in place), and `dispatcher` set to the pools unless the caller
   * chose one. The caller's signal is not in it (see `signal`), unless it is not an `AbortSignal` at all,
   * which is left for fetch to refuse.
   */
  readonly init: FetchInit;
  /** The caller's signal: `init.signal` when the caller gave that field (null for none), else the Request's. */
  readonly signal: AbortSignal | undefined;
  /**
   * Called by a transport that follows redirects itself, before it sends the next hop (`method` on
   * `next`), after a hop answered `status`; returns headers to set on the next hop (trace context).
   */
  readonly onRedirect?:
    | ((status: number, next: string, method: string) => Record<string, string> | undefined)
    | undefined;
  /** Where to note the connection each request goes out on (for the attempt's span), if wanted. */
  readonly peer?: Peer | undefined;
  /**
   * The attempt's own abort (its timeout, the deadline, a response being discarded), apart from the
   * caller's signal. A transport stops the request, or errors the body, with its reason, as it would for
   * the caller's signal.
   */
  readonly abort?: AttemptAbort | undefined;
  /** The call's response limits; absent when it has none (nothing is counted then). */
  readonly limits?: ResponseLimits | undefined;
}

export type Transport = (request: OutboundRequest) => Promise<Response>;
