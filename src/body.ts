/**
 * Is this request body replayable? Every attempt of a call must carry exactly the bytes of the first.
 *
 * - No body, string, Blob, URLSearchParams: fetch re-reads the same object each time; replayable.
 * - ArrayBuffer and views: copied once, so a caller writing into the buffer later cannot change a retry.
 * - FormData: serialised once (fetch would pick a new multipart boundary on each attempt) and sent as
 *   that Blob with its content-type.
 * - ReadableStream, async iterable, or the body of a `Request` input: streamed once. With a buffer limit,
 *   the bytes are kept while they stream; a retry re-sends them if the whole body fitted.
 */
import type { FetchInit } from './transport.ts';

export interface PreparedBody {
  /** The init of the next attempt (the first call gives the first attempt's). */
  next(): FetchInit;
  /** Whether another attempt can carry the same bytes. */
  canReplay(): boolean;
}

const isBufferSource = (body: unknown): body is ArrayBuffer | ArrayBufferView =>
  body instanceof ArrayBuffer || ArrayBuffer.isView(body) || body instanceof SharedArrayBuffer;

const isStreamLike = (body: unknown): boolean =>
  body instanceof ReadableStream ||
  (typeof body === 'object' &&
    body !== null &&
    (Symbol.asyncIterator in body || Symbol.iterator in body) &&
    !(body instanceof FormData) &&
    !(body instanceof URLSearchParams) &&
    typeof body !== 'string');

function copyBytes(body: ArrayBuffer | ArrayBufferView | SharedArrayBuffer): Uint8Array {
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength).slice();
  return new Uint8Array(body).slice();
}

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
 * every copy: the call gets one attempt.
 */
export async function prepareBody(
  input: string | URL | Request,
  init: FetchInit,
  retryable: boolean,
  bufferBodyBytes: number,
): Promise<PreparedBody> {
  const body = init.body;
  const request = input instanceof Request ? input : undefined;
  if (!retryable) return once(init);
  if (body === undefined || body === null) {
    if (request?.body) return recordStream(init, request.body, bufferBodyBytes);
    return fixed(init);
  }
  if (typeof body === 'string' || body instanceof Blob || body instanceof URLSearchParams) return fixed(init);
  if (isBufferSource(body)) return fixed({ ...init, body: copyBytes(body) as Uint8Array<ArrayBuffer> });
  if (body instanceof FormData) {
    const serialised = new Response(body);
    const blob = await serialised.blob();
    const headers = new Headers(init.headers ?? request?.headers);
    headers.set('content-type', serialised.headers.get('content-type') ?? '');
    return fixed({ ...init, body: blob, headers });
  }
  if (isStreamLike(body)) {
    const stream =
      body instanceof ReadableStream ? body : ReadableStream.from(body as AsyncIterable<unknown>);
    return recordStream(init, stream as ReadableStream<unknown>, bufferBodyBytes);
  }
  // Anything else fetch turns into a string (an object's toString()); it does so again on a retry.
  return fixed(init);
}

/** Streams the body once, keeping up to `limit` bytes so that a retry can re-send them. */
function recordStream(init: FetchInit, source: ReadableStream<unknown>, limit: number): PreparedBody {
  // Without a buffer the body goes out exactly as the caller gave it (a Request keeps its own body).
  if (limit <= 0) return once(init);
  const chunks: Uint8Array[] = [];
  let size = 0;
  let complete = false;
  let fits = true;
  const reader = source.getReader();
  const recording = new ReadableStream<unknown>(
    {
      async pull(controller) {
        const { value, done } = await reader.read();
        if (done) {
          complete = true;
          controller.close();
          return;
        }
        if (fits) {
          if (value instanceof Uint8Array && size + value.byteLength <= limit) {
            chunks.push(value.slice());
            size += value.byteLength;
          } else {
            fits = false;
            chunks.length = 0;
          }
        }
        controller.enqueue(value);
      },
      cancel: (reason) => reader.cancel(reason),
    },
    { highWaterMark: 0 },
  );
  let attempts = 0;
  return {
    next() {
      attempts++;
      if (attempts === 1) return { ...init, body: recording as ReadableStream, duplex: 'half' } as FetchInit;
      return { ...init, body: new Blob(chunks as Uint8Array<ArrayBuffer>[]), duplex: 'half' } as FetchInit;
    },
    canReplay: () => attempts === 0 || (complete && fits),
  };
}
