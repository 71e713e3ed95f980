/** The package's main entry: its export list, nothing else. */

export { createResilientFetch } from './client/create.ts';
export { resilientFetch } from './client/default.ts';
export { healthChannel } from './client/health-board.ts';
export type { LifecycleState } from './client/lifecycle.ts';
export type {
  HealthChange,
  HostStats,
  QueueStats,
  ResilientFetch,
  ResilientFetchMethods,
  ResilientFetchStats,
} from './client/types.ts';
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
  isResponseTooLargeError,
  QueueFullError,
  QueueTimeoutError,
  ResilientFetchError,
  ResponseTooLargeError,
} from './errors.ts';
export type { HostPattern, HostPredicate, HostTarget } from './hosts/patterns.ts';
export { install, isInstalled, uninstall } from './install.ts';
export { defaults } from './options/defaults.ts';
export { defaultRedactedQueryParams, semconvRedactedQueryParams } from './options/redacted-params.ts';
export { resolveOptions } from './options/resolve.ts';
export type { ResolvedOptions } from './options/resolved.ts';
export type {
  CircuitBreakerOptions,
  CloseOptions,
  HeadersToSpanAttributes,
  HealthOptions,
  HostOptions,
  HostRule,
  JitterKind,
  LimitsOptions,
  PoolOptions,
  RateLimitOptions,
  RequestPolicyOptions,
  ResilientFetchOptions,
  ResilientRequestInit,
  ResponseOptions,
  RetryBudgetOptions,
  RetryContext,
  RetryOptions,
  RetryStrategy,
  TelemetryOptions,
  TimeoutOptions,
} from './options/types.ts';
export type {
  CallOutcome,
  FailureKind,
  HealthCounts,
  HealthStatus,
  HostHealth,
  LatencySummary,
} from './outcome/health.ts';
export { classifyHealth } from './outcome/health.ts';
export type { CircuitStateName } from './policies/breaker.ts';
export type { RateLimitStats } from './policies/pacing.ts';
export { type RateLimitHint, readRateLimit } from './policies/rate-limit-headers.ts';
export {
  computeRetryDelay,
  parseRetryAfter,
  parseRetryAfterMs,
  serverRetryDelay,
  shouldRetryHint,
} from './policies/retry-rules.ts';
