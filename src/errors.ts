/**
 * Our own failure modes. Each extends `TypeError`, the class native fetch rejects with for a network
 * failure, so code written for fetch (`catch (e) { if (e instanceof TypeError) ... }`) keeps working.
 * Each carries a stable `code`; the guards check a `Symbol.for` brand and the code, so they survive two
 * copies of this package in one process (as undici's `lib/core/errors.js` does).
 */

const kBrand = Symbol.for('resilient-fetch.error');

export const ErrorCodes = {
  /** A call was made after `close()` or `destroy()` started. */
  CLOSED: 'ERR_RF_CLOSED',
  /** `destroy()` (or a `close()` whose drain timeout elapsed) ended the call. */
  DESTROYED: 'ERR_RF_DESTROYED',
  /** The host's circuit is open (or held open by `isolate()`): the call was not sent. */
  CIRCUIT_OPEN: 'ERR_RF_CIRCUIT_OPEN',
  /** `limits.maxInFlight` requests were in flight and `limits.maxQueue` waiting: the request was not sent. */
  QUEUE_FULL: 'ERR_RF_QUEUE_FULL',
  /** The request waited `limits.queueTimeoutMs` for a slot and was not sent. */
  QUEUE_TIMEOUT: 'ERR_RF_QUEUE_TIMEOUT',
  /** The response went past `response.maxBytes` or `response.maxRatio`: the connection was dropped. */
  RESPONSE_TOO_LARGE: 'ERR_RF_RESPONSE_TOO_LARGE',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export interface ResilientFetchErrorOptions {
  cause?: unknown;
  /** The host (`hostname:port`) the failing call was for, when there is one. */
  host?: string;
}

export class ResilientFetchError extends TypeError {
  readonly code: ErrorCode;
  readonly host: string | undefined;

  constructor(code: ErrorCode, message: string, options: ResilientFetchErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ResilientFetchError';
    this.code = code;
    this.host = options.host;
    Object.defineProperty(this, kBrand, { value: true });
  }
}

/** Rejects calls made after `close()` or `destroy()` started. */
export class ClosedError extends ResilientFetchError {
  constructor(options: ResilientFetchErrorOptions = {}) {
    super(ErrorCodes.CLOSED, 'resilient-fetch: this instance is closed and accepts no new calls', options);
    this.name = 'ClosedError';
  }
}

/** Ends calls still running when `destroy()` is called or `close()`'s drain timeout elapses. */
export class DestroyedError extends ResilientFetchError {
  constructor(reason: string, options: ResilientFetchErrorOptions = {}) {
    super(ErrorCodes.DESTROYED, `resilient-fetch: the call was ended because ${reason}`, options);
    this.name = 'DestroyedError';
  }
}

/**
 * Rejects a call, without touching the network, while its host's circuit is open, half-open with its one
 * probe already running, or isolated.
 */
export class CircuitOpenError extends ResilientFetchError {
  /** `open`, `half-open` or `isolated`. */
  readonly state: 'open' | 'half-open' | 'isolated';
  /** When an open circuit lets a probe through; undefined while half-open or isolated. */
  readonly retryAt: Date | undefined;

  constructor(host: string, state: 'open' | 'half-open' | 'isolated', retryAt?: number) {
    const when =
      state === 'isolated'
        ? 'it is isolated until released'
        : retryAt === undefined
          ? 'its probe call is running'
          : `it lets a probe through at ${new Date(retryAt).toISOString()}`;
    super(ErrorCodes.CIRCUIT_OPEN, `resilient-fetch: the circuit for ${host} is ${state}; ${when}`, { host });
    this.name = 'CircuitOpenError';
    this.state = state;
    this.retryAt = retryAt === undefined ? undefined : new Date(retryAt);
  }
}

/**
 * Refuses a request, without sending it, when `limits.maxInFlight` requests are in flight and
 * `limits.maxQueue` already wait. The call rejects with `TypeError('fetch failed')` whose cause this is.
 */
export class QueueFullError extends ResilientFetchError {
  readonly maxInFlight: number;
  readonly maxQueue: number;

  constructor(maxInFlight: number, maxQueue: number, options: ResilientFetchErrorOptions = {}) {
    super(
      ErrorCodes.QUEUE_FULL,
      `resilient-fetch: ${maxInFlight} requests in flight (limits.maxInFlight) and ${maxQueue} waiting ` +
        `(limits.maxQueue): the request${options.host ? ` to ${options.host}` : ''} was not sent`,
      options,
    );
    this.name = 'QueueFullError';
    this.maxInFlight = maxInFlight;
    this.maxQueue = maxQueue;
  }
}

/**
 * Ends a request that waited `limits.queueTimeoutMs` for one of the `limits.maxInFlight` slots; it was
 * not sent. The call rejects with `TypeError('fetch failed')` whose cause this is.
 */
export class QueueTimeoutError extends ResilientFetchError {
  readonly queueTimeoutMs: number;

  constructor(queueTimeoutMs: number, maxInFlight: number, options: ResilientFetchErrorOptions = {}) {
    super(
      ErrorCodes.QUEUE_TIMEOUT,
      `resilient-fetch: the request${options.host ? ` to ${options.host}` : ''} waited ${queueTimeoutMs} ms ` +
        `(limits.queueTimeoutMs) for one of ${maxInFlight} slots (limits.maxInFlight) and was not sent`,
      options,
    );
    this.name = 'QueueTimeoutError';
    this.queueTimeoutMs = queueTimeoutMs;
  }
}

/**
 * A response past a limit the caller set (`response.maxBytes`, `response.maxRatio`). Before the body,
 * the call rejects with `TypeError('fetch failed')` whose cause this is; while the body is read, the body
 * errors with `TypeError('terminated')` whose cause this is. Either way the connection is dropped.
 */
export class ResponseTooLargeError extends ResilientFetchError {
  /** The option that was exceeded. */
  readonly option: 'response.maxBytes' | 'response.maxRatio';
  /** Its value: bytes, or decoded bytes per encoded byte. */
  readonly limit: number;

  constructor(host: string, option: ResponseTooLargeError['option'], limit: number, what: string) {
    const unit =
      option === 'response.maxBytes' ? `${limit} bytes` : `${limit} decoded bytes per encoded byte`;
    super(
      ErrorCodes.RESPONSE_TOO_LARGE,
      `resilient-fetch: the response from ${host} ${what}, past ${option} (${unit}): the connection was dropped`,
      { host },
    );
    this.name = 'ResponseTooLargeError';
    this.option = option;
    this.limit = limit;
  }
}

/** True for any error thrown by resilient-fetch (any copy of it); with `code`, only for that code. */
export function isResilientFetchError(error: unknown, code?: ErrorCode): error is ResilientFetchError {
  if (typeof error !== 'object' || error === null || !(kBrand in error)) return false;
  return code === undefined || (error as { code?: unknown }).code === code;
}

export const isClosedError = (error: unknown): error is ClosedError =>
  isResilientFetchError(error, ErrorCodes.CLOSED);

export const isDestroyedError = (error: unknown): error is DestroyedError =>
  isResilientFetchError(error, ErrorCodes.DESTROYED);

export const isCircuitOpenError = (error: unknown): error is CircuitOpenError =>
  isResilientFetchError(error, ErrorCodes.CIRCUIT_OPEN);

/** The DOMException named `TimeoutError` a timeout rejects with, as `AbortSignal.timeout()` does. */
export const timeoutError = (message: string): DOMException => new DOMException(message, 'TimeoutError');

export const isQueueFullError = (error: unknown): error is QueueFullError =>
  isResilientFetchError(error, ErrorCodes.QUEUE_FULL);

export const isQueueTimeoutError = (error: unknown): error is QueueTimeoutError =>
  isResilientFetchError(error, ErrorCodes.QUEUE_TIMEOUT);

export const isResponseTooLargeError = (error: unknown): error is ResponseTooLargeError =>
  isResilientFetchError(error, ErrorCodes.RESPONSE_TOO_LARGE);

/** fetch's network error: `TypeError('fetch failed')` with what went wrong as its cause. */
export const fetchFailed = (cause: unknown): TypeError => new TypeError('fetch failed', { cause });
