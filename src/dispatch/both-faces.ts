/**
 * A dispatcher the caller passed, whichever undici it comes from, made drivable by Node's fetch. Node's
 * fetch hands a dispatcher a legacy handler (onConnect/onHeaders/onData/onComplete/onError); undici 8's
 * dispatchers call only the new API (onRequestStart/onResponseStart/onResponseData/onResponseEnd/
 * onResponseError), some with optional chaining (MockAgent, RetryHandler, DecoratorHandler), so a legacy
 * handler hears nothing and the call never settles, or undici 8 refuses it ("invalid onRequestStart
 * method"). There is no brand that tells an undici 8 dispatcher from a 7.x one, so the handler speaks
 * both: `BothFaces` keeps the legacy face as it is and adds the new one over it. undici 8 calls the new
 * face; Node's bundled undici and npm undici 7 unwrap a handler that has `onRequestStart` and call the new
 * face too; a custom dispatcher that calls the legacy methods still finds them.
 *
 * Unlike undici 8's `Dispatcher1Wrapper`, HTTP/2 stays allowed: only an upgrade (WebSocket) is sent with
 * `allowH2: false`, the one case HTTP/1.1 is needed for (undici PR #4990).
 */
import { ForwardingHandler, type LegacyHandler as Legacy } from './handler.ts';

/** What undici 8 hands the new face. */
interface Controller {
  abort(reason?: unknown): void;
  pause(): void;
  resume(): void;
  readonly rawHeaders?: unknown;
  readonly rawTrailers?: unknown;
}

/** Raw headers (name, value, ...) as the legacy face takes them: the controller's, else from the object. */
function rawOf(raw: unknown, parsed: unknown): unknown[] {
  if (Array.isArray(raw)) return raw;
  const out: Buffer[] = [];
  for (const [name, value] of Object.entries((parsed ?? {}) as Record<string, unknown>)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v !== undefined && v !== null)
        out.push(Buffer.from(name, 'latin1'), Buffer.from(String(v), 'latin1'));
    }
  }
  return out;
}

/** The legacy face is the forwarding handler's; the new face is added over it. */
class BothFaces extends ForwardingHandler {
  protected ended(): void {}

  // The new face, over the legacy one.
  onRequestStart(controller: Controller, context: unknown): void {
    this.handler.onConnect?.((reason: unknown) => controller.abort(reason), context);
  }
  onResponseStart(
    controller: Controller,
    status: number,
    headers: unknown,
    statusText: string | undefined,
  ): void {
    this.handler.onResponseStarted?.();
    const resume = () => controller.resume();
    const raw = rawOf(controller?.rawHeaders, headers);
    if (this.handler.onHeaders?.(status, raw, resume, statusText ?? '') === false) controller.pause();
  }
  onResponseData(controller: Controller, chunk: unknown): void {
    if (this.handler.onData?.(chunk) === false) controller.pause();
  }
  onResponseEnd(controller: Controller, trailers: unknown): void {
    this.handler.onComplete?.(rawOf(controller?.rawTrailers, trailers));
  }
  onResponseError(_controller: Controller, error: unknown): void {
    this.handler.onError?.(error);
  }
  onRequestUpgrade(controller: Controller, status: number, headers: unknown, socket: unknown): void {
    this.handler.onUpgrade?.(status, rawOf(controller?.rawHeaders, headers), socket);
  }
}

const adapters = new WeakMap<object, object>();

/** `dispatcher` behind the two-faced handler: one adapter per dispatcher, made on first use. */
export function bothFacesDispatcher<D extends object>(dispatcher: D): D {
  let adapter = adapters.get(dispatcher);
  if (adapter === undefined) {
    const inner = dispatcher as unknown as { dispatch(options: object, handler: object): boolean };
    adapter = {
      dispatch: (options: { upgrade?: unknown }, handler: Legacy) =>
        inner.dispatch(options.upgrade ? { ...options, allowH2: false } : options, new BothFaces(handler)),
    };
    adapters.set(dispatcher, adapter);
  }
  return adapter as D;
}
