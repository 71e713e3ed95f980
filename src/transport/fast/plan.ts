/**
 * The request plan: decided before anything is sent, so that a request the fast transport cannot
 * reproduce exactly goes to Node's fetch instead.
 *
 * Which requests: a string input with an http(s) URL and no credentials; an init with at most `body`,
 * `headers`, `method`, `redirect: 'follow'` (and our pools as `dispatcher`); a method fetch would send
 * as is or normalise (DELETE, GET, HEAD, OPTIONS, POST, PUT in any case, PATCH); a body that is a string,
 * bytes, URLSearchParams, or a `ReadableStream` with `duplex: 'half'` (sent as it is read); headers given as an array of pairs or a plain record (not a `Headers`
 * object, whose names' casing only fetch can read), every name and value valid, and none of the headers
 * that make Node's fetch change the request itself (`range`, conditional `if-*` headers). Anything else,
 * including anything fetch would reject, goes to Node's fetch, which then rejects it with its own error.
 */
import { Readable } from 'node:stream';
import type { Peer } from '../../dispatch/peers.ts';
import type { Slots } from '../../dispatch/queue.ts';
import type { AttemptAbort } from '../attempt-abort.ts';
import { viewBytes } from '../bytes.ts';
import { isPlainRecord } from '../request-shape.ts';
import type { ResponseLimits } from '../response-limit.ts';
import type { OutboundRequest } from '../types.ts';
import type { Handler } from './hop.ts';
import { ResourceTiming } from './timing.ts';

export interface DispatchOptions {
  readonly origin: string;
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  /** Bytes, or a caller's stream as an async iterable (undici writes each chunk once the socket drains). */
  readonly body: Buffer | AsyncIterable<unknown> | null;
}

export interface Dispatcher {
  dispatch(options: DispatchOptions, handler: Handler): boolean;
  /** The total cap's slots (src/dispatch/queue.ts), when this dispatcher is the cap. */
  readonly slots?: Slots;
}

/** Methods fetch normalises to upper case (and PATCH, which it sends as given). */
const normalisedMethods: Record<string, string> = {
  DELETE: 'DELETE',
  GET: 'GET',
  HEAD: 'HEAD',
  OPTIONS: 'OPTIONS',
  POST: 'POST',
  PUT: 'PUT',
  PATCH: 'PATCH',
};

const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// HTTP whitespace at either end is trimmed; NUL, CR, LF anywhere or a code unit above 0xFF is invalid.
const edgeWhitespaceRe = /^[\t\n\r ]+|[\t\n\r ]+$/g;
const invalidValueRe = /[\0\r\n\u0100-\uffff]/;

/** Headers that make Node's fetch alter the request (cache mode, `accept-encoding: identity`). */
const changesRequest = new Set([
  'range',
  'if-modified-since',
  'if-none-match',
  'if-unmodified-since',
  'if-match',
  'if-range',
]);

/** Ports fetch refuses (the Fetch standard's "bad port" list, as Node's undici has it). */
export const badPorts = new Set(
  '1 7 9 11 13 15 17 19 20 21 22 23 25 37 42 43 53 69 77 79 87 95 101 102 103 104 109 110 111 113 115 117 119 123 135 137 139 143 161 179 389 427 465 512 513 514 515 526 530 531 532 540 548 554 556 563 587 601 636 989 990 993 995 1719 1720 1723 2049 3659 4045 4190 5060 5061 6000 6566 6665 6666 6667 6668 6669 6679 6697 10080'.split(
    ' ',
  ),
);

/** fetch's header list: lower-case name -> the first-seen name and the combined value, in order. */
export type HeaderList = Map<string, { name: string; value: string }>;

function append(list: HeaderList, name: string, value: string): void {
  const lower = name.toLowerCase();
  const existing = list.get(lower);
  if (existing === undefined) list.set(lower, { name, value });
  else existing.value = `${existing.value}${lower === 'cookie' ? '; ' : ', '}${value}`;
}

/** Appends a caller's header as fetch's Headers would; false when fetch would refuse it. */
function appendChecked(list: HeaderList, name: unknown, value: unknown): boolean {
  if (typeof name !== 'string' || (typeof value !== 'string' && typeof value !== 'number')) return false;
  const text = String(value).replace(edgeWhitespaceRe, '');
  if (!tokenRe.test(name) || invalidValueRe.test(text)) return false;
  if (changesRequest.has(name.toLowerCase())) return false;
  append(list, name, text);
  return true;
}

/** The caller's headers as fetch's Request constructor would fill its list; undefined to fall back. */
function callerHeaders(headers: unknown): HeaderList | undefined {
  const list: HeaderList = new Map();
  if (headers === undefined) return list;
  // A Headers object is not taken: fetch sends the casing each name was first given with, which only
  // fetch can read back (iteration gives lower-case names).
  if (Array.isArray(headers)) {
    for (const pair of headers) {
      if (!Array.isArray(pair) || pair.length !== 2 || !appendChecked(list, pair[0], pair[1]))
        return undefined;
    }
    return list;
  }
  if (!isPlainRecord(headers)) return undefined;
  for (const name of Object.keys(headers)) if (!appendChecked(list, name, headers[name])) return undefined;
  return list;
}

export interface Body {
  /** The bytes (none for a stream). */
  readonly bytes: Buffer;
  readonly contentType: string | undefined;
  /** A caller's `ReadableStream` (with `duplex: 'half'`), sent as it is read, never whole in memory. */
  readonly stream: ReadableStream<unknown> | undefined;
}

/** Node's check of a web stream (typed for Node streams only). */
export const isDisturbed = (stream: ReadableStream): boolean => Readable.isDisturbed(stream as never);

const noBody: Body | null = null;
const noBytes = Buffer.alloc(0);

/**
 * The body as fetch would extract it; undefined to fall back. Bytes are used in place, not copied again:
 * the init a transport gets is the call's own, its bytes copied when the call was made.
 */
function bodyOf(body: unknown): Body | null | undefined {
  if (body === undefined || body === null) return noBody;
  if (typeof body === 'string') {
    return { bytes: Buffer.from(body, 'utf8'), contentType: 'text/plain;charset=UTF-8', stream: undefined };
  }
  if (body instanceof URLSearchParams) {
    return {
      bytes: Buffer.from(body.toString(), 'utf8'),
      contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
      stream: undefined,
    };
  }
  // fetch refuses a locked or disturbed stream: left to it.
  if (body instanceof ReadableStream) {
    return body.locked || isDisturbed(body)
      ? undefined
      : { bytes: noBytes, contentType: undefined, stream: body };
  }
  const bytes = viewBytes(body);
  return bytes === undefined ? undefined : { bytes, contentType: undefined, stream: undefined };
}

export interface Plan {
  url: URL;
  method: string;
  body: Body | null;
  /** The request's header list (caller's, content-type, accept, accept-language), kept across hops. */
  readonly headers: HeaderList;
  readonly dispatcher: Dispatcher;
  /** The origin of the request's URL (the first hop). */
  readonly origin: string;
  /** The caller's signal. */
  readonly signal: AbortSignal | undefined;
  /** The attempt's own abort, beside the caller's signal. */
  readonly abort: AttemptAbort | undefined;
  redirects: number;
  /** A redirect left the request's first origin: fetch's response tainting becomes `cors`. */
  cors: boolean;
  readonly onRedirect: OutboundRequest['onRedirect'];
  readonly peer: Peer | undefined;
  /** The request's `PerformanceResourceTiming`, filled as the exchange goes. */
  readonly timing: ResourceTiming;
  /** The URL the timing entry is named by: the one requested, fragment included. */
  readonly requestedHref: string;
  /** The call's response limits, when it has any. */
  readonly limits: ResponseLimits | undefined;
}

/** The URL of a string input fetch would send as given, or undefined to fall back. */
function urlOf(input: unknown): URL | undefined {
  const url = typeof input === 'string' ? URL.parse(input) : null;
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  if (url.username !== '' || url.password !== '' || badPorts.has(url.port)) return undefined;
  return url;
}

/** What the plan takes from the init. */
interface InitFields {
  method: string;
  body: Body | null;
  headers: HeaderList | undefined;
  dispatcher: unknown;
  /** `duplex: 'half'` was given (required with a stream body). */
  duplex: boolean;
}

/** The init's fields, each as fetch would read it; undefined to fall back. */
function fieldsOf(init: Record<string, unknown>): InitFields | undefined {
  const fields: InitFields = {
    method: 'GET',
    body: null,
    headers: undefined,
    dispatcher: undefined,
    duplex: false,
  };
  for (const key in init) {
    const value = init[key];
    switch (key) {
      case 'body': {
        const extracted = bodyOf(value);
        if (extracted === undefined) return undefined;
        fields.body = extracted;
        break;
      }
      case 'headers':
        fields.headers = callerHeaders(value);
        if (fields.headers === undefined) return undefined;
        break;
      case 'method': {
        // A token first: toUpperCase() maps some non-ASCII letters to ASCII ones ('ſ' -> 'S').
        if (typeof value !== 'string' || !tokenRe.test(value)) return undefined;
        const known = normalisedMethods[value.toUpperCase()];
        if (known === undefined || (known === 'PATCH' && value !== 'PATCH')) return undefined;
        fields.method = known;
        break;
      }
      case 'redirect':
        if (value !== 'follow') return undefined;
        break;
      case 'dispatcher':
        fields.dispatcher = value;
        break;
      case 'duplex':
        if (value !== 'half') return undefined;
        fields.duplex = true;
        break;
      default:
        // Anything else (a `signal` that is not an AbortSignal included) only fetch can handle.
        return undefined;
    }
  }
  return fields;
}

/** The plan for a request the fast path reproduces exactly, or undefined to hand it to Node's fetch. */
export function planOf(request: OutboundRequest, isOwn: (d: unknown) => boolean): Plan | undefined {
  const url = urlOf(request.input);
  if (url === undefined) return undefined;
  const fields = fieldsOf(request.init as Record<string, unknown>);
  if (fields === undefined || !isOwn(fields.dispatcher)) return undefined;
  const { method, body } = fields;
  if (body !== null && (method === 'GET' || method === 'HEAD')) return undefined;
  const headers = fields.headers ?? new Map();
  // A stream needs `duplex: 'half'` (fetch throws its own TypeError without it), and is sent chunked.
  if (body?.stream !== undefined && (!fields.duplex || headers.has('content-length'))) return undefined;
  if (body?.contentType !== undefined && !headers.has('content-type')) {
    headers.set('content-type', { name: 'content-type', value: body.contentType });
  }
  if (!headers.has('accept')) headers.set('accept', { name: 'accept', value: '*/*' });
  if (!headers.has('accept-language'))
    headers.set('accept-language', { name: 'accept-language', value: '*' });
  return {
    url,
    method,
    body,
    headers,
    dispatcher: fields.dispatcher as Dispatcher,
    origin: url.origin,
    signal: request.signal,
    abort: request.abort,
    redirects: 0,
    onRedirect: request.onRedirect,
    peer: request.peer,
    cors: false,
    timing: new ResourceTiming(),
    requestedHref: url.href,
    limits: request.limits,
  };
}

/** The header list of one hop, as Node's fetch puts it on the wire (HeadersList.entries). */
export function wireHeaders(plan: Plan): Record<string, string> {
  const out: Record<string, string> = {};
  const list = plan.headers;
  for (const [lower, { name, value }] of list) {
    // `host` is dropped; a caller's `sec-fetch-mode` is overwritten in place (HeadersList.set).
    if (lower === 'host') continue;
    if (lower === 'sec-fetch-mode') out[lower] = 'cors';
    else out[name] = value;
  }
  // Appended per hop to a copy of the request's list, after the caller's headers.
  if (!list.has('content-length')) {
    if (plan.body !== null) {
      if (plan.body.stream === undefined) out['content-length'] = String(plan.body.bytes.length);
    } else if (plan.method === 'POST' || plan.method === 'PUT') out['content-length'] = '0';
  }
  if (!list.has('sec-fetch-mode')) out['sec-fetch-mode'] = 'cors';
  if (!list.has('user-agent')) out['user-agent'] = 'node';
  if (!list.has('accept-encoding')) {
    out['accept-encoding'] = plan.url.protocol === 'https:' ? 'br, gzip, deflate' : 'gzip, deflate';
  }
  return out;
}

/** The `dispatch()` options of the plan's next hop, with its body. */
export function dispatchOptions(plan: Plan, body: DispatchOptions['body']): DispatchOptions {
  const url = plan.url;
  const path = url.pathname + url.search;
  // A URL ending in a bare '?' keeps it on the wire, as fetch sends it.
  const trailingQuestionMark =
    url.search.length === 0 && url.href[url.href.length - url.hash.length - 1] === '?';
  return {
    origin: url.origin,
    path: trailingQuestionMark ? `${path}?` : path,
    method: plan.method,
    headers: wireHeaders(plan),
    body,
  };
}
