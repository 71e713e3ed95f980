/**
 * The fast transport: for the common requests, one `dispatch()` on our undici pools and a global
 * `Response` built from what undici hands back, without Node's fetch machinery (a Request object, a
 * fetch controller, a Node Readable per response, a few promise hops per chunk). Everything else goes to
 * Node's fetch (the fallback), so nothing a caller can pass is refused or treated differently. Which
 * requests it takes: see `plan.ts`.
 *
 * What it reproduces, step by step, from the undici bundled with Node (lib/web/fetch/index.js, checked
 * against Node 24.21's copy): the request header list and its order on the wire (the caller's headers,
 * `content-type` from the body, `accept`, `accept-language`, then per hop `content-length`,
 * `sec-fetch-mode`, `user-agent`, `accept-encoding`; `host` dropped), header casing, redirects
 * (`redirect.ts`), decoding (`decode.ts`), latin1 header values, null bodies for HEAD, 101/204/205/304,
 * the errors and aborts (`exchange.ts`). The contract test (test/transport/contract.test.ts) holds this transport
 * to Node's fetch case by case.
 */
import type { OutboundRequest, Transport } from '../types.ts';
import { Exchange } from './exchange.ts';
import { planOf } from './plan.ts';

/** A transport that counts the requests it sent itself (`fast`) and through its fallback (`fetch`). */
export type FastTransport = Transport & { readonly sent: { fast: number; fetch: number } };

/**
 * The fast transport, falling back to `fallback` (Node's fetch) for every request it does not take.
 * `isOwn` tells our pools (Node's bundled undici, whose core calls the handler interface used here).
 */
export function createFastTransport(
  fallback: Transport,
  isOwn: (dispatcher: unknown) => boolean,
): FastTransport {
  const sent = { fast: 0, fetch: 0 };
  const transport = (request: OutboundRequest): Promise<Response> => {
    const plan = planOf(request, isOwn);
    if (plan === undefined) {
      sent.fetch++;
      return fallback(request);
    }
    if (plan.signal?.aborted) {
      // As fetch: a stream body is cancelled with the reason.
      plan.body?.stream?.cancel(plan.signal.reason).catch(() => {});
      return Promise.reject(plan.signal.reason);
    }
    if (plan.abort?.aborted) return Promise.reject(plan.abort.reason);
    return new Promise<Response>((resolve, reject) => new Exchange(plan, sent, resolve, reject).send());
  };
  return Object.assign(transport, { sent });
}
