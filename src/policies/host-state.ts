/**
 * What the policies keep per host between calls: the host's resolved policy, its circuit breaker and its
 * retry budget. The client's host registry owns these records (and adds what it keeps besides: health,
 * activity); the policies read them and count the retries the budget refused.
 */
import type { HostPolicy, ResolvedRetry } from '../options/resolved.ts';
import { type BreakerTransition, type CircuitBreaker, createCircuitBreaker } from './breaker.ts';
import { HostRateLimit } from './pacing.ts';
import { RetryBudget } from './retry-budget.ts';

export interface HostPolicyState {
  readonly host: string;
  readonly policy: HostPolicy;
  readonly breaker: CircuitBreaker | undefined;
  readonly budget: RetryBudget | undefined;
  /** What the host said of its rate limit, and its pacing; undefined when `rateLimit` is off. */
  readonly rateLimit: HostRateLimit | undefined;
  /** Retries the budget refused. */
  retriesDenied: number;
}

/** The breakers of other hosts: a redirect to another host is judged against that host's circuit. */
export interface Circuits {
  breakerOf(host: string): CircuitBreaker | undefined;
}

/**
 * A breaker, a budget and rate-limit pacing for `host` under `policy`. A host with retries off still gets a budget (from
 * `topRetry`, the top-level options) in case a call turns retries back on through `init.resilience`.
 */
export function createHostPolicies(
  host: string,
  policy: HostPolicy,
  topRetry: ResolvedRetry | false,
  onTransition: (transition: BreakerTransition) => void,
): Pick<HostPolicyState, 'breaker' | 'budget' | 'rateLimit'> {
  const budgetOptions = policy.retry ? policy.retry.budget : topRetry ? topRetry.budget : false;
  return {
    breaker: policy.circuitBreaker
      ? createCircuitBreaker(host, policy.circuitBreaker, onTransition)
      : undefined,
    budget: budgetOptions ? new RetryBudget(budgetOptions) : undefined,
    rateLimit: policy.rateLimit ? new HostRateLimit() : undefined,
  };
}
