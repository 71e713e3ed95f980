/** The public options of the retry group (`retry`), each with its `@default`. */

/** How the delay between attempts grows. */
export type RetryStrategy = 'exponential' | 'linear' | 'fixed' | 'none';
/**
 * Randomisation of the delay: `proportional` adds or removes up to `jitterRatio` of it; `full` picks
 * uniformly in [0, delay]; `decorrelated` picks in [base, 3 x previous delay] (AWS's "decorrelated jitter").
 */
export type JitterKind = 'proportional' | 'full' | 'decorrelated' | 'none';

/** What `shouldRetry` is told about the attempt that just ended. */
export interface RetryContext {
  /** `hostname:port`. */
  readonly host: string;
  readonly method: string;
  /** 1 for the first retry. */
  readonly retry: number;
  /** The attempt's Response, when it produced one. */
  readonly response?: Response;
  /** The attempt's error, when it failed. */
  readonly error?: unknown;
}

/** Retry budget per host, as Finagle and Envoy keep it. */
export interface RetryBudgetOptions {
  /**
   * Retries may add at most this share to the calls of the window (0.2: one retry per five calls).
   * @default 0.2
   */
  ratio?: number | undefined;
  /**
   * The sliding window the ratio is measured over.
   * @default 10_000
   */
  windowMs?: number | undefined;
  /**
   * Retries always allowed per second, whatever the traffic, so a host with little traffic still retries.
   * @default 10
   */
  minRetriesPerSecond?: number | undefined;
}

export interface RetryOptions {
  /** @default 'exponential' */
  strategy?: RetryStrategy | undefined;
  /**
   * Retries after the first attempt (so at most `maxRetries + 1` attempts).
   * @default 3
   */
  maxRetries?: number | undefined;
  /**
   * The first delay; `exponential` multiplies it by `factor` per retry, `linear` adds it per retry.
   * @default 1_000
   */
  baseDelayMs?: number | undefined;
  /** @default 2 */
  factor?: number | undefined;
  /**
   * No delay is longer. A `Retry-After` asking for longer is not waited for: the response is returned.
   * @default 60_000
   */
  maxDelayMs?: number | undefined;
  /** @default 'proportional' */
  jitter?: JitterKind | undefined;
  /**
   * Share of the delay `proportional` jitter may add or remove.
   * @default 0.1
   */
  jitterRatio?: number | undefined;
  /**
   * Response statuses that are retried.
   * @default [408, 429, 500, 502, 503, 504]
   */
  statuses?: readonly number[] | undefined;
  /**
   * Network error codes (the `code` of the fetch error's cause chain) that are retried, plus
   * `TimeoutError` for an attempt that timed out.
   * @default ECONNRESET, ECONNREFUSED, EPIPE, ENOTFOUND, EAI_AGAIN, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH,
   * UND_ERR_SOCKET, UND_ERR_CLOSED, UND_ERR_CONNECT_TIMEOUT, UND_ERR_HEADERS_TIMEOUT, TimeoutError
   */
  errorCodes?: readonly string[] | undefined;
  /**
   * Retry POST and PATCH even without an `Idempotency-Key` header.
   * @default false
   */
  retryNonIdempotent?: boolean | undefined;
  /**
   * A ReadableStream, async-iterable or `Request` body is streamed once and not retried. With a limit
   * above 0, up to that many bytes are kept while it streams so that a retry can re-send them; a larger
   * body is simply not retried.
   * @default 0
   */
  bufferBodyBytes?: number | undefined;
  /**
   * Last word on a retry the rules allow: return `false` to stop, `true` or `undefined` to go on. A hook
   * that throws is ignored (the rules decide).
   */
  shouldRetry?: ((context: RetryContext) => boolean | undefined) | undefined;
  /** `false` turns the budget off. */
  budget?: RetryBudgetOptions | false | undefined;
  /**
   * `'auto'`: a POST or PATCH without an `Idempotency-Key` header gets a random one
   * (`crypto.randomUUID()`), the same on every attempt, and so becomes retryable, as payment and LLM SDKs
   * do. A key the caller set is never replaced. `false`: headers are sent as given.
   * @default false
   */
  idempotencyKey?: 'auto' | false | undefined;
}
