/**
 * The transport seam: one function from a normalised request to a `Response`. Everything above it
 * (lifecycle now; policies and telemetry later) works on `OutboundRequest`; a faster transport can
 * replace this one without touching them.
 *
 * This transport is Node's own fetch with our undici pools as its dispatcher. Because it is Node's fetch,
 * everything a caller can pass to the global fetch is accepted exactly as the global fetch accepts it
 * (the global `Request`, `Headers`, `FormData`, `Blob`, streams with `duplex: 'half'`, `data:`/`blob:`
 * URLs), it rejects invalid input with the same errors, and it returns the global `Response`.
 */
import type { Dispatcher } from 'undici';

/** `RequestInit` as Node's fetch reads it, including its `dispatcher` extension. */
export type FetchInit = RequestInit & { dispatcher?: Dispatcher };

/** The fields of `RequestInit` (plus Node's `dispatcher`) that fetch reads. */
const initFields = [
  'method',
  'headers',
  'body',
  'referrer',
  'referrerPolicy',
  'mode',
  'credentials',
  'cache',
  'redirect',
  'integrity',
  'keepalive',
  'signal',
  'window',
  'duplex',
  'priority',
  'dispatcher',
] as const;

export interface OutboundRequest {
  /** The caller's `input`, untouched: a string, a `URL` or a `Request`. */
  readonly input: string | URL | Request;
  /**
   * A fresh init object owned by this call: the caller's fields copied (never the caller's object, so
   * it is never mutated) and `dispatcher` set to the pools unless the caller chose one.
   */
  readonly init: FetchInit;
}

export type Transport = (request: OutboundRequest) => Promise<Response>;

/**
 * Copies the caller's init into an object of our own. Fields are read with a property get (not a
 * spread), so an init whose fields are getters, even a `Request` passed as init, reads as fetch reads it.
 */
export function normaliseInit(init: unknown, dispatcher: Dispatcher): FetchInit {
  const out: Record<string, unknown> = {};
  if (init !== undefined && init !== null) {
    const source = init as Record<string, unknown>;
    for (const field of initFields) {
      const value = source[field];
      if (value !== undefined) out[field] = value;
    }
  }
  out.dispatcher ??= dispatcher;
  return out as FetchInit;
}

/** True when `init` is something fetch reads as a dictionary (absent, null, or an object). */
export const isDictionary = (init: unknown): boolean =>
  init === undefined || init === null || typeof init === 'object' || typeof init === 'function';

/**
 * The global fetch as it was when this module loaded, before any `install()`: the fetch we call, so an
 * installed resilientFetch never calls itself.
 */
export const nativeFetch: typeof fetch = globalThis.fetch;

/** A transport over Node's own fetch. */
export function createNodeFetchTransport(fetchImpl: typeof fetch = nativeFetch): Transport {
  return (request) => fetchImpl(request.input, request.init);
}
