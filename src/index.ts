export type { CircuitStateName } from './breaker.ts';
export { resilientFetch } from './default.ts';
export type { ErrorCode, ResilientFetchErrorOptions } from './errors.ts';
export {
  CircuitOpenError,
  ClosedError,
  DestroyedError,
  ErrorCodes,
  isCircuitOpenError,
  isClosedError,
  isDestroyedError,
  isResilientFetchError,
  ResilientFetchError,
} from './errors.ts';
export type { HostStats, ResilientFetch, ResilientFetchMethods, ResilientFetchStats } from './fetch.ts';
export { createResilientFetch } from './fetch.ts';
export { install, isInstalled, uninstall } from './install.ts';
export type { LifecycleState } from './lifecycle.ts';
export type {
  CircuitBreakerOptions,
  CloseOptions,
  HostOptions,
  JitterKind,
  PoolOptions,
  RequestPolicyOptions,
  ResilientFetchOptions,
  ResilientRequestInit,
  ResolvedOptions,
  RetryBudgetOptions,
  RetryContext,
  RetryOptions,
  RetryStrategy,
  TimeoutOptions,
} from './options.ts';
export { defaults, resolveOptions } from './options.ts';
export type { OriginPoolStats } from './pools.ts';
export { computeRetryDelay, parseRetryAfter } from './retry.ts';
