/**
 * The connection each request went out on (`network.peer.address`, `network.peer.port`,
 * `network.protocol.version` of the attempt spans). undici tells it on its `undici:client:sendHeaders`
 * diagnostics channel, with the socket and its own request object, which holds the handler the request was
 * dispatched with. A transport links that handler to the attempt's `Peer`: the fast transport's handler
 * carries it as `peer`; for Node's fetch (whose handler is its own) a dispatcher in front notes the
 * handler in a WeakMap. Wrappers between (the total cap's slot) expose what they wrap as `handler`.
 *
 * Subscribed once, the first time a recording span asks for a peer: with no SDK, undici publishes nothing.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { isOwnDispatcher, markOwnDispatcher } from './own.ts';

export interface Peer {
  address: string | undefined;
  port: number | undefined;
  protocol: '1.1' | '2' | undefined;
}

/** Handlers Node's fetch dispatched (through `tapDispatcher`) -> their peer. */
const tapped = new WeakMap<object, Peer>();
let handlerKey: symbol | null | undefined;
let subscribed = false;

function peerOf(handler: unknown): Peer | undefined {
  for (let depth = 0; depth < 4 && typeof handler === 'object' && handler !== null; depth++) {
    const own = (handler as { peer?: Peer }).peer;
    if (own !== undefined) return own;
    const noted = tapped.get(handler);
    if (noted !== undefined) return noted;
    handler = (handler as { handler?: unknown }).handler;
  }
  return undefined;
}

function onSendHeaders(message: unknown): void {
  const { request, socket } = message as { request: Record<symbol, unknown>; socket?: unknown };
  // undici keeps the handler under a symbol-keyed field; found once, by its description.
  handlerKey ??= Object.getOwnPropertySymbols(request).find((key) => key.description === 'handler') ?? null;
  if (handlerKey === null || typeof socket !== 'object' || socket === null) return;
  const peer = peerOf(request[handlerKey]);
  if (peer === undefined) return;
  const s = socket as { remoteAddress?: string; remotePort?: number; alpnProtocol?: string | false };
  peer.address = s.remoteAddress;
  peer.port = s.remotePort;
  peer.protocol = s.alpnProtocol === 'h2' ? '2' : '1.1';
}

/** A new, empty peer, with the channel listened to. */
export function watchPeer(): Peer {
  if (!subscribed) {
    subscribed = true;
    diagnosticsChannel.subscribe('undici:client:sendHeaders', onSendHeaders);
  }
  return { address: undefined, port: undefined, protocol: undefined };
}

/** A dispatcher in front of `inner` that notes each request's handler, so its connection reaches `peer`. */
export function tapDispatcher<D extends { dispatch: unknown }>(inner: D, peer: Peer): D {
  const dispatch = (options: unknown, handler: object) => {
    tapped.set(handler, peer);
    return (inner.dispatch as (o: unknown, h: unknown) => boolean)(options, handler);
  };
  const tap = { dispatch };
  if (isOwnDispatcher(inner)) markOwnDispatcher(tap);
  return tap as unknown as D;
}
