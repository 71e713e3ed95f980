/**
 * The one record of a call's end (`CallOutcome`), built from how the call ended: spans, metrics and
 * health all read this record, so they can never disagree.
 */
import { CircuitOpenError, isQueueFullError, isQueueTimeoutError } from '../errors.ts';
import { errorCodeOf, isCallerAbort, isHostVerdict, isOwnError, isTimeout } from './classify.ts';
import type { CallOutcome } from './health.ts';

/** The facts of a call an outcome records. */
export interface CallFacts {
  readonly host: string;
  readonly method: string;
  readonly signal: AbortSignal | undefined;
  /** Epoch ms at the call's start. */
  readonly startedAt: number;
  readonly attempts: number;
  /** The deadline passed while the call waited for its host's rate-limit reset (see `Call.pacedOut`). */
  readonly pacedOut?: boolean;
}

function outcomeBase(call: CallFacts) {
  return {
    host: call.host,
    method: call.method,
    startedAt: call.startedAt,
    durationMs: Date.now() - call.startedAt,
    attempts: call.attempts,
  };
}

/** The outcome record of a call that ended with a response. */
export function outcomeOfResponse(call: CallFacts, response: Response): CallOutcome {
  const { status } = response;
  const failure = status >= 500 ? 'status_5xx' : status === 429 ? 'status_429' : undefined;
  return {
    ...outcomeBase(call),
    status,
    ...(failure ? { result: 'failure', failure } : { result: 'success' }),
  };
}

/** The outcome record of a call that rejected. */
export function outcomeOfError(call: CallFacts, error: unknown): CallOutcome {
  const base = { ...outcomeBase(call), errorType: errorCodeOf(error) };
  if (error instanceof CircuitOpenError) return { ...base, result: 'rejected' };
  // Refused by the total cap's queue (full, or waited too long): not sent, says nothing about the host.
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (isQueueFullError(cause) || isQueueTimeoutError(cause)) {
    return { ...base, errorType: cause.code, result: 'rejected' };
  }
  if (isCallerAbort(call.signal, error)) return { ...base, result: 'aborted' };
  // Held back by the host's own rate limit until the deadline: not sent, not the host failing.
  if (call.pacedOut === true && isTimeout(error)) return { ...base, result: 'rejected' };
  if (isTimeout(error)) return { ...base, result: 'failure', failure: 'timeout' };
  // Ended by our own shutdown (destroy, drain timeout): says nothing about the host.
  if (isOwnError(error)) return { ...base, result: 'aborted' };
  if (!isHostVerdict(call.signal, error)) return { ...base, result: 'invalid' };
  return { ...base, result: 'failure', failure: 'network' };
}
