/**
 * The call's response limits (`response.maxBytes`, `response.maxRatio`), as both transports apply them:
 * a `content-length` over the byte cap refuses the response before its body, and a meter counts the
 * decoded bytes (and checks them against the encoded ones) as the body is read. A call without limits
 * gets no `ResponseLimits` at all (decided once per attempt), so reading its body costs nothing more.
 */
import { ResponseTooLargeError } from '../errors.ts';
import type { ResolvedResponse } from '../options/resolved.ts';

/** The limits of one call, for the transports. */
export interface ResponseLimits {
  readonly host: string;
  readonly maxBytes: number | false;
  readonly maxRatio: number | false;
}

/** The ratio is judged once this much is decoded: a small body may compress well without being a bomb. */
export const ratioFloorBytes = 64 * 1024;

/** The limits to hand a transport, or undefined when there are none. */
export function limitsOf(host: string, response: ResolvedResponse): ResponseLimits | undefined {
  if (response.maxBytes === false && response.maxRatio === false) return undefined;
  return { host, maxBytes: response.maxBytes, maxRatio: response.maxRatio };
}

/** The error for a decoded size announced by `content-length` over the byte cap, or undefined. */
export function declaredTooLarge(
  limits: ResponseLimits,
  contentLength: string | null | undefined,
): ResponseTooLargeError | undefined {
  if (limits.maxBytes === false || contentLength == null) return undefined;
  const declared = Number(contentLength);
  if (!(declared > limits.maxBytes)) return undefined;
  return new ResponseTooLargeError(
    limits.host,
    'response.maxBytes',
    limits.maxBytes,
    `announces ${declared} bytes (content-length)`,
  );
}

/** Where the encoded bytes of the responses are counted (the request's timing entry). */
export interface EncodedCount {
  readonly encodedBodySize: number;
}

/** Counts one body's decoded bytes against the limits, and its encoded bytes from `encoded`. */
export class ResponseMeter {
  readonly #limits: ResponseLimits;
  readonly #counter: EncodedCount;
  /** The encoded bytes counted before this body (earlier hops). */
  readonly #start: number;
  #decoded = 0;
  /** Set once a limit was passed. */
  error: ResponseTooLargeError | undefined = undefined;

  constructor(limits: ResponseLimits, counter: EncodedCount) {
    this.#limits = limits;
    this.#counter = counter;
    this.#start = counter.encodedBodySize;
  }

  /** Counts `bytes` more decoded bytes; false (and `error` set) when they go past a limit. */
  admit(bytes: number): boolean {
    this.#decoded += bytes;
    const decoded = this.#decoded;
    const { maxBytes, maxRatio, host } = this.#limits;
    if (maxBytes !== false && decoded > maxBytes) {
      this.error = new ResponseTooLargeError(
        host,
        'response.maxBytes',
        maxBytes,
        `went past ${maxBytes} bytes`,
      );
      return false;
    }
    if (maxRatio !== false && decoded > ratioFloorBytes) {
      const encoded = Math.max(1, this.#counter.encodedBodySize - this.#start);
      if (decoded / encoded > maxRatio) {
        const what = `decoded ${decoded} bytes from ${encoded}`;
        this.error = new ResponseTooLargeError(host, 'response.maxRatio', maxRatio, what);
        return false;
      }
    }
    return true;
  }
}

/** The value of header `name` in a header list (lower-case names and values, alternating), if any. */
function headerValue(list: readonly string[], name: string): string | undefined {
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
}

/**
 * The `content-length` that tells the decoded size: only an unencoded body's (an encoded body's counts
 * the encoded bytes, which say nothing certain about the decoded ones).
 */
export const decodedLength = (contentLength: string | undefined, encoding: string | undefined) =>
  encoding === undefined || encoding.trim().toLowerCase() === 'identity' ? contentLength : undefined;

/**
 * The meter of a response with header list `list` (lower-case names and values, alternating), or the
 * error when its content-length is over the byte cap already.
 */
export function meterOf(
  limits: ResponseLimits,
  list: readonly string[],
  counter: EncodedCount,
): ResponseMeter | ResponseTooLargeError {
  const length = decodedLength(headerValue(list, 'content-length'), headerValue(list, 'content-encoding'));
  return declaredTooLarge(limits, length) ?? new ResponseMeter(limits, counter);
}
