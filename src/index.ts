export type { CircuitStateName } from './breaker.ts';
export { resilientFetch } from './default.ts';
export type { OriginPoolStats } from './dispatch/pools.ts';
export type { ErrorCode, ResilientFetchErrorOptions } from './errors.ts';
export {
  CircuitOpenError,
  ClosedError,
  DestroyedError,
  ErrorCodes,
  isCircuitOpenError,
  isClosedError,
  isDestroyedError,
  isQueueFullError,
  isQueueTimeoutError,
  isResilientFetchError,
  QueueFullError,
  QueueTimeoutError,
  ResilientFetchError,
} from './errors.ts';
export type {
  HealthChange,
  HostStats,
  QueueStats,
  ResilientFetch,
  ResilientFetchMethods,
  ResilientFetchStats,
} from './fetch.ts';
export { createResilientFetch, healthChannel } from './fetch.ts';
export type {
  CallOutcome,
  FailureKind,
  HealthCounts,
  HealthStatus,
  HostHealth,
  LatencySummary,
} from './health.ts';
export { classifyHealth } from './health.ts';
export type { HostPattern, HostPredicate, HostTarget } from './hosts.ts';
export { install, isInstalled, uninstall } from './install.ts';
export type { LifecycleState } from './lifecycle.ts';
export type {
  CircuitBreakerOptions,
  CloseOptions,
  HealthOptions,
  HostOptions,
  HostRule,
  JitterKind,
  LimitsOptions,
  PoolOptions,
  RequestPolicyOptions,
  ResilientFetchOptions,
  ResilientRequestInit,
  ResolvedOptions,
  RetryBudgetOptions,
  RetryContext,
  RetryOptions,
  RetryStrategy,
  TelemetryOptions,
  TimeoutOptions,
} from './options.ts';
export { defaults, resolveOptions } from './options.ts';
export { computeRetryDelay, parseRetryAfter } from './retry.ts';
