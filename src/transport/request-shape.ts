/**
 * What a call's inputs look like to fetch, read once when the call is made: the URL it requests, the
 * init copied field by field in fetch's order (headers and bytes snapshotted, as fetch reads them then),
 * and the caller's signal, which from here on lives in one place (`CallInit.signal`).
 */
import { bothFacesDispatcher } from '../dispatch/both-faces.ts';
import { hasAppGlobalDispatcher } from '../dispatch/global.ts';
import { isOwnDispatcher } from '../dispatch/own.ts';
import type { Dispatcher } from '../dispatch/undici.ts';
import { snapshotBytes } from './bytes.ts';
import type { FetchInit } from './types.ts';

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

/** A call's init as a transport gets it, and the caller's signal beside it. */
export interface CallInit {
  readonly init: FetchInit;
  /** `init.signal` when the caller's init has that field (null: none), else the Request's signal. */
  readonly signal: AbortSignal | undefined;
}

/** The URL string fetch will request, as the caller gave it. */
export const hrefOf = (input: unknown): string =>
  typeof input === 'string'
    ? input
    : input instanceof URL
      ? input.href
      : input instanceof Request
        ? input.url
        : String(input);

/** True when `init` is something fetch reads as a dictionary (absent, null, or an object). */
export const isDictionary = (init: unknown): boolean =>
  init === undefined || init === null || typeof init === 'object' || typeof init === 'function';

/**
 * A record as fetch reads one (its own enumerable string keys): a plain object or one without a
 * prototype, with no symbol keys (fetch throws on those; such objects are left for fetch to refuse).
 */
export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return (proto === Object.prototype || proto === null) && Object.getOwnPropertySymbols(value).length === 0;
}

/**
 * Copies the caller's init into an object of our own. Fields are read with a property get (not a
 * spread), so an init whose fields are getters, even a `Request` passed as init, reads as fetch reads it.
 * The signal is taken out: an `AbortSignal` (or null) goes to `signal`; anything else stays in the init,
 * where fetch refuses it.
 */
export function normaliseInit(input: unknown, init: unknown, dispatcher: Dispatcher): CallInit {
  const out: Record<string, unknown> = {};
  let signal: AbortSignal | undefined;
  let hasSignal = false;
  if (init !== undefined && init !== null) {
    const source = init as Record<string, unknown>;
    for (const field of initFields) {
      const value = source[field];
      if (field === 'signal' && (value === null || value instanceof AbortSignal)) {
        hasSignal = true;
        signal = value ?? undefined;
      } else if (value !== undefined) out[field] = value;
    }
  }
  if (!hasSignal && input instanceof Request) signal = input.signal;
  // A dispatcher the caller chose is used as given, through a handler that speaks both undici handler
  // APIs (Node's fetch speaks the 7.x one; undici 8's dispatchers hear only the new one).
  if (out.dispatcher !== undefined && !isOwnDispatcher(out.dispatcher)) {
    out.dispatcher = bothFacesDispatcher(out.dispatcher as object) as Dispatcher;
  } else if (out.dispatcher === undefined && !hasAppGlobalDispatcher()) out.dispatcher = dispatcher;
  // fetch reads the headers and the body when it is called; a call's attempts run a few microtasks
  // later, so what the caller changes after the call returns must not reach them.
  if (out.headers !== undefined) out.headers = snapshotHeaders(out.headers);
  if (out.body !== undefined && out.body !== null) out.body = snapshotBytes(snapshotParams(out.body));
  return { init: out as FetchInit, signal };
}

/** A copy of headers given as a record, an array of pairs or a `Headers` object; anything else as is. */
function snapshotHeaders(headers: unknown): unknown {
  if (headers instanceof Headers) return new Headers(headers);
  if (Array.isArray(headers)) return headers.map((pair) => (Array.isArray(pair) ? [...pair] : pair));
  if (!isPlainRecord(headers)) return headers;
  // Each value read once (getters too).
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(headers)) copy[key] = headers[key];
  return copy;
}

/** A copy of a URLSearchParams body (fetch serialises it when called); anything else as is. */
const snapshotParams = (body: unknown): unknown =>
  body instanceof URLSearchParams ? new URLSearchParams(body) : body;
