/**
 * Per-host policies around each call: circuit breaker (outermost, per call), then the retry loop with its
 * budget and the overall deadline, then one attempt with its own timeout, then the transport.
 */
import { prepareBody } from './body.ts';
import { type BreakerTransition, type CircuitBreaker, createCircuitBreaker } from './breaker.ts';
import { ForwardingHandler, type LegacyHandler } from './dispatch/handler.ts';
import { isOwnDispatcher, markOwnDispatcher } from './dispatch/own.ts';
import {
  CircuitOpenError,
  isQueueFullError,
  isQueueTimeoutError,
  isResilientFetchError,
  timeoutError,
} from './errors.ts';
import { type CallOutcome, type HealthStatus, type HealthThresholds, HostHealthWindow } from './health.ts';
import type { HostPolicy, ResolvedRetry, ResolvedTimeout } from './options.ts';
import { computeRetryDelay, errorCodeOf, isRetryableMethod, parseRetryAfter, RetryBudget } from './retry.ts';
import { ATTR_REASON, EVENT_RETRY } from './semconv.ts';
import type { AttemptScope, Telemetry } from './telemetry.ts';
import { AttemptAbort } from './transport/attempt-abort.ts';
import type { FetchInit, Transport } from './transport/types.ts';

/** What a host keeps between calls. */
export interface HostState {
  readonly host: string;
  readonly policy: HostPolicy;
  readonly breaker: CircuitBreaker | undefined;
  readonly budget: RetryBudget | undefined;
  /** Retries the budget refused. */
  retriesDenied: number;
  /** The calls of the health window. */
  readonly health: HostHealthWindow;
  /** The health status last reported. */
  status: HealthStatus;
  /** Calls started and not yet reported. */
  active: number;
  /** Epoch ms of the last call's start. */
  lastUsedAt: number;
}

export function createHostState(
  host: string,
  policy: HostPolicy,
  options: { readonly health: HealthThresholds; readonly retry: ResolvedRetry | false },
  onTransition: (transition: BreakerTransition) => void,
): HostState {
  // A host with retries off still gets a budget (from the top-level options) in case a call turns
  // retries back on through init.resilience.
  const budgetOptions = policy.retry ? policy.retry.budget : options.retry ? options.retry.budget : false;
  const budget = budgetOptions ? new RetryBudget(budgetOptions) : undefined;
  const breaker = policy.circuitBreaker
    ? createCircuitBreaker(host, policy.circuitBreaker, onTransition)
    : undefined;
  return {
    host,
    policy,
    breaker,
    budget,
    retriesDenied: 0,
    health: new HostHealthWindow(options.health),
    status: 'UNKNOWN',
    active: 0,
    lastUsedAt: Date.now(),
  };
}

/** One call as the policies see it. */
export interface Call {
  readonly input: string | Request;
  readonly init: FetchInit;
  readonly method: string;
  readonly host: string;
  readonly state: HostState;
  /** The host policy merged with `init.resilience`. */
  readonly policy: HostPolicy;
  /** The caller's signal (init.signal, else the Request's). */
  readonly signal: AbortSignal | undefined;
  /** Aborted by `destroy()`: a call waiting in a backoff ends at once, and no attempt starts after it. */
  readonly shutdown: AbortSignal;
  /** `hostname:port` of a URL (undefined unless http/https). */
  readonly hostOf: (url: string) => string | undefined;
  /** The state of another host (redirect targets are judged against their own breaker). */
  readonly hostStateOf: (host: string) => HostState;
  /** Receives the call's one outcome record. */
  readonly report: (outcome: CallOutcome) => void;
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
  /** The request URL as given (for `url.full`, redacted there). */
  readonly href: string;
  /** The host's pool may negotiate HTTP/2. */
  readonly allowH2: boolean;
  readonly telemetry: Telemetry;
}

type Attempt = { response: Response; error?: undefined } | { response?: undefined; error: unknown };

/** What a call ended by `destroy()` rejects with: a network failure, as for a request in flight. */
const shutdownError = (shutdown: AbortSignal): TypeError =>
  new TypeError('fetch failed', { cause: shutdown.reason });

/**
 * Sleeps `ms`. Rejects as soon as the caller aborts (with the caller's reason) or the instance is
 * destroyed. cockatiel's retry sleeps through both; this is why the loop is ours.
 */
function sleep(ms: number, signal: AbortSignal | undefined, shutdown: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (shutdown.aborted) return Promise.reject(shutdownError(shutdown));
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      shutdown.removeEventListener('abort', onShutdown);
    };
    const onAbort = () => {
      done();
      reject(signal?.reason);
    };
    const onShutdown = () => {
      done();
      reject(shutdownError(shutdown));
    };
    const timer = setTimeout(() => {
      done();
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
    shutdown.addEventListener('abort', onShutdown, { once: true });
  });
}

/**
 * Releases the connection of a response we will not return: small bodies are read to the end so the
 * socket goes back to the pool, anything larger (or slower) is cancelled.
 */
async function discard(response: Response, abort: AttemptAbort, withinMs: number): Promise<void> {
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  if (response.body === null) return;
  if (!(length <= 65_536)) {
    await response.body.cancel().catch(() => {});
    return;
  }
  // A small body is read to its end, but never for longer than `withinMs`: a body that drips must not
  // hold the call past its deadline. Aborting the attempt ends the read.
  const timer = setTimeout(() => abort.abort(), Math.max(0, withinMs));
  try {
    await response.arrayBuffer();
  } catch {
    // The body failed or was cut short; its socket is released either way.
  } finally {
    clearTimeout(timer);
  }
}

function hasIdempotencyKey(call: Call): boolean {
  const headers = call.init.headers ?? (call.input instanceof Request ? call.input.headers : undefined);
  if (headers === undefined) return false;
  try {
    return new Headers(headers).has('idempotency-key');
  } catch {
    return false;
  }
}

function askHook(retry: ResolvedRetry, call: Call, n: number, outcome: Attempt): boolean {
  if (!retry.shouldRetry) return true;
  try {
    const verdict = retry.shouldRetry({
      host: call.host,
      method: call.method,
      retry: n,
      ...(outcome.response ? { response: outcome.response } : { error: outcome.error }),
    });
    return verdict !== false;
  } catch {
    return true; // A throwing hook never breaks a request: the rules decide.
  }
}

interface Deadline {
  readonly at: number;
  readonly ms: number;
  /** Set when the deadline passes: created then, as building a DOMException costs a stack capture. */
  error: DOMException | undefined;
}

function expire(deadline: Deadline, host: string): DOMException {
  deadline.error ??= timeoutError(`resilient-fetch: call to ${host} exceeded its ${deadline.ms} ms deadline`);
  return deadline.error;
}

/** Runs one attempt: its own abort beside the caller's signal, and one timer. */
async function attempt(
  call: Call,
  transport: Transport,
  init: FetchInit,
  timeout: ResolvedTimeout,
  deadline: Deadline,
): Promise<Attempt & { abort: AttemptAbort; tracker: DispatchTracker | undefined; scope: AttemptScope }> {
  call.attempts++;
  const scope = call.telemetry.attempt(call, call.input, init, call.sent);
  init = scope.init;
  const tracker = timeout.deadlineCoversBody ? { active: 0, timer: undefined } : undefined;
  if (tracker) init = { ...init, dispatcher: trackingDispatcher(init.dispatcher, tracker) } as FetchInit;
  const abort = new AttemptAbort();
  const remaining = deadline.at - Date.now();
  const byDeadline = remaining <= timeout.attemptMs;
  const onTimeout = () =>
    abort.abort(
      byDeadline
        ? expire(deadline, call.host)
        : timeoutError(`resilient-fetch: attempt to ${call.host} timed out after ${timeout.attemptMs} ms`),
    );
  const timer = setTimeout(onTimeout, Math.max(0, byDeadline ? remaining : timeout.attemptMs));
  try {
    call.hopHost = undefined;
    const onRedirect = (status: number, next: string, method: string) => {
      const host = call.hostOf(next);
      // A hop to a host whose circuit is open (and cooling down) or isolated fails fast, as a direct
      // call to it would. It does not enter that breaker: a hop is never its probe (the call's end
      // could leave the probe unsettled), so only direct calls close a circuit again.
      if (host !== undefined && host !== call.host) {
        const breaker = call.hostStateOf(host).breaker;
        const { state, retryAt } = breaker ?? {};
        if (state === 'isolated' || (state === 'open' && retryAt !== undefined && Date.now() < retryAt)) {
          throw new CircuitOpenError(host, state, retryAt);
        }
      }
      call.hopHost = host;
      return scope.redirect(status, next, method);
    };
    const request = { input: call.input, init, signal: call.signal, onRedirect, peer: scope.peer, abort };
    const response = await scope.run(() => transport(request));
    return { response, abort, tracker, scope };
  } catch (error) {
    return { error, abort, tracker, scope };
  } finally {
    clearTimeout(timer);
    call.sent += scope.requests;
  }
}

/** Decides whether to retry after `outcome`; returns the delay, or undefined to stop here. */
function retryDelay(
  call: Call,
  retry: ResolvedRetry,
  n: number,
  outcome: Attempt,
  previousDelay: number,
  deadline: Deadline,
): number | undefined {
  if (n > retry.maxRetries) return undefined;
  if (outcome.response) {
    if (!retry.statuses.has(outcome.response.status)) return undefined;
  } else if (!retry.errorCodes.has(errorCodeOf(outcome.error))) {
    return undefined;
  }
  if (!askHook(retry, call, n, outcome)) return undefined;
  let delay = computeRetryDelay(n, retry, previousDelay);
  const retryAfter = outcome.response
    ? parseRetryAfter(outcome.response.headers.get('retry-after'))
    : undefined;
  if (retryAfter !== undefined) {
    // Honoured when within the max delay; asked to wait longer, we return the response instead.
    if (retryAfter > retry.maxDelayMs) return undefined;
    delay = retryAfter;
  }
  // A retry that could not start before the deadline is not worth the wait.
  if (Date.now() + delay >= deadline.at) return undefined;
  return delay;
}

/** The retry loop: attempts until one is final, honouring budget, body replay, aborts and the deadline. */
async function retryLoop(call: Call, transport: Transport): Promise<Response> {
  const { policy, state } = call;
  const retry = policy.retry;
  const timeout = policy.timeout;
  const deadline: Deadline = {
    at: Date.now() + timeout.deadlineMs,
    ms: timeout.deadlineMs,
    error: undefined,
  };
  const retryable =
    retry !== false &&
    retry.maxRetries > 0 &&
    isRetryableMethod(call.method, () => hasIdempotencyKey(call), retry.retryNonIdempotent);
  const prepared = prepareBody(call.input, call.init, retryable, retry ? retry.bufferBodyBytes : 0);
  const body = prepared instanceof Promise ? await prepared : prepared;
  state.budget?.recordCall();
  let previousDelay = retry ? retry.baseDelayMs : 0;
  for (let n = 1; ; n++) {
    const outcome = await attempt(call, transport, body.next(), timeout, deadline);
    if (outcome.error !== undefined) {
      const aborted = call.signal?.aborted === true && outcome.error === call.signal.reason;
      if (aborted || (deadline.error !== undefined && outcome.error === deadline.error)) {
        outcome.scope.end(undefined, outcome.error, aborted);
        throw outcome.error;
      }
    }
    let delay =
      retryable && retry && body.canReplay()
        ? retryDelay(call, retry, n, outcome, previousDelay, deadline)
        : undefined;
    if (delay !== undefined && state.budget && !state.budget.tryRetry()) {
      // A spent budget is not an error: the call ends as this attempt did.
      state.retriesDenied++;
      call.telemetry.retryDenied(call);
      outcome.scope.event(EVENT_RETRY, { 'resilient_fetch.retry.denied': true });
      delay = undefined;
    }
    if (delay !== undefined) {
      const reason = outcome.response ? String(outcome.response.status) : errorCodeOf(outcome.error);
      call.telemetry.retry(call, reason);
      outcome.scope.event(EVENT_RETRY, { 'resilient_fetch.retry.delay_ms': delay, [ATTR_REASON]: reason });
    }
    outcome.scope.end(outcome.response, outcome.error, false);
    if (delay === undefined) {
      if (outcome.response) {
        if (outcome.tracker) coverBody(outcome.abort, deadline, call.host, outcome.tracker);
        return outcome.response;
      }
      throw outcome.error;
    }
    if (outcome.response) {
      await discard(outcome.response, outcome.abort, Math.min(1_000, deadline.at - Date.now() - delay));
      // Reading the body took time: a retry that can no longer start before the deadline is not made.
      if (Date.now() + delay >= deadline.at) throw expire(deadline, call.host);
    }
    await sleep(delay, call.signal, call.shutdown);
    previousDelay = delay;
  }
}

/**
 * Counts the dispatches of one attempt still running (each redirect hop is one) by wrapping the handler
 * Node's fetch gives the dispatcher: the only place that sees a response body end.
 */
interface DispatchTracker {
  active: number;
  timer: NodeJS.Timeout | undefined;
}

/** Sees one dispatch of the attempt end. */
class EndTap extends ForwardingHandler {
  readonly #tracker: DispatchTracker;

  constructor(handler: LegacyHandler, tracker: DispatchTracker) {
    super(handler);
    this.#tracker = tracker;
  }

  protected ended(): void {
    if (--this.#tracker.active === 0 && this.#tracker.timer) clearTimeout(this.#tracker.timer);
  }
}

/** A dispatcher for one attempt that tracks when its responses (redirect hops included) have ended. */
function trackingDispatcher(
  inner: FetchInit['dispatcher'],
  tracker: DispatchTracker,
): FetchInit['dispatcher'] {
  if (inner === undefined) return undefined;
  const dispatch = (opts: unknown, handler: LegacyHandler) => {
    tracker.active++;
    return (inner.dispatch as (o: unknown, h: unknown) => boolean)(opts, new EndTap(handler, tracker));
  };
  const wrapper = { dispatch };
  if (isOwnDispatcher(inner)) markOwnDispatcher(wrapper);
  return wrapper as unknown as FetchInit['dispatcher'];
}

/**
 * Keeps the deadline running over the response body: it errors with the deadline's TimeoutError. The
 * timer is cleared as soon as the body has ended, so it holds nothing once the body is read.
 */
function coverBody(abort: AttemptAbort, deadline: Deadline, host: string, tracker: DispatchTracker): void {
  if (tracker.active === 0) return; // the body has already ended
  const remaining = deadline.at - Date.now();
  // unref: a body nobody reads must not keep the process alive until the deadline.
  tracker.timer = setTimeout(() => abort.abort(expire(deadline, host)), Math.max(0, remaining)).unref();
}

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
 * True when the call's end says something about the host: a host fault or a timeout. Not the caller's
 * abort, not our own shutdown, and not a request fetch refused or gave up on because of the caller (a GET
 * with a body, an invalid header, `redirect: 'error'`, a body stream that errored): a caller's mistake
 * must not open a healthy host's circuit.
 */
function isVerdict(call: Call, error: unknown): boolean {
  if (call.signal?.aborted && error === call.signal.reason) return false;
  if (error instanceof DOMException) return error.name === 'TimeoutError';
  return isHostFault(error);
}

function isFailureStatus(call: Call, status: number): boolean {
  const options = call.policy.circuitBreaker;
  if (!options) return false;
  try {
    return options.isFailureStatus(status) === true;
  } catch {
    return status >= 500; // A throwing predicate falls back to the default rule.
  }
}

/** The outcome record of a call that ended with a response. */
function outcomeOfResponse(call: Call, response: Response): CallOutcome {
  const { status } = response;
  const failure = status >= 500 ? 'status_5xx' : status === 429 ? 'status_429' : undefined;
  return {
    ...outcomeBase(call),
    status,
    ...(failure ? { result: 'failure', failure } : { result: 'success' }),
  };
}

/** The outcome record of a call that rejected. */
function outcomeOfError(call: Call, error: unknown): CallOutcome {
  const base = { ...outcomeBase(call), errorType: errorCodeOf(error) };
  if (error instanceof CircuitOpenError) return { ...base, result: 'rejected' };
  // Refused by the total cap's queue (full, or waited too long): not sent, says nothing about the host.
  const cause = (error as { cause?: unknown } | null)?.cause;
  if (isQueueFullError(cause) || isQueueTimeoutError(cause)) {
    return { ...base, errorType: cause.code, result: 'rejected' };
  }
  if (call.signal?.aborted && error === call.signal.reason) return { ...base, result: 'aborted' };
  if (error instanceof DOMException && error.name === 'TimeoutError') {
    return { ...base, result: 'failure', failure: 'timeout' };
  }
  // Ended by our own shutdown (destroy, drain timeout): says nothing about the host.
  if (isResilientFetchError(error) || isResilientFetchError((error as { cause?: unknown } | null)?.cause)) {
    return { ...base, result: 'aborted' };
  }
  if (!isVerdict(call, error)) return { ...base, result: 'invalid' };
  return { ...base, result: 'failure', failure: 'network' };
}

function outcomeBase(call: Call) {
  return {
    host: call.host,
    method: call.method,
    startedAt: call.startedAt,
    durationMs: Date.now() - call.startedAt,
    attempts: call.attempts,
  };
}

/** Runs a call through the breaker and the retry loop, and reports its one outcome record. */
export async function runCall(call: Call, transport: Transport): Promise<Response> {
  // The breaker's verdict is applied after the outcome is recorded, so that a circuit move (and the
  // health change it triggers) sees the call that caused it.
  const verdict: Verdict = { apply: undefined };
  let response: Response;
  try {
    response = await runAdmitted(call, transport, verdict);
  } catch (error) {
    call.report(outcomeOfError(call, error));
    verdict.apply?.();
    throw error;
  }
  call.report(outcomeOfResponse(call, response));
  verdict.apply?.();
  return response;
}

interface Verdict {
  apply: (() => void) | undefined;
}

async function runAdmitted(call: Call, transport: Transport, verdict: Verdict): Promise<Response> {
  // Native fetch rejects an already-aborted call with the reason, whatever the host's state.
  if (call.signal?.aborted) throw call.signal.reason;
  const breaker = call.state.breaker;
  if (!breaker) return retryLoop(call, transport);
  const admission = breaker.enter();
  if (!admission.admitted) throw new CircuitOpenError(call.host, admission.state, admission.retryAt);
  const { probe } = admission;
  let response: Response;
  try {
    response = await retryLoop(call, transport);
  } catch (error) {
    const failedAt = call.hopHost;
    if (failedAt !== undefined && failedAt !== call.host && isVerdict(call, error)) {
      // The hop that failed was another host's (a redirect the transport followed): this host answered
      // its part with a redirect, a success; the failure counts against the other host's breaker.
      verdict.apply = () => {
        breaker.success(probe);
        call.hostStateOf(failedAt).breaker?.failure(false);
      };
    } else {
      verdict.apply = isVerdict(call, error) ? () => breaker.failure(probe) : () => breaker.abandon(probe);
    }
    throw error;
  }
  const answeredBy = response.redirected ? call.hostOf(response.url) : call.host;
  const failed = isFailureStatus(call, response.status);
  if (answeredBy === undefined || answeredBy === call.host) {
    verdict.apply = failed ? () => breaker.failure(probe) : () => breaker.success(probe);
    return response;
  }
  // Redirected to another host: this host answered with a redirect, which is a success; the final
  // status is the other host's doing and counts against its own breaker.
  verdict.apply = () => {
    breaker.success(probe);
    const other = call.hostStateOf(answeredBy).breaker;
    if (other && failed) other.failure(false);
    else other?.success(false);
  };
  return response;
}
