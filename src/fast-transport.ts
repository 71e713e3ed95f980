/**
 * The fast transport: for the common requests, one `dispatch()` on our undici pools and a global
 * `Response` built from what undici hands back, without Node's fetch machinery (a Request object, a
 * fetch controller, a Node Readable per response, a few promise hops per chunk). Everything else goes to
 * Node's fetch (the fallback), so nothing a caller can pass is refused or treated differently.
 *
 * Which requests: a string or URL input with an http(s) URL and no credentials; an init with at most
 * `body`, `headers`, `method`, `redirect: 'follow'` and `signal` (and our pools as `dispatcher`); a
 * method fetch would send as is or normalise (DELETE, GET, HEAD, OPTIONS, POST, PUT in any case, PATCH);
 * a body that is a string, bytes, or URLSearchParams; headers given as an array of pairs or a plain
 * record (not a `Headers` object, whose names' casing only fetch can read), every name and value valid, and none of the headers that make Node's fetch
 * change the request itself (`range`, conditional `if-*` headers). Anything else, including anything
 * fetch would reject, goes to Node's fetch, which then rejects it with its own error.
 *
 * What it reproduces, step by step, from the undici bundled with Node (lib/web/fetch/index.js, checked
 * against Node 24.21's copy): the request header list and its order on the wire (the caller's headers,
 * `content-type` from the body, `accept`, `accept-language`, then per hop `content-length`,
 * `sec-fetch-mode`, `user-agent`, `accept-encoding`; `host` dropped), header casing, redirects
 * (`follow`, at most 20, 301/302 POST and 303 become GET without body headers, cross-origin drops
 * `authorization`, `proxy-authorization`, `cookie` and `host`, the fragment kept), decoding of gzip,
 * deflate (zlib or raw), br and zstd bodies with the same zlib flush modes, latin1 header values, null
 * bodies for HEAD, 101/204/205/304, the errors (`TypeError('fetch failed', { cause })` before the
 * headers, `TypeError('terminated', { cause })` for a body cut short) and aborts (a rejection with the
 * signal's reason before the headers, the body erroring with it after). The contract test
 * (test/contract.test.ts) holds this transport to Node's fetch case by case.
 *
 * What a constructed Response cannot carry is fetch's internal URL list and response type, so `url`,
 * `redirected` and `type` are set on each Response as own read-only properties (see `adopt`).
 */
import { Transform, type TransformCallback } from 'node:stream';
import zlib from 'node:zlib';
import type { Peer } from './dispatch/peers.ts';
import type { Slots } from './dispatch/queue.ts';
import type { AttemptAbort, OutboundRequest, Transport } from './transport.ts';

/** The legacy (undici 7 core) handler interface that Node's bundled undici calls natively. */
interface Handler {
  onConnect(abort: (reason?: unknown) => void): void;
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData(chunk: Buffer): boolean;
  onComplete(trailers: unknown): void;
  onError(error: Error): void;
}

interface DispatchOptions {
  readonly origin: string;
  readonly path: string;
  readonly method: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer | null;
}

interface Dispatcher {
  dispatch(options: DispatchOptions, handler: Handler): boolean;
  /** The total cap's slots (src/queue.ts), when this dispatcher is the cap. */
  readonly slots?: Slots;
}

// ---------------------------------------------------------------------------------------------------
// The Response

const baseClone = Response.prototype.clone;

/**
 * Gives a constructed `Response` what fetch's responses have and the constructor cannot set: `url`,
 * `redirected`, `type` (`basic`, or `cors` once a redirect left the first origin, as fetch taints it), and a `clone()` that keeps them. Own, read-only, non-enumerable
 * properties (the prototype stays `Response.prototype`, as the contract test checks), defined in the same
 * order on every response so that V8 shares one object shape between them.
 */
function adopt(response: Response, url: string, redirected: boolean, type: Response['type']): Response {
  Object.defineProperty(response, 'url', { value: url });
  Object.defineProperty(response, 'redirected', { value: redirected });
  Object.defineProperty(response, 'type', { value: type });
  Object.defineProperty(response, 'clone', { value: cloneAdopted });
  return response;
}

function cloneAdopted(this: Response): Response {
  const copy = adopt(baseClone.call(this), this.url, this.redirected, this.type);
  // What the constructor could not take (a status above 599, a reason phrase with a control character).
  for (const key of ['status', 'ok', 'statusText'] as const) {
    const own = Object.getOwnPropertyDescriptor(this, key);
    if (own !== undefined) Object.defineProperty(copy, key, own);
  }
  return copy;
}

// ---------------------------------------------------------------------------------------------------
// The request plan: decided before anything is sent, so a request we cannot reproduce goes to fetch.

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
const reasonPhraseRe = /^[\t\x20-\x7e\x80-\xff]*$/;
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
const badPorts = new Set(
  '1 7 9 11 13 15 17 19 20 21 22 23 25 37 42 43 53 69 77 79 87 95 101 102 103 104 109 110 111 113 115 117 119 123 135 137 139 143 161 179 389 427 465 512 513 514 515 526 530 531 532 540 548 554 556 563 587 601 636 989 990 993 995 1719 1720 1723 2049 3659 4045 4190 5060 5061 6000 6566 6665 6666 6667 6668 6669 6679 6697 10080'.split(
    ' ',
  ),
);

/** fetch's header list: lower-case name -> the first-seen name and the combined value, in order. */
type HeaderList = Map<string, { name: string; value: string }>;

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
  if (typeof headers !== 'object' || headers === null) return undefined;
  const proto = Object.getPrototypeOf(headers);
  if (proto !== Object.prototype && proto !== null) return undefined;
  if (Object.getOwnPropertySymbols(headers).length > 0) return undefined;
  const record = headers as Record<string, unknown>;
  for (const name of Object.keys(record)) if (!appendChecked(list, name, record[name])) return undefined;
  return list;
}

interface Body {
  readonly bytes: Buffer;
  readonly contentType: string | undefined;
}

const noBody: Body | null = null;

/**
 * The body as fetch would extract it; undefined to fall back. Bytes are used in place, not copied again:
 * the init a transport gets is the call's own, its bytes copied when the call was made (transport.ts,
 * `normaliseInit`), as fetch copies them then.
 */
function bodyOf(body: unknown): Body | null | undefined {
  if (body === undefined || body === null) return noBody;
  if (typeof body === 'string')
    return { bytes: Buffer.from(body, 'utf8'), contentType: 'text/plain;charset=UTF-8' };
  // A detached buffer is sent as no bytes, as fetch sends it.
  if (body instanceof ArrayBuffer) {
    return {
      bytes: (body as { detached?: boolean }).detached ? Buffer.alloc(0) : Buffer.from(body),
      contentType: undefined,
    };
  }
  if (ArrayBuffer.isView(body) && body.buffer instanceof ArrayBuffer) {
    if ((body.buffer as { detached?: boolean }).detached)
      return { bytes: Buffer.alloc(0), contentType: undefined };
    return { bytes: Buffer.from(body.buffer, body.byteOffset, body.byteLength), contentType: undefined };
  }
  if (body instanceof URLSearchParams) {
    return {
      bytes: Buffer.from(body.toString(), 'utf8'),
      contentType: 'application/x-www-form-urlencoded;charset=UTF-8',
    };
  }
  return undefined;
}

interface Plan {
  url: URL;
  method: string;
  body: Body | null;
  /** The request's header list (caller's, content-type, accept, accept-language), kept across hops. */
  readonly headers: HeaderList;
  readonly dispatcher: Dispatcher;
  /** The origin of the request's URL (the first hop). */
  readonly origin: string;
  readonly signal: AbortSignal | undefined;
  /** The attempt's own abort, beside the caller's signal. */
  abort: AttemptAbort | undefined;
  redirects: number;
  /** A redirect left the request's first origin: fetch's response tainting becomes `cors`. */
  cors: boolean;
  onRedirect: OutboundRequest['onRedirect'];
  peer: Peer | undefined;
}

/** The plan for a request the fast path reproduces exactly, or undefined to hand it to Node's fetch. */
function planOf(
  input: unknown,
  init: Record<string, unknown>,
  isOwn: (d: unknown) => boolean,
): Plan | undefined {
  let url: URL | null;
  if (typeof input === 'string') url = URL.parse(input);
  else if (input instanceof URL) url = URL.parse(input.href);
  else return undefined;
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) return undefined;
  if (url.username !== '' || url.password !== '' || badPorts.has(url.port)) return undefined;
  let method = 'GET';
  let body: Body | null = null;
  let headers: HeaderList | undefined;
  let signal: AbortSignal | undefined;
  let dispatcher: unknown;
  for (const key in init) {
    const value = init[key];
    switch (key) {
      case 'body': {
        const extracted = bodyOf(value);
        if (extracted === undefined) return undefined;
        body = extracted;
        break;
      }
      case 'headers':
        headers = callerHeaders(value);
        if (headers === undefined) return undefined;
        break;
      case 'method': {
        // A token first: toUpperCase() maps some non-ASCII letters to ASCII ones ('ſ' -> 'S').
        if (typeof value !== 'string' || !tokenRe.test(value)) return undefined;
        const known = normalisedMethods[value.toUpperCase()];
        if (known === undefined || (known === 'PATCH' && value !== 'PATCH')) return undefined;
        method = known;
        break;
      }
      case 'redirect':
        if (value !== 'follow') return undefined;
        break;
      case 'signal':
        if (value !== null && !(value instanceof AbortSignal)) return undefined;
        signal = value ?? undefined;
        break;
      case 'dispatcher':
        dispatcher = value;
        break;
      default:
        return undefined;
    }
  }
  if (!isOwn(dispatcher)) return undefined;
  if (body !== null && (method === 'GET' || method === 'HEAD')) return undefined;
  headers ??= new Map();
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
    dispatcher: dispatcher as Dispatcher,
    origin: url.origin,
    signal,
    abort: undefined,
    redirects: 0,
    onRedirect: undefined,
    peer: undefined,
    cors: false,
  };
}

/** The header list of one hop, as Node's fetch puts it on the wire (HeadersList.entries). */
function wireHeaders(plan: Plan): Record<string, string> {
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
    if (plan.body !== null) out['content-length'] = String(plan.body.bytes.length);
    else if (plan.method === 'POST' || plan.method === 'PUT') out['content-length'] = '0';
  }
  if (!list.has('sec-fetch-mode')) out['sec-fetch-mode'] = 'cors';
  if (!list.has('user-agent')) out['user-agent'] = 'node';
  if (!list.has('accept-encoding')) {
    out['accept-encoding'] = plan.url.protocol === 'https:' ? 'br, gzip, deflate' : 'gzip, deflate';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Sending one hop and reading its response

const redirectStatuses = new Set([301, 302, 303, 307, 308]);
const nullBodyStatuses = new Set([101, 204, 205, 304]);
const requestBodyHeaders = ['content-encoding', 'content-language', 'content-location', 'content-type'];

const fetchFailed = (cause: unknown): TypeError => new TypeError('fetch failed', { cause });
const networkError = (reason?: string): TypeError => fetchFailed(new Error(reason));

/** Deflate that is either zlib-wrapped or raw, told apart by the first byte (as fetch does). */
class InflateStream extends Transform {
  #inner: zlib.Inflate | zlib.InflateRaw | undefined;
  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.#inner === undefined) {
      if (chunk.length === 0) {
        callback();
        return;
      }
      const inner =
        ((chunk[0] as number) & 15) === 8 ? zlib.createInflate(zlibSync) : zlib.createInflateRaw(zlibSync);
      inner.on('data', (data: Buffer) => this.push(data));
      inner.on('end', () => this.push(null));
      inner.on('error', (error: Error) => this.destroy(error));
      this.#inner = inner;
    }
    this.#inner.write(chunk, encoding, callback);
  }
  override _final(callback: TransformCallback): void {
    this.#inner?.end();
    this.#inner = undefined;
    callback();
  }
}

const zlibSync = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
const zstd = zlib as unknown as {
  createZstdDecompress?: (options: object) => Transform;
  constants: Record<string, number>;
};

/** The decoders for a content-encoding, the last coding applied first; [] when a coding is unknown. */
function decodersFor(contentEncoding: string): Transform[] | Error {
  const codings = contentEncoding.toLowerCase().split(',');
  if (codings.length > 5) {
    return new Error(`too many content-encodings in response: ${codings.length}, maximum allowed is 5`);
  }
  const decoders: Transform[] = [];
  for (let i = codings.length - 1; i >= 0; --i) {
    const coding = (codings[i] as string).trim();
    if (coding === 'x-gzip' || coding === 'gzip') decoders.push(zlib.createGunzip(zlibSync));
    else if (coding === 'deflate') decoders.push(new InflateStream());
    else if (coding === 'br') {
      const flush = zlib.constants.BROTLI_OPERATION_FLUSH;
      decoders.push(zlib.createBrotliDecompress({ flush, finishFlush: flush }));
    } else if (coding === 'zstd' && zstd.createZstdDecompress !== undefined) {
      const { ZSTD_e_continue, ZSTD_e_end } = zstd.constants;
      decoders.push(zstd.createZstdDecompress({ flush: ZSTD_e_continue, finishFlush: ZSTD_e_end }));
    } else return [];
  }
  return decoders;
}

/** The handler of one hop: undici calls it; it forwards to its call while it is the call's current hop. */
class Hop implements Handler {
  readonly #call: Exchange;
  /** A redirect being followed: the rest of this hop (its body) is ignored. */
  followed = false;
  /** Where telemetry wants this request's connection noted (src/peers.ts). */
  readonly peer: Peer | undefined;
  /** The total cap's slot this request holds directly, freed when it ends. */
  slots: Slots | undefined = undefined;
  constructor(call: Exchange, peer: Peer | undefined) {
    this.#call = call;
    this.peer = peer;
  }
  onConnect(abort: (reason?: unknown) => void): void {
    this.#call.connect(abort);
  }
  onHeaders(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    return this.#call.headers(this, status, rawHeaders, resume, statusText);
  }
  onData(chunk: Buffer): boolean {
    return this.followed || this.#call.data(chunk);
  }
  onComplete(): void {
    this.#release();
    if (!this.followed) this.#call.complete();
  }
  onError(error: Error): void {
    this.#release();
    if (!this.followed) this.#call.error(error);
  }
  onUpgrade(): void {
    this.#release();
  }
  #release(): void {
    const slots = this.slots;
    if (slots === undefined) return;
    this.slots = undefined;
    slots.release();
  }
}

/** One exchange: its hops (redirects), the promise of its Response, then the Response's body. */
class Exchange {
  readonly #plan: Plan;
  // Dropped once the promise is settled: the promise holds the Response, and this exchange lives as long
  // as the body does, so keeping them would keep an unread Response from ever being collected.
  #resolve: ((response: Response) => void) | undefined;
  #reject: ((error: unknown) => void) | undefined;
  /** Aborts the hop in flight (from undici's onConnect). */
  #abort: ((reason?: unknown) => void) | undefined;
  /** The promise is settled (resolved with the Response, or rejected). */
  #settled = false;
  /** Nothing more to do: the body ended, failed, was cancelled, or the call was aborted. */
  #done = false;
  #controller: ReadableByteStreamController | undefined;
  #resume: (() => void) | undefined;
  #paused = false;
  /** The decoders of an encoded body: written to first, read from last. */
  #decoders: Transform[] | undefined;
  /** A body nobody sees (HEAD, null-body status): its bytes are read and dropped. */
  #dump = false;
  /** The caller's signal's hub, while this exchange listens to it. */
  #hub: SignalHub | undefined;
  /** Registered with `bodyFinalizer`. */
  #watched = false;
  /** Why the exchange was aborted, for a hop that connects after that. */
  #reason: unknown = undefined;

  readonly #sent: { fast: number };

  constructor(
    plan: Plan,
    sent: { fast: number },
    resolve: (response: Response) => void,
    reject: (error: unknown) => void,
  ) {
    this.#plan = plan;
    this.#sent = sent;
    this.#resolve = resolve;
    this.#reject = reject;
    if (plan.signal !== undefined) {
      this.#hub = hubOf(plan.signal);
      this.#hub.join(this);
    }
    plan.abort?.listen((reason) => this.aborted(reason));
  }

  send(): void {
    if (this.#done) return;
    const plan = this.#plan;
    const url = plan.url;
    const path = url.pathname + url.search;
    const trailingQuestionMark =
      url.search.length === 0 && url.href[url.href.length - url.hash.length - 1] === '?';
    this.#abort = undefined;
    this.#sent.fast++;
    const hop = new Hop(this, plan.peer);
    // Under the total cap, a free slot is taken here and freed by the hop itself (no wrapping handler);
    // otherwise the cap's dispatcher queues the request.
    const slots = plan.dispatcher.slots;
    let dispatcher: Pick<Dispatcher, 'dispatch'> = plan.dispatcher;
    if (slots?.tryAcquire()) {
      hop.slots = slots;
      dispatcher = slots.inner as Pick<Dispatcher, 'dispatch'>;
    }
    try {
      dispatcher.dispatch(
        {
          origin: url.origin,
          path: trailingQuestionMark ? `${path}?` : path,
          method: plan.method,
          headers: wireHeaders(plan),
          body: plan.body === null ? null : plan.body.bytes,
        },
        hop,
      );
    } catch (error) {
      hop.onError(error as Error);
    }
  }

  connect(abort: (reason?: unknown) => void): void {
    if (this.#done) abort(this.#reason);
    else this.#abort = abort;
  }

  headers(hop: Hop, status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (status < 200) return false; // 1xx (103 Early Hints): the final response follows
    const plan = this.#plan;
    // Names (lower case) and values (latin1), alternating, in the order received.
    const list: string[] = [];
    let location: string | undefined;
    let encoding: string | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = (rawHeaders[i] as Buffer).toString('latin1').toLowerCase();
      const raw = rawHeaders[i + 1] as Buffer | Buffer[];
      const count = Array.isArray(raw) ? raw.length : 1;
      for (let j = 0; j < count; j++) {
        const value = ((Array.isArray(raw) ? raw[j] : raw) as Buffer).toString('latin1');
        list.push(name, value);
        if (name === 'location') location = location === undefined ? value : `${location}, ${value}`;
        else if (name === 'content-encoding')
          encoding = encoding === undefined ? value : `${encoding}, ${value}`;
      }
    }
    if (location !== undefined && redirectStatuses.has(status)) {
      hop.followed = true;
      this.#redirect(status, location);
      return true;
    }
    let body: ReadableStream<Uint8Array> | null = null;
    if (plan.method === 'HEAD' || nullBodyStatuses.has(status)) this.#dump = true;
    else {
      if (encoding !== undefined) {
        const decoders = decodersFor(encoding);
        if (decoders instanceof Error) {
          this.#fail(fetchFailed(decoders));
          return true;
        }
        if (decoders.length > 0) this.#decode(decoders);
      }
      this.#resume = resume;
      body = new ReadableStream(
        {
          type: 'bytes',
          start: (controller) => {
            this.#controller = controller;
          },
          pull: () => this.#pull(),
          cancel: (reason) => this.#cancel(reason),
        },
        { highWaterMark: 65536 },
      );
    }
    let response: Response;
    try {
      // The constructor takes 200-599; fetch hands over any status the parser accepted (to 999).
      // The constructor takes statuses 200-599 and reason phrases of visible characters; fetch hands
      // over any status the parser accepted (to 999) and any phrase (a control character included).
      const validText = reasonPhraseRe.test(statusText);
      response = new Response(body, {
        status: status > 599 ? 200 : status,
        statusText: validText ? statusText : '',
      });
      if (!validText) Object.defineProperty(response, 'statusText', { value: statusText });
      // Appended one by one: half the cost of handing the pairs to the constructor (WebIDL sequences).
      const headers = response.headers;
      for (let i = 0; i < list.length; i += 2) headers.append(list[i] as string, list[i + 1] as string);
      if (status > 599) {
        Object.defineProperty(response, 'status', { value: status });
        Object.defineProperty(response, 'ok', { value: false });
      }
    } catch (error) {
      // A header value the Headers class refuses (the parser is more lenient).
      this.#fail(fetchFailed(error));
      return true;
    }
    adopt(response, urlWithoutFragment(plan.url), plan.redirects > 0, plan.cors ? 'cors' : 'basic');
    this.#settled = true;
    if (this.#dump) this.#detach();
    // A body nobody reads and nobody holds would keep its connection (and its slot under the total cap)
    // forever: as Node's fetch does, it is cancelled once its Response is garbage-collected. Registered
    // after the bytes undici already holds have been handed over (a microtask): a small body has then
    // usually ended, and needs no registration (which costs more than the check).
    else this.#watchSoon(response);
    const resolve = this.#resolve;
    this.#resolve = this.#reject = undefined;
    resolve?.(response);
    return true;
  }

  data(chunk: Buffer): boolean {
    if (this.#dump || this.#done) return true;
    const decoders = this.#decoders;
    if (decoders === undefined) return this.#enqueue(chunk);
    if ((decoders[0] as Transform).write(chunk)) return true;
    this.#paused = true;
    (decoders[0] as Transform).once('drain', () => this.#pull());
    return false;
  }

  complete(): void {
    if (this.#done) return;
    if (this.#decoders !== undefined) {
      (this.#decoders[0] as Transform).end(); // the last decoder's 'end' closes the body
      return;
    }
    this.#done = true;
    this.#close();
  }

  error(error: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.#destroyDecoders();
    if (!this.#settled) this.#fail(fetchFailed(error));
    else this.#errorBody(new TypeError('terminated', { cause: error }));
  }

  /** Enqueues body bytes; false (pause) when the stream's queue is full. */
  #enqueue(chunk: Buffer): boolean {
    const controller = this.#controller;
    if (controller === undefined) return true;
    // A copy: undici's chunk may share its memory, and a byte stream takes over the buffer it is given.
    if (chunk.byteLength > 0) controller.enqueue(new Uint8Array(chunk));
    if ((controller.desiredSize ?? 0) > 0) return true;
    this.#paused = true;
    return false;
  }

  #pull(): void {
    if (!this.#paused || this.#done) return;
    this.#paused = false;
    const decoders = this.#decoders;
    if (decoders !== undefined) (decoders[decoders.length - 1] as Transform).resume();
    this.#resume?.();
  }

  #decode(decoders: Transform[]): void {
    this.#decoders = decoders;
    let last = decoders[0] as Transform;
    for (let i = 1; i < decoders.length; i++) last = last.pipe(decoders[i] as Transform);
    const fail = (error: Error) => {
      if (this.#done) return;
      this.#done = true;
      this.#abort?.(error);
      this.#destroyDecoders();
      this.#errorBody(new TypeError('terminated', { cause: error }));
    };
    for (const decoder of decoders) decoder.on('error', fail);
    last.on('data', (data: Buffer) => {
      if (!this.#enqueue(data)) last.pause();
    });
    last.on('end', () => {
      if (this.#done) return;
      this.#done = true;
      this.#close();
    });
  }

  #redirect(status: number, location: string): void {
    const plan = this.#plan;
    let next: URL;
    try {
      // fetch does not turn a Location with whitespace at either end into a URL, and then fails setting
      // its fragment on the string (the message is that TypeError's).
      if (/^[\t ]|[\t ]$/.test(location)) {
        throw new TypeError(`Cannot create property 'hash' on string '${location}'`);
      }
      // fetch re-reads a Location that is not plain ASCII as UTF-8.
      const target = /[^\x20-\x7e]/.test(location)
        ? Buffer.from(location, 'latin1').toString('utf8')
        : location;
      next = new URL(target, plan.url);
    } catch (error) {
      this.#fail(fetchFailed(error));
      return;
    }
    if (next.hash === '' && plan.url.hash !== '') next.hash = plan.url.hash;
    if (next.protocol !== 'http:' && next.protocol !== 'https:') {
      this.#fail(networkError('URL scheme must be a HTTP(S) scheme'));
      return;
    }
    if (plan.redirects === 20) {
      this.#fail(networkError('redirect count exceeded'));
      return;
    }
    plan.redirects++;
    const crossOrigin = next.origin !== plan.url.origin;
    if (badPorts.has(next.port)) {
      this.#fail(networkError('bad port'));
      return;
    }
    // fetch compares the Request (not a URL) with the Location here, so no origin is the same: any
    // Location with credentials fails.
    if (next.username !== '' || next.password !== '') {
      this.#fail(networkError('cross origin not allowed for request mode "cors"'));
      return;
    }
    const post = plan.method === 'POST';
    if (
      ((status === 301 || status === 302) && post) ||
      (status === 303 && plan.method !== 'GET' && plan.method !== 'HEAD')
    ) {
      plan.method = 'GET';
      plan.body = null;
      for (const name of requestBodyHeaders) plan.headers.delete(name);
    }
    if (crossOrigin) for (const name of crossOriginDropped) plan.headers.delete(name);
    // Tainting is sticky: coming back to the first origin does not make the response basic again.
    if (next.origin !== plan.origin) plan.cors = true;
    plan.url = next;
    let set: Record<string, string> | undefined;
    try {
      set = plan.onRedirect?.(status, next.href, plan.method);
    } catch (error) {
      // The caller refused the hop (its host's circuit is open): the call fails with that error.
      this.#fail(error);
      return;
    }
    if (set !== undefined) {
      for (const name of Object.keys(set)) {
        plan.headers.set(name.toLowerCase(), { name, value: set[name] as string });
      }
    }
    // The redirect's own body finishes on its connection, ignored (its hop is `followed`).
    queueMicrotask(() => this.send());
  }

  #close(): void {
    this.#unwatch();
    const controller = this.#controller;
    let closed = false;
    if (controller !== undefined) {
      try {
        controller.close();
        controller.byobRequest?.respond(0);
        closed = true;
      } catch {
        // The reader cancelled the body first.
      }
    }
    // Watched for a late abort before this exchange leaves the hub, so that the hub of a per-call signal
    // keeps its listener rather than removing and adding it again.
    if (closed && !this.#plan.signal?.aborted)
      this.#hub?.watchLate(controller as ReadableByteStreamController);
    this.#detach();
  }

  #errorBody(error: unknown): void {
    this.#detach();
    this.#unwatch();
    try {
      this.#controller?.error(error);
    } catch {
      // Already closed.
    }
  }

  /** Rejects the call (before its Response) and ends the hop in flight. */
  #fail(error: unknown): void {
    this.#done = true;
    this.#destroyDecoders();
    this.#abort?.(error);
    this.#detach();
    if (!this.#settled) this.#rejectWith(error);
  }

  /** Settles the promise with a rejection; the settle functions are dropped (see `#resolve`). */
  #rejectWith(error: unknown): void {
    this.#settled = true;
    const reject = this.#reject;
    this.#resolve = this.#reject = undefined;
    reject?.(error);
  }

  /**
   * Cancels the body once `response` is garbage-collected, unless it has ended by the next microtask.
   * A method of its own: a closure in `headers` over the Response would share that method's context with
   * the body stream's callbacks, and the request in flight would then hold the Response.
   */
  #watchSoon(response: Response): void {
    queueMicrotask(() => {
      if (this.#done) return;
      this.#watched = true;
      bodyFinalizer.register(response, this, this);
    });
  }

  #unwatch(): void {
    if (!this.#watched) return;
    this.#watched = false;
    bodyFinalizer.unregister(this);
  }

  /** Its Response was garbage-collected before the body ended (see `bodyFinalizer`). */
  collected(): void {
    this.#cancel(new DOMException('Response object has been garbage collected', 'AbortError'));
  }

  /** The reader cancelled the body: the connection is ended, as fetch ends it. */
  #cancel(reason: unknown): void {
    this.#detach();
    this.#unwatch();
    if (this.#done) return;
    this.#done = true;
    this.#destroyDecoders();
    this.#abort?.(reason ?? new DOMException('The operation was aborted.', 'AbortError'));
  }

  /** The caller's signal or the attempt aborted: a rejection with its reason, or the body errors with it. */
  aborted(reason: unknown): void {
    if (this.#done) return;
    this.#done = true;
    this.#reason = reason;
    this.#detach();
    this.#abort?.(reason);
    this.#destroyDecoders();
    if (!this.#settled) this.#rejectWith(reason);
    else this.#errorBody(reason);
  }

  #destroyDecoders(): void {
    if (this.#decoders !== undefined) for (const decoder of this.#decoders) decoder.destroy();
  }

  #detach(): void {
    this.#hub?.leave(this);
    this.#hub = undefined;
    this.#plan.abort?.listen(undefined);
  }
}

/** Cancels the body of a Response collected before its body ended (see `Exchange.headers`). */
const bodyFinalizer = new FinalizationRegistry<Exchange>((exchange) => exchange.collected());

/**
 * One `abort` listener per caller signal, shared by every exchange and finished body that watches it. A
 * signal shared by many requests (an app-wide shutdown signal) would otherwise gather one listener per
 * request, and Node's EventTarget walks its whole list on every add and remove. The listener is there
 * only while something is watched: Node keeps a timeout or composite (`AbortSignal.any`) signal alive
 * while it has an abort listener, so a listener left behind would keep a per-request signal forever.
 */
class SignalHub {
  readonly #signal: AbortSignal;
  readonly #listener = () => this.#fire();
  #listening = false;
  /** Exchanges in flight: told when the signal aborts. Each leaves when it ends. */
  readonly #exchanges = new Set<Exchange>();
  /**
   * Bodies that arrived whole but may be unread: as in fetch, an abort errors them. Held weakly, and
   * forgotten once collected, so that a long-lived signal does not keep finished calls alive (fetch does
   * the same with its own finalization registry).
   */
  readonly #bodies = new Set<WeakRef<ReadableByteStreamController>>();

  constructor(signal: AbortSignal) {
    this.#signal = signal;
  }

  join(exchange: Exchange): void {
    this.#exchanges.add(exchange);
    this.#listen();
  }

  leave(exchange: Exchange): void {
    this.#exchanges.delete(exchange);
    this.#unlistenIfIdle();
  }

  watchLate(controller: ReadableByteStreamController): void {
    const body = new WeakRef(controller);
    this.#bodies.add(body);
    lateBodies.register(controller, { hub: this, body });
    this.#listen();
  }

  forget(body: WeakRef<ReadableByteStreamController>): void {
    this.#bodies.delete(body);
    this.#unlistenIfIdle();
  }

  #listen(): void {
    if (this.#listening) return;
    this.#listening = true;
    this.#signal.addEventListener('abort', this.#listener, { once: true });
  }

  #unlistenIfIdle(): void {
    if (!this.#listening || this.#exchanges.size > 0 || this.#bodies.size > 0) return;
    this.#listening = false;
    this.#signal.removeEventListener('abort', this.#listener);
  }

  #fire(): void {
    this.#listening = false;
    const reason = this.#signal.reason;
    for (const exchange of [...this.#exchanges]) {
      try {
        exchange.aborted(reason);
      } catch (error) {
        // One exchange failing must not leave the others pending; reported as a listener's error would be.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
    for (const body of this.#bodies) {
      try {
        body.deref()?.error(reason);
      } catch {
        // Read to its end, or cancelled: nothing left to error.
      }
    }
    this.#exchanges.clear();
    this.#bodies.clear();
  }
}

const hubs = new WeakMap<AbortSignal, SignalHub>();

function hubOf(signal: AbortSignal): SignalHub {
  let hub = hubs.get(signal);
  if (hub === undefined) {
    hub = new SignalHub(signal);
    hubs.set(signal, hub);
  }
  return hub;
}

/** Forgets a watched body once it is collected (see `SignalHub.watchLate`). */
const lateBodies = new FinalizationRegistry<{
  hub: SignalHub;
  body: WeakRef<ReadableByteStreamController>;
}>(({ hub, body }) => hub.forget(body));

const crossOriginDropped = ['authorization', 'proxy-authorization', 'cookie', 'host'];

/** The URL a Response reports: the request's, without its fragment. */
function urlWithoutFragment(url: URL): string {
  if (url.hash === '') return url.href.endsWith('#') ? url.href.slice(0, -1) : url.href;
  return url.href.slice(0, url.href.length - url.hash.length);
}

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
    const plan = planOf(request.input, request.init as Record<string, unknown>, isOwn);
    if (plan === undefined) {
      sent.fetch++;
      return fallback(request);
    }
    plan.onRedirect = request.onRedirect;
    plan.peer = request.peer;
    if (plan.signal?.aborted) return Promise.reject(plan.signal.reason);
    plan.abort = request.abort;
    if (plan.abort?.aborted) return Promise.reject(plan.abort.reason);
    return new Promise<Response>((resolve, reject) => new Exchange(plan, sent, resolve, reject).send());
  };
  return Object.assign(transport, { sent });
}
