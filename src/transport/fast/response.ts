/**
 * The fast transport's side of a response: reading undici's raw header list as fetch reads it, and a
 * global `Response` built from it that looks like one of fetch's.
 *
 * What a constructed Response cannot carry is fetch's internal URL list and response type, so `url`,
 * `redirected` and `type` are set on each Response as own read-only properties (see `adopt`).
 */
import { isErrored, Readable } from 'node:stream';

export const redirectStatuses = new Set([301, 302, 303, 307, 308]);
export const nullBodyStatuses = new Set([101, 204, 205, 304]);

const reasonPhraseRe = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A response's header list as fetch reads it, and the two headers the transport acts on. */
export interface ReceivedHeaders {
  /** Names (lower case) and values (latin1), alternating, in the order received. */
  readonly list: string[];
  /** The `location` values, joined as fetch joins them. */
  readonly location: string | undefined;
  /** The `content-encoding` values, joined. */
  readonly encoding: string | undefined;
}

/** Reads undici's raw headers (name, value or values, alternating). */
export function readHeaders(rawHeaders: Buffer[]): ReceivedHeaders {
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
  return { list, location, encoding };
}

/**
 * A global Response with `status`, `statusText` and the header list. Throws when the Headers class refuses
 * a value (the parser is more lenient): that is a network error.
 */
export function createResponse(
  body: ReadableStream<Uint8Array> | null,
  status: number,
  statusText: string,
  list: readonly string[],
): Response {
  // The constructor takes statuses 200-599 and reason phrases of visible characters; fetch hands over
  // any status the parser accepted (to 999) and any phrase (a control character included).
  const validText = reasonPhraseRe.test(statusText);
  const response = new Response(body, {
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
  return response;
}

const baseClone = Response.prototype.clone;

/**
 * Gives a constructed `Response` what fetch's responses have and the constructor cannot set: `url`,
 * `redirected`, `type` (`basic`, or `cors` once a redirect left the first origin, as fetch taints it),
 * and a `clone()` that keeps them. Own, read-only, non-enumerable properties (the prototype stays
 * `Response.prototype`, as the contract test checks), defined in the same order on every response so
 * that V8 shares one object shape between them.
 */
export function adopt(
  response: Response,
  url: string,
  redirected: boolean,
  type: Response['type'],
): Response {
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

/**
 * Cancels the body of a Response that was garbage-collected, by the rule of Node's fetch (its stream
 * registry): only a body nobody locked, read or errored; one being read through its reader goes on.
 */
export function cancelUnclaimed(stream: ReadableStream, reason: unknown): void {
  if (stream.locked || Readable.isDisturbed(stream as never) || isErrored(stream as never)) return;
  stream.cancel(reason).catch(() => {});
}

/** The URL a Response reports: the request's, without its fragment. */
export function urlWithoutFragment(url: URL): string {
  if (url.hash === '') return url.href.endsWith('#') ? url.href.slice(0, -1) : url.href;
  return url.href.slice(0, url.href.length - url.hash.length);
}
