/**
 * Response limits on the route through Node's fetch, which decodes the body itself: a dispatcher in
 * front of the pools refuses a `content-length` over the byte cap and counts the encoded bytes (undici's
 * side), and the Response's body is passed through a meter of the decoded bytes (fetch's side). Past a
 * limit, the request is aborted with our error, so the connection is dropped and fetch rejects (`fetch
 * failed`) or errors its body (`terminated`) with it as the cause. Only calls with limits come here.
 */

import { ForwardingHandler, type LegacyHandler } from '../dispatch/handler.ts';
import { isOwnDispatcher, markOwnDispatcher } from '../dispatch/own.ts';
import { fetchFailed } from '../errors.ts';
import { adopt, cancelUnclaimed } from './fast/response.ts';
import { declaredTooLarge, decodedLength, type ResponseLimits, ResponseMeter } from './response-limit.ts';
import type { FetchInit } from './types.ts';

const redirectStatuses = new Set([301, 302, 303, 307, 308]);

/** What the tap and the body's meter share for one attempt. */
export class LimitState {
  readonly limits: ResponseLimits;
  /** Encoded bytes of the current response so far (each hop starts again at its headers). */
  encodedBodySize = 0;
  /** The meter of the current response's body. */
  meter: ResponseMeter | undefined;
  /** Aborts the request on the wire. */
  abort: ((reason: unknown) => void) | undefined;

  constructor(limits: ResponseLimits) {
    this.limits = limits;
  }
}

/** The first value of header `name` in undici's raw headers (names and values alternating). */
function headerOf(raw: unknown, name: string): string | undefined {
  if (!Array.isArray(raw)) return undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (String(raw[i]).toLowerCase() === name) return String(raw[i + 1]);
  }
  return undefined;
}

class LimitTap extends ForwardingHandler {
  readonly #state: LimitState;

  constructor(handler: LegacyHandler, state: LimitState) {
    super(handler);
    this.#state = state;
  }

  protected ended(): void {}

  override onConnect(abort: unknown, context?: unknown): unknown {
    this.#state.abort = abort as (reason: unknown) => void;
    return super.onConnect(abort, context);
  }

  override onHeaders(status: unknown, headers: unknown, resume: unknown, statusText: unknown): unknown {
    const state = this.#state;
    const followed = redirectStatuses.has(status as number) && headerOf(headers, 'location') !== undefined;
    if (!followed && (status as number) >= 200) {
      const length = decodedLength(
        headerOf(headers, 'content-length'),
        headerOf(headers, 'content-encoding'),
      );
      const over = declaredTooLarge(state.limits, length);
      if (over !== undefined) {
        state.abort?.(over);
        return false;
      }
      state.encodedBodySize = 0;
      state.meter = new ResponseMeter(state.limits, state);
    }
    return super.onHeaders(status, headers, resume, statusText);
  }

  override onData(chunk: unknown): unknown {
    this.#state.encodedBodySize += (chunk as Buffer).length;
    return super.onData(chunk);
  }
}

/** The init with a dispatcher that applies `state`'s limits (the init's own dispatcher behind it). */
export function limitInit(init: FetchInit, state: LimitState): FetchInit {
  const inner = init.dispatcher;
  if (inner === undefined) return init;
  const dispatch = (opts: unknown, handler: LegacyHandler) =>
    (inner.dispatch as (o: unknown, h: unknown) => boolean)(opts, new LimitTap(handler, state));
  const wrapper = { dispatch };
  if (isOwnDispatcher(inner)) markOwnDispatcher(wrapper);
  return { ...init, dispatcher: wrapper } as FetchInit;
}

/**
 * The counted body of a collected Response is cancelled by the rule of Node's fetch (only when nobody
 * locked, read or errored it), which cancels fetch's own body under it and so ends the request: fetch's
 * registry does not know the Response we build.
 */
const countedFinalizer = new FinalizationRegistry<ReadableStream>((stream) =>
  cancelUnclaimed(stream, new DOMException('Response object has been garbage collected', 'AbortError')),
);

/**
 * The meter of a response the tap never saw (a Request's own dispatcher, which Node's fetch reads where
 * nobody else can): the byte cap only, from the headers and what fetch decodes (the encoded bytes that
 * the ratio needs are unseen). Throws fetch's network error when the content-length is over the cap.
 */
function unseenMeter(response: Response, state: LimitState): ResponseMeter {
  const { headers } = response;
  const length = decodedLength(
    headers.get('content-length') ?? undefined,
    headers.get('content-encoding') ?? undefined,
  );
  const over = declaredTooLarge(state.limits, length);
  if (over !== undefined) {
    response.body?.cancel(over).catch(() => {});
    throw fetchFailed(over);
  }
  return new ResponseMeter({ ...state.limits, maxRatio: false }, state);
}

/** `response` with its body counted by `state`'s meter: past a limit, the request is aborted. */
export function limitBody(response: Response, state: LimitState): Response {
  if (response.body === null) return response;
  const meter = state.meter ?? unseenMeter(response, state);
  const counted = response.body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        if (meter.admit(chunk.byteLength)) controller.enqueue(chunk);
        else {
          state.abort?.(meter.error);
          controller.error(new TypeError('terminated', { cause: meter.error }));
        }
      },
    }),
  );
  const limited = new Response(counted, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  countedFinalizer.register(limited, counted);
  return adopt(limited, response.url, response.redirected, response.type);
}
