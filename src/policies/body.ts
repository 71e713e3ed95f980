/**
 * Is this request body replayable? Every attempt of a call must carry exactly the bytes of the first.
 *
 * - No body, string, Blob: immutable, fetch re-reads the same object each time; replayable.
 * - ArrayBuffer and views, URLSearchParams: the call's own copies already (`normaliseInit` copies them
 *   when the call is made, as fetch does), so a caller changing them later cannot change a retry.
 * - Other objects fetch stringifies: serialised once, for the same reason.
 * - FormData: serialised once (fetch would pick a new multipart boundary on each attempt) and sent as
 *   that Blob with its content-type.
 * - ReadableStream, async iterable, or the body of a `Request` input: streamed once. With a buffer limit,
 *   a body that fits is read up front and sent as those bytes on every attempt.
 */
import { copyBytes, isBufferSource, isShared } from '../transport/bytes.ts';
import type { FetchInit } from '../transport/types.ts';

export interface PreparedBody {
  /** The init of the next attempt (the first call gives the first attempt's). */
  next(): FetchInit;
  /** Whether another attempt can carry the same bytes. */
  canReplay(): boolean;
}

const isStreamLike = (body: unknown): boolean =>
  body instanceof ReadableStream ||
  (typeof body === 'object' &&
    body !== null &&
    (Symbol.asyncIterator in body || Symbol.iterator in body) &&
    !(body instanceof FormData) &&
    !(body instanceof URLSearchParams) &&
    typeof body !== 'string');

const fixed = (init: FetchInit): PreparedBody => ({ next: () => init, canReplay: () => true });
const once = (init: FetchInit): PreparedBody => {
  let used = false;
  return {
    next() {
      used = true;
      return init;
    },
    canReplay: () => !used,
  };
};

/**
 * Prepares the body of one call. `retryable` false (a POST without an Idempotency-Key, retries off) skips
 * every copy: the call gets one attempt. Synchronous unless a body must be read first (FormData, a
 * stream to buffer): most calls do not wait a microtask for it.
 */
export function prepareBody(
  input: string | URL | Request,
  init: FetchInit,
  retryable: boolean,
  bufferBodyBytes: number,
): PreparedBody | Promise<PreparedBody> {
  const body = init.body;
  const request = input instanceof Request ? input : undefined;
  // Serialised once, whether the call may retry or not: on a 307/308 Node's fetch would extract it again
  // with a new boundary under the Content-Type it already sent.
  if (body instanceof FormData) return serialiseForm(init, body, request);
  if (!retryable) return once(init);
  if (body === undefined || body === null) {
    if (request?.body) return bufferStream(init, request.body, bufferBodyBytes);
    return fixed(init);
  }
  if (typeof body === 'string' || body instanceof Blob || body instanceof URLSearchParams) return fixed(init);
  if (isBufferSource(body)) {
    // Copied when the call was made (transport/bytes.ts, snapshotBytes), unless shared or detached.
    return isShared(body) ? fixed({ ...init, body: copyBytes(body) }) : fixed(init);
  }
  if (isStreamLike(body)) {
    const stream =
      body instanceof ReadableStream ? body : ReadableStream.from(body as AsyncIterable<unknown>);
    return bufferStream(init, stream as ReadableStream<unknown>, bufferBodyBytes);
  }
  // Anything else fetch turns into a string (an object's toString()): do it once, as fetch would.
  return fixed({ ...init, body: String(body) });
}

/** FormData serialised once (fetch would pick a new multipart boundary on each attempt). */
async function serialiseForm(
  init: FetchInit,
  body: FormData,
  request: Request | undefined,
): Promise<PreparedBody> {
  const serialised = new Response(body);
  const blob = await serialised.blob();
  const headers = new Headers(init.headers ?? request?.headers);
  headers.set('content-type', serialised.headers.get('content-type') ?? '');
  return fixed({ ...init, body: blob, headers });
}

/**
 * A stream body. Without a buffer limit it goes out once, exactly as the caller gave it (a Request keeps
 * its own body). With one, up to `limit` bytes are read before the first attempt: a body that fits is sent
 * as those bytes on every attempt; a larger one (or one that is not bytes) is sent once, the bytes read so
 * far followed by the rest of the stream.
 */
async function bufferStream(
  init: FetchInit,
  source: ReadableStream<unknown>,
  limit: number,
): Promise<PreparedBody> {
  if (limit <= 0) return once(init);
  const reader = source.getReader();
  const chunks: Uint8Array<ArrayBuffer>[] = [];
  let size = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return fixed({ ...init, body: new Blob(chunks), duplex: 'half' } as FetchInit);
    if (!(value instanceof Uint8Array)) {
      return once({ ...init, body: concat(chunks, [value], reader), duplex: 'half' } as FetchInit);
    }
    // Always a copy: a Buffer's slice() is a view the caller could still write into.
    chunks.push(new Uint8Array(value));
    size += value.byteLength;
    if (size > limit) return once({ ...init, body: concat(chunks, [], reader), duplex: 'half' } as FetchInit);
  }
}

/** A stream of the chunks already read, then whatever is left in `reader`. */
function concat(
  read: Uint8Array[],
  pending: unknown[],
  reader: ReadableStreamDefaultReader<unknown>,
): ReadableStream<unknown> {
  const queue: unknown[] = [...read, ...pending];
  return new ReadableStream<unknown>(
    {
      async pull(controller) {
        if (queue.length > 0) return controller.enqueue(queue.shift());
        const { value, done } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
}
