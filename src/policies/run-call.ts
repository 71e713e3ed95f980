/**
 * A call through its host's policies: the circuit breaker (outermost, per call), then the retry loop
 * with its budget and the deadline, then each attempt with its own timeout, then the transport.
 *
 * The breaker's verdict is not applied here but handed back (`Verdict`): the caller records the call's
 * outcome first and applies it then, so that a circuit move (and the health change it triggers) sees
 * the call that caused it.
 */
import { CircuitOpenError } from '../errors.ts';
import { hostOfUrl } from '../hosts/key.ts';
import type { HostPolicy } from '../options/resolved.ts';
import { isHostVerdict } from '../outcome/classify.ts';
import type { CircuitBreaker } from './breaker.ts';
import type { Call } from './call.ts';
import type { Circuits, HostPolicyState } from './host-state.ts';
import { type LoopEnv, retryLoop } from './retry-loop.ts';

/** The breaker's verdict on a call, set when the call ends; the caller applies it after recording it. */
export interface Verdict {
  apply: (() => void) | undefined;
}

function isFailureStatus(policy: HostPolicy, status: number): boolean {
  const options = policy.circuitBreaker;
  if (!options) return false;
  try {
    return options.isFailureStatus(status) === true;
  } catch {
    return status >= 500; // A throwing predicate falls back to the default rule.
  }
}

/** The verdict on a call that rejected. */
function onError(call: Call, circuits: Circuits, breaker: CircuitBreaker, probe: boolean, error: unknown) {
  const failedAt = call.hopHost;
  // A deadline that passed while the call waited for the host's rate-limit reset: nothing was sent.
  const hostFault = !call.pacedOut && isHostVerdict(call.signal, error);
  if (failedAt !== undefined && failedAt !== call.host && hostFault) {
    // The hop that failed was another host's (a redirect the transport followed): this host answered
    // its part with a redirect, a success; the failure counts against the other host's breaker.
    return () => {
      breaker.success(probe);
      circuits.breakerOf(failedAt)?.failure(false);
    };
  }
  return hostFault ? () => breaker.failure(probe) : () => breaker.abandon(probe);
}

/** The verdict on a call that ended with `response`. */
function onResponse(
  call: Call,
  policy: HostPolicy,
  circuits: Circuits,
  breaker: CircuitBreaker,
  probe: boolean,
  response: Response,
) {
  const answeredBy = response.redirected ? hostOfUrl(response.url) : call.host;
  const failed = isFailureStatus(policy, response.status);
  if (answeredBy === undefined || answeredBy === call.host) {
    return failed ? () => breaker.failure(probe) : () => breaker.success(probe);
  }
  // Redirected to another host: this host answered with a redirect, which is a success; the final
  // status is the other host's doing and counts against its own breaker.
  return () => {
    breaker.success(probe);
    const other = circuits.breakerOf(answeredBy);
    if (other && failed) other.failure(false);
    else other?.success(false);
  };
}

/** Runs `call` through the breaker of `host` and the retry loop; sets `verdict` when it ends. */
export async function runCall(
  env: LoopEnv,
  call: Call,
  host: HostPolicyState,
  policy: HostPolicy,
  verdict: Verdict,
): Promise<Response> {
  // An already-aborted call goes to the transport as it is, whatever the host's state: as fetch does, it
  // checks the input first, then rejects with the reason and cancels a stream body with it.
  if (call.signal?.aborted) return env.transport({ input: call.input, init: call.init, signal: call.signal });
  const breaker = host.breaker;
  if (!breaker) return retryLoop(env, call, host, policy);
  const admission = breaker.enter();
  if (!admission.admitted) throw new CircuitOpenError(call.host, admission.state, admission.retryAt);
  const { probe } = admission;
  let response: Response;
  try {
    response = await retryLoop(env, call, host, policy);
  } catch (error) {
    verdict.apply = onError(call, env.circuits, breaker, probe, error);
    throw error;
  }
  verdict.apply = onResponse(call, policy, env.circuits, breaker, probe, response);
  return response;
}
