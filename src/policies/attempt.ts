/**
 * One attempt of a call: its own abort beside the caller's signal, one timer (the attempt timeout, or the
 * deadline when that comes first), its telemetry scope, and the check of each redirect hop against the
 * circuit of the host it goes to.
 */
import { CircuitOpenError, timeoutError } from '../errors.ts';
import { hostOfUrl } from '../hosts/key.ts';
import type { ResolvedResponse, ResolvedTimeout } from '../options/resolved.ts';
import type { AttemptScope, Telemetry } from '../telemetry/telemetry.ts';
import { AttemptAbort } from '../transport/attempt-abort.ts';
import { limitsOf } from '../transport/response-limit.ts';
import type { FetchInit, Transport } from '../transport/types.ts';
import type { Call } from './call.ts';
import { type Deadline, type DispatchTracker, trackingDispatcher } from './deadline.ts';
import type { Circuits } from './host-state.ts';

/** What an attempt ended with, and what the loop needs to finish it. */
export type AttemptEnd = (
  | { response: Response; error?: undefined }
  | { response?: undefined; error: unknown }
) & {
  readonly abort: AttemptAbort;
  readonly tracker: DispatchTracker | undefined;
  readonly scope: AttemptScope;
};

/** What every attempt of a client runs with. */
export interface AttemptEnv {
  readonly transport: Transport;
  readonly telemetry: Telemetry;
  readonly circuits: Circuits;
}

/**
 * Fails a redirect hop to another host whose circuit is open (and cooling down) or isolated, as a direct
 * call to it would. A hop does not enter that breaker: a hop is never its probe (the call's end could
 * leave the probe unsettled), so only direct calls close a circuit again.
 */
function checkHop(call: Call, circuits: Circuits, next: string): string | undefined {
  const host = hostOfUrl(next);
  if (host !== undefined && host !== call.host) {
    const { state, retryAt } = circuits.breakerOf(host) ?? {};
    if (state === 'isolated' || (state === 'open' && retryAt !== undefined && Date.now() < retryAt)) {
      throw new CircuitOpenError(host, state, retryAt);
    }
  }
  return host;
}

/** Runs one attempt of `call` with `init` (the body prepared for it). */
export async function attempt(
  env: AttemptEnv,
  call: Call,
  init: FetchInit,
  timeout: ResolvedTimeout,
  deadline: Deadline,
  responseLimits: ResolvedResponse,
): Promise<AttemptEnd> {
  call.attempts++;
  const scope = env.telemetry.attempt(call, init, call.sent);
  init = scope.init;
  const tracker = timeout.deadlineCoversBody ? { active: 0, timer: undefined } : undefined;
  if (tracker) init = { ...init, dispatcher: trackingDispatcher(init.dispatcher, tracker) } as FetchInit;
  const abort = new AttemptAbort();
  const remaining = deadline.remaining();
  const byDeadline = remaining <= timeout.attemptMs;
  const onTimeout = () =>
    abort.abort(
      byDeadline
        ? deadline.expire()
        : timeoutError(`resilient-fetch: attempt to ${call.host} timed out after ${timeout.attemptMs} ms`),
    );
  const timer = setTimeout(onTimeout, Math.max(0, byDeadline ? remaining : timeout.attemptMs));
  try {
    call.hopHost = undefined;
    const onRedirect = (status: number, next: string, method: string) => {
      call.hopHost = checkHop(call, env.circuits, next);
      return scope.redirect(status, next, method);
    };
    const limits = limitsOf(call.host, responseLimits);
    const { input, signal } = call;
    const request = { input, init, signal, onRedirect, peer: scope.peer, abort, limits };
    const response = await scope.run(() => env.transport(request));
    return { response, abort, tracker, scope };
  } catch (error) {
    return { error, abort, tracker, scope };
  } finally {
    clearTimeout(timer);
    call.sent += scope.requests;
  }
}
