/**
 * What an error says, decided in one place: its code (`errorCodeOf`), whether it is the caller's abort
 * or a timeout, whether the host is at fault, and which codes are worth a retry by default. Every
 * foreign error (undici's, Node's, fetch's, DOMExceptions) is read here and nowhere else.
 */
import { isResilientFetchError } from '../errors.ts';

/**
 * The code that names an error: the first `code` in its cause chain (ECONNRESET, UND_ERR_SOCKET, ...), or
 * the name of a DOMException (TimeoutError, AbortError), else the error's class name.
 */
export function errorCodeOf(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && typeof current === 'object'; depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === 'string' && code !== '') return code;
    if (current instanceof DOMException) return current.name;
    current = (current as { cause?: unknown }).cause;
  }
  if (error instanceof Error) return error.name;
  return typeof error;
}

/** Network error codes retried by default (`retry.errorCodes`), and `TimeoutError` for a timed-out attempt. */
export const retryableErrorCodes = [
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'TimeoutError',
] as const;

/** True when `error` is the caller's own abort: its signal aborted, with this very reason. */
export const isCallerAbort = (signal: AbortSignal | undefined, error: unknown): boolean =>
  signal?.aborted === true && error === signal.reason;

/** A timeout of ours (or `AbortSignal.timeout`'s): a DOMException named `TimeoutError`. */
export const isTimeout = (error: unknown): error is DOMException =>
  error instanceof DOMException && error.name === 'TimeoutError';

// Codes that say the host (or the network to it) failed; anything else under `fetch failed` (an
// `unexpected redirect` with redirect: 'error', the caller's own body stream erroring) is the caller's.
const callerSideUndiciCodes = new Set([
  'UND_ERR_ABORTED',
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
]);
const hostFaultCode =
  /^(E[A-Z]+|UND_ERR_[A-Z_]+|HPE_[A-Z_]+|ERR_TLS_[A-Z_]+|ERR_SSL_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|UNABLE_TO_[A-Z_]+)$/;

/** True for a network failure attributable to the host: connection, TLS, DNS, protocol or timeouts. */
export function isHostFault(error: unknown): boolean {
  if (!(error instanceof TypeError) || error.message !== 'fetch failed') return false;
  if (isResilientFetchError(error.cause)) return false;
  const code = errorCodeOf(error.cause);
  return hostFaultCode.test(code) && !callerSideUndiciCodes.has(code);
}

/**
 * True when a call's end says something about the host: a host fault or a timeout. Not the caller's
 * abort, not our own shutdown, and not a request fetch refused or gave up on because of the caller (a GET
 * with a body, an invalid header, `redirect: 'error'`, a body stream that errored): a caller's mistake
 * must not open a healthy host's circuit.
 */
export function isHostVerdict(signal: AbortSignal | undefined, error: unknown): boolean {
  if (isCallerAbort(signal, error)) return false;
  if (error instanceof DOMException) return error.name === 'TimeoutError';
  return isHostFault(error);
}

/** True when the error, or its cause, is one of ours (a shutdown, a refusal by the cap or the circuit). */
export const isOwnError = (error: unknown): boolean =>
  isResilientFetchError(error) || isResilientFetchError((error as { cause?: unknown } | null)?.cause);
