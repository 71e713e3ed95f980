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
// Loaded for its side effect: the global-dispatcher slot is filled (by Node's own default) before the
// snapshot below is taken.
import './dispatch/undici.ts';
import { type Peer, tapDispatcher } from './dispatch/peers.ts';
import { isDefaultGlobalDispatcherNodes } from './dispatch/pools.ts';
import type { Dispatcher } from './dispatch/undici.ts';

/** `RequestInit` as Node's fetch reads it, including its `dispatcher` extension. */
export type FetchInit = RequestInit & { dispatcher?: Dispatcher };

/**
 * The fields of `RequestInit` (plus Node's `dispatcher`) that fetch reads, in the order fetch reads them
 * (alphabetical, as WebIDL dictionaries are), so getters run in the same order as under native fetch.
 */
const initFields = [
  'body',
  'cache',
  'credentials',
  'dispatcher',
  'duplex',
  'headers',
  'integrity',
  'keepalive',
  'method',
  'mode',
  'priority',
  'redirect',
  'referrer',
  'referrerPolicy',
  'signal',
  'window',
] as const;

export interface OutboundRequest {
  /** The caller's `input`, untouched: a string, a `URL` or a `Request`. */
  readonly input: string | URL | Request;
  /**
   * A fresh init object owned by this call: the caller's fields copied (never the caller's object, so
   * it is never mutated), its headers and its bytes or URLSearchParams body copies taken when the call
   * was made (a transport may use them in place), and `dispatcher` set to the pools unless the caller
   * chose one.
   */
  readonly init: FetchInit;
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
   * caller's signal (in `init`, else the Request's). A transport stops the request, or errors the body,
   * with its reason, as it would for the caller's signal.
   */
  readonly abort?: AttemptAbort | undefined;
}

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

/**
 * The caller's signal as fetch reads it: `init.signal` when the field is there (null for none), else
 * the Request's.
 */
export function callerSignalOf(input: unknown, init: FetchInit): AbortSignal | undefined {
  if ('signal' in init) return init.signal ?? undefined;
  return input instanceof Request ? input.signal : undefined;
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
  if (out.dispatcher === undefined && !hasAppGlobalDispatcher()) out.dispatcher = dispatcher;
  // fetch reads the headers and the body when it is called; a call's attempts run a few microtasks
  // later, so what the caller changes after the call returns must not reach them.
  if (out.headers !== undefined) out.headers = snapshotHeaders(out.headers);
  if (out.body !== undefined && out.body !== null) out.body = snapshotBody(out.body);
  return out as FetchInit;
}

/** A copy of headers given as a record, an array of pairs or a `Headers` object; anything else as is. */
function snapshotHeaders(headers: unknown): unknown {
  if (headers instanceof Headers) return new Headers(headers);
  if (Array.isArray(headers)) return headers.map((pair) => (Array.isArray(pair) ? [...pair] : pair));
  if (typeof headers !== 'object' || headers === null) return headers;
  const proto = Object.getPrototypeOf(headers);
  // A record as fetch reads one: its own enumerable string keys, each value read once (getters too).
  // With symbol keys fetch throws: left for fetch to refuse.
  if ((proto !== Object.prototype && proto !== null) || Object.getOwnPropertySymbols(headers).length > 0) {
    return headers;
  }
  const record = headers as Record<string, unknown>;
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(record)) copy[key] = record[key];
  return copy;
}

/** A copy of a body given as bytes or URLSearchParams (fetch copies them when called); others as is. */
function snapshotBody(body: unknown): unknown {
  if (body instanceof URLSearchParams) return new URLSearchParams(body);
  if (body instanceof ArrayBuffer) return (body as { detached?: boolean }).detached ? body : body.slice(0);
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer) {
    if ((body.buffer as { detached?: boolean }).detached) return body;
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice();
  }
  return body;
}

/** True when `init` is something fetch reads as a dictionary (absent, null, or an object). */
export const isDictionary = (init: unknown): boolean =>
  init === undefined || init === null || typeof init === 'object' || typeof init === 'function';

/**
 * The global fetch as it was when this module loaded, before any `install()`: the fetch we call, so an
 * installed resilientFetch never calls itself.
 */
export const nativeFetch: typeof fetch = globalThis.fetch;

// The slot Node's fetch reads its dispatcher from (undici's `setGlobalDispatcher()` writes it, wrapping
// an undici 8 dispatcher). Whatever it holds when this module loads is the default.
const kGlobalDispatcher = Symbol.for('undici.globalDispatcher.1');
const slots = globalThis as unknown as Record<symbol, unknown>;
const defaultGlobalDispatcher = slots[kGlobalDispatcher];

/**
 * True when the global dispatcher is not Node's own default: the app set one (a ProxyAgent, an
 * EnvHttpProxyAgent, a MockAgent in its tests) after this module loaded, or one was there before it loaded
 * (Node's EnvHttpProxyAgent under `NODE_USE_ENV_PROXY`, or the app's). Recognised by identity, not type: a plain `Agent` the app set is
 * as much its choice as a ProxyAgent. Such a dispatcher is used as Node's fetch would use it, and so it
 * bypasses our pools.
 */
export const hasAppGlobalDispatcher = (): boolean =>
  !isDefaultGlobalDispatcherNodes || slots[kGlobalDispatcher] !== defaultGlobalDispatcher;

/** A transport over Node's own fetch. */
export function createNodeFetchTransport(fetchImpl: typeof fetch = nativeFetch): Transport {
  return (request) => {
    const { peer, abort } = request;
    let { init } = request;
    if (abort !== undefined) {
      // Node's fetch takes one signal: the caller's and the attempt's, combined.
      const caller = callerSignalOf(request.input, init);
      init = {
        ...init,
        signal: caller === undefined ? abort.signal : AbortSignal.any([caller, abort.signal]),
      };
    }
    // Node's fetch dispatches with a handler of its own: a dispatcher in front notes it for the peer.
    if (peer !== undefined && init.dispatcher !== undefined) {
      return fetchImpl(request.input, { ...init, dispatcher: tapDispatcher(init.dispatcher, peer) });
    }
    return fetchImpl(request.input, init);
  };
}
