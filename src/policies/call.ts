/** One call as the policies see it: facts about the call, and the counts its attempts keep. */
import type { FetchInit } from '../transport/types.ts';

export interface Call {
  /** The URL string as it was at call time, or the caller's `Request`. */
  readonly input: string | Request;
  /** The call's own init (see `OutboundRequest.init`). */
  readonly init: FetchInit;
  /** The caller's signal: the one place it lives. */
  readonly signal: AbortSignal | undefined;
  readonly method: string;
  /** `hostname:port`. */
  readonly host: string;
  /** The request URL as given (for `url.full`, redacted there). */
  readonly href: string;
  /** The host's pool may negotiate HTTP/2. */
  readonly allowH2: boolean;
  /** Epoch ms at the call's start. */
  readonly startedAt: number;
  /** Attempts sent so far. */
  attempts: number;
  /** Requests sent so far: every attempt, and every redirect hop a transport followed itself. */
  sent: number;
  /**
   * The host the current attempt was redirected to last, when the transport follows redirects itself
   * (the fast transport does; Node's fetch does not tell): a failure there is that host's.
   */
  hopHost: string | undefined;
  /**
   * Set when the call's deadline passed while it waited for its host's rate-limit reset: nothing was
   * sent for that wait, so the timeout says nothing about the host (its breaker and health ignore it).
   */
  pacedOut: boolean;
}
