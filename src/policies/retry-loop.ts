/**
 * The retry loop: attempts until one is final, honouring the retry rules, the budget, body replay, the
 * caller's abort, our shutdown and the deadline. A backoff ends at once on an abort (cockatiel's retry
 * sleeps through it: that is why the loop is ours).
 */
import { fetchFailed } from '../errors.ts';
import type { HostPolicy, ResolvedRetry } from '../options/resolved.ts';
import { errorCodeOf, isCallerAbort } from '../outcome/classify.ts';
import { ATTR_REASON, EVENT_RETRY } from '../telemetry/semconv.ts';
import type { AttemptAbort } from '../transport/attempt-abort.ts';
import { type AttemptEnd, type AttemptEnv, attempt } from './attempt.ts';
import { prepareBody } from './body.ts';
import type { Call } from './call.ts';
import { coverBody, Deadline } from './deadline.ts';
import type { HostPolicyState } from './host-state.ts';
import {
  computeRetryDelay,
  hasIdempotencyKey,
  isRetryableMethod,
  serverRetryDelay,
  shouldRetryHint,
  withIdempotencyKey,
} from './retry-rules.ts';

/** What the loop runs with: the attempt's environment, and the instance's shutdown signal. */
export interface LoopEnv extends AttemptEnv {
  /** Aborted by `destroy()`: a call waiting in a backoff ends at once, and no attempt starts after it. */
  readonly shutdown: AbortSignal;
}

/**
 * Sleeps `ms`. Rejects as soon as the caller aborts (with the caller's reason) or the instance is
 * destroyed (with a network failure, as for a request in flight).
 */
function sleep(ms: number, signal: AbortSignal | undefined, shutdown: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (shutdown.aborted) return Promise.reject(fetchFailed(shutdown.reason));
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
      reject(fetchFailed(shutdown.reason));
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

function askHook(retry: ResolvedRetry, call: Call, n: number, outcome: AttemptEnd): boolean {
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

/**
 * Whether the rules retry `response`'s status: `x-should-retry: false` never, `x-should-retry: true` for
 * any error status (4xx, 5xx), else the status list. Read only for error statuses: a success costs nothing.
 */
function isRetryableStatus(retry: ResolvedRetry, response: Response): boolean {
  const { status } = response;
  const hint = status >= 400 ? shouldRetryHint(response.headers) : undefined;
  return hint ?? retry.statuses.has(status);
}

/**
 * Decides whether to retry after `outcome`; returns the delay, or undefined to stop here. `pacedMs`: how
 * long the host's rate limit holds new calls back (a retry waits at least that).
 */
function retryDelay(
  call: Call,
  retry: ResolvedRetry,
  n: number,
  outcome: AttemptEnd,
  previousDelay: number,
  deadline: Deadline,
  pacedMs: number,
): number | undefined {
  if (n > retry.maxRetries) return undefined;
  if (outcome.response) {
    if (!isRetryableStatus(retry, outcome.response)) return undefined;
  } else if (!retry.errorCodes.has(errorCodeOf(outcome.error))) {
    return undefined;
  }
  if (!askHook(retry, call, n, outcome)) return undefined;
  let delay = computeRetryDelay(n, retry, previousDelay);
  const asked = outcome.response ? serverRetryDelay(outcome.response.headers) : undefined;
  if (asked !== undefined) {
    // Honoured when within the max delay; asked to wait longer, we return the response instead.
    if (asked > retry.maxDelayMs) return undefined;
    delay = asked;
  }
  delay = Math.max(delay, pacedMs);
  // A retry that could not start before the deadline is not worth the wait.
  if (Date.now() + delay >= deadline.at) return undefined;
  return delay;
}

/**
 * Waits while the host's rate limit holds new calls back (see `pacing.ts`), before the attempt is
 * dispatched: a paced call holds no slot of the total cap. The caller's abort and our shutdown end the
 * wait at once (as a backoff); the deadline ends it with its TimeoutError, nothing sent.
 */
async function pace(env: LoopEnv, call: Call, host: HostPolicyState, policy: HostPolicy, deadline: Deadline) {
  const wait = pacedFor(host, policy);
  if (wait === 0) return;
  const start = Date.now();
  const cut = wait >= deadline.remaining(start);
  try {
    await sleep(cut ? Math.max(0, deadline.remaining(start)) : wait, call.signal, env.shutdown);
  } finally {
    env.telemetry.paced(call, Date.now() - start);
  }
  if (cut) {
    call.pacedOut = true;
    throw deadline.expire();
  }
}

/**
 * Whether the call may be sent more than once: retries on, and a method the rules allow (POST and PATCH
 * with a key of the caller's, `retryNonIdempotent`, or one of our own with `idempotencyKey: 'auto'`).
 */
function isRetryableCall(call: Call, retry: ResolvedRetry | false): boolean {
  if (retry === false || retry.maxRetries === 0) return false;
  const hasKey = () => retry.idempotencyKey === 'auto' || hasIdempotencyKey(call.input, call.init);
  return isRetryableMethod(call.method, hasKey, retry.retryNonIdempotent);
}

/** True when the policy asks for an `Idempotency-Key` of our own and the call is a POST or PATCH without one. */
function needsKey(call: Call, retry: ResolvedRetry | false): boolean {
  if (retry === false || retry.idempotencyKey !== 'auto') return false;
  return (call.method === 'POST' || call.method === 'PATCH') && !hasIdempotencyKey(call.input, call.init);
}

/** How long the host's rate limit holds a new call back now, in ms (0: not at all). */
const pacedFor = (host: HostPolicyState, policy: HostPolicy): number =>
  host.rateLimit === undefined || host.rateLimit.until === 0 || !policy.rateLimit
    ? 0
    : host.rateLimit.waitMs(policy.rateLimit.maxWaitMs);

/** The budget's say on a retry the rules allow: a spent budget is not an error, the call ends as is. */
function admitRetry(env: LoopEnv, call: Call, host: HostPolicyState, outcome: AttemptEnd): boolean {
  if (!host.budget || host.budget.tryRetry()) return true;
  host.retriesDenied++;
  env.telemetry.retryDenied(call);
  outcome.scope.event(EVENT_RETRY, { 'resilient_fetch.retry.denied': true });
  return false;
}

/** Attempts `call` under `policy` until one attempt is final; resolves with its response. */
export async function retryLoop(
  env: LoopEnv,
  call: Call,
  host: HostPolicyState,
  policy: HostPolicy,
): Promise<Response> {
  const { retry, timeout } = policy;
  const deadline = new Deadline(call.host, timeout.deadlineMs);
  const retryable = isRetryableCall(call, retry);
  const keyed = retryable && needsKey(call, retry);
  const init = keyed ? withIdempotencyKey(call.input, call.init) : call.init;
  const prepared = prepareBody(call.input, init, retryable, retry ? retry.bufferBodyBytes : 0);
  const body = prepared instanceof Promise ? await prepared : prepared;
  host.budget?.recordCall();
  let previousDelay = retry ? retry.baseDelayMs : 0;
  for (let n = 1; ; n++) {
    // One field read when the host is not paced: no promise, no microtask.
    if (host.rateLimit?.until) await pace(env, call, host, policy, deadline);
    const outcome = await attempt(env, call, body.next(), timeout, deadline, policy.response);
    if (outcome.response && !outcome.response.redirected) host.rateLimit?.observe(outcome.response.headers);
    if (outcome.error !== undefined) {
      const aborted = isCallerAbort(call.signal, outcome.error);
      if (aborted || deadline.isIt(outcome.error)) {
        outcome.scope.end(undefined, outcome.error, aborted);
        throw outcome.error;
      }
    }
    let delay =
      retryable && retry && body.canReplay()
        ? retryDelay(call, retry, n, outcome, previousDelay, deadline, pacedFor(host, policy))
        : undefined;
    if (delay !== undefined && !admitRetry(env, call, host, outcome)) delay = undefined;
    if (delay !== undefined) {
      const reason = outcome.response ? String(outcome.response.status) : errorCodeOf(outcome.error);
      env.telemetry.retry(call, reason);
      outcome.scope.event(EVENT_RETRY, { 'resilient_fetch.retry.delay_ms': delay, [ATTR_REASON]: reason });
    }
    outcome.scope.end(outcome.response, outcome.error, false);
    if (delay === undefined) {
      if (outcome.response) {
        if (outcome.tracker) coverBody(outcome.abort, deadline, outcome.tracker);
        return outcome.response;
      }
      throw outcome.error;
    }
    if (outcome.response) {
      await discard(outcome.response, outcome.abort, Math.min(1_000, deadline.remaining() - delay));
      // Reading the body took time: a retry that can no longer start before the deadline is not made.
      if (Date.now() + delay >= deadline.at) throw deadline.expire();
    }
    await sleep(delay, call.signal, env.shutdown);
    previousDelay = delay;
  }
}
