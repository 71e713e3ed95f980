/**
 * The transport over Node's own fetch, with our undici pools as its dispatcher. Because it is Node's
 * fetch, everything a caller can pass to the global fetch is accepted exactly as the global fetch accepts
 * it (the global `Request`, `Headers`, `FormData`, `Blob`, streams with `duplex: 'half'`, `data:`/`blob:`
 * URLs), it rejects invalid input with the same errors, and it returns the global `Response`.
 */
// Loaded first, also for its side effect: the global-dispatcher slot is filled (by Node's own default) before
// `nativeFetch` below and the slot's snapshot are taken.
import { withGlobalDispatcher } from '../dispatch/global.ts';
import { isOwnDispatcher } from '../dispatch/own.ts';
import { tapDispatcher } from '../dispatch/peers.ts';
import { openEndedBlobRange } from './blob-range.ts';
import { LimitState, limitBody, limitInit } from './limit-tap.ts';
import type { FetchInit, Transport } from './types.ts';

/**
 * The global fetch as it was when this module loaded, before any `install()`: the fetch we call, so an
 * installed resilientFetch never calls itself.
 */
export const nativeFetch: typeof fetch = globalThis.fetch;

/** A transport over Node's own fetch. */
export function createNodeFetchTransport(fetchImpl: typeof fetch = nativeFetch): Transport {
  return (request) => {
    const blob = openEndedBlobRange(request.input, request.init);
    if (blob !== undefined) return blob;
    const { peer, abort, signal } = request;
    let { init } = request;
    // Node's fetch takes one signal: the caller's and the attempt's, combined. (A `signal` left in the
    // init is not an AbortSignal: fetch refuses it.)
    if (!('signal' in init)) {
      let combined: AbortSignal | null = signal ?? null;
      if (abort !== undefined)
        combined = signal === undefined ? abort.signal : AbortSignal.any([signal, abort.signal]);
      init = { ...init, signal: combined };
    }
    // Node's fetch dispatches with a handler of its own: a dispatcher in front notes it for the peer.
    if (peer !== undefined && init.dispatcher !== undefined) {
      init = { ...init, dispatcher: tapDispatcher(init.dispatcher, peer) } as FetchInit;
    }
    const { input, limits } = request;
    // Response limits: a dispatcher in front counts what undici receives, a meter what fetch decodes.
    const state = limits === undefined ? undefined : new LimitState(limits);
    if (state !== undefined) init = limitInit(init, state);
    let pending: Promise<Response>;
    // A Request may carry a dispatcher of its own, which only Node's fetch can read, and which wins over
    // the global one but not over `init.dispatcher`: ours goes in the global slot for the call instead.
    if (input instanceof Request && init.dispatcher !== undefined && isOwnDispatcher(init.dispatcher)) {
      const { dispatcher, ...rest } = init;
      pending = settledByAbort(
        withGlobalDispatcher(dispatcher, () => fetchImpl(input, rest)),
        rest.signal,
      );
    } else pending = fetchImpl(input, init);
    return state === undefined ? pending : pending.then((response) => limitBody(response, state));
  };
}

/**
 * `pending`, or the abort reason of `signal` if that comes first. Node's fetch cannot abort a call whose
 * dispatcher never answers its handler (a Request built with an undici 8 dispatcher: Node's fetch hands
 * it the undici 7 handler API and waits forever, its signal included), so the call settles on the abort
 * here, with the reason Node's fetch rejects with, as it would have.
 */
function settledByAbort(pending: Promise<Response>, signal: unknown): Promise<Response> {
  if (!(signal instanceof AbortSignal) || signal.aborted) return pending;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    pending.then(
      (response) => {
        signal.removeEventListener('abort', onAbort);
        resolve(response);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
