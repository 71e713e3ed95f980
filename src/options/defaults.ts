/** The one place where defaults live, checked against the resolved option types. */
import { retryableErrorCodes } from '../outcome/classify.ts';
import { defaultRedactedQueryParams } from './redacted-params.ts';
import type {
  Resolved,
  ResolvedBreaker,
  ResolvedResponse,
  ResolvedTelemetry,
  ResolvedTimeout,
} from './resolved.ts';
import type * as Options from './types.ts';

/** The shape of `defaults`: every option that has a default, at the type it resolves to. */
interface Defaults {
  readonly pool: Resolved<Options.PoolOptions>;
  readonly retry: Resolved<Omit<Options.RetryOptions, 'shouldRetry' | 'budget'>> & {
    readonly budget: Resolved<Options.RetryBudgetOptions>;
  };
  readonly circuitBreaker: ResolvedBreaker;
  readonly timeout: ResolvedTimeout;
  readonly response: ResolvedResponse;
  readonly rateLimit: Resolved<Options.RateLimitOptions>;
  readonly health: Resolved<Options.HealthOptions>;
  readonly telemetry: Pick<ResolvedTelemetry, 'maxHosts' | 'redactQueryParams' | 'headersToSpanAttributes'>;
  readonly dns: Resolved<Omit<Options.DnsOptions, 'lookup'>>;
  readonly drainTimeoutMs: number;
  readonly limits: Resolved<Options.LimitsOptions>;
}

/** The one place where defaults live. */
export const defaults = {
  pool: {
    connections: 30,
    keepAliveTimeoutMs: 30_000,
    connectTimeoutMs: 30_000,
    headersTimeoutMs: 60_000,
    bodyTimeoutMs: 60_000,
    tls: {},
    allowH2: false,
    proxy: false,
    maxHeaderSize: 16_384,
  },
  retry: {
    strategy: 'exponential',
    maxRetries: 3,
    baseDelayMs: 1_000,
    factor: 2,
    maxDelayMs: 60_000,
    jitter: 'proportional',
    jitterRatio: 0.1,
    statuses: [408, 429, 500, 502, 503, 504],
    errorCodes: retryableErrorCodes,
    retryNonIdempotent: false,
    bufferBodyBytes: 0,
    idempotencyKey: false,
    budget: { ratio: 0.2, windowMs: 10_000, minRetriesPerSecond: 10 },
  },
  circuitBreaker: {
    mode: 'consecutive',
    consecutiveFailures: 5,
    failureRatio: 0.5,
    windowMs: 60_000,
    minimumRps: 1,
    halfOpenAfterMs: 300_000,
    isFailureStatus: (status: number) => status >= 500,
  },
  timeout: {
    attemptMs: 60_000,
    deadlineMs: 120_000,
    deadlineCoversBody: false,
  },
  response: { maxBytes: false, maxRatio: false },
  rateLimit: { maxWaitMs: 10_000 },
  health: { windowMs: 60_000, minCalls: 10, healthyRatio: 0.95, degradedRatio: 0.8 },
  telemetry: {
    maxHosts: 200,
    redactQueryParams: defaultRedactedQueryParams,
    headersToSpanAttributes: { requestHeaders: [], responseHeaders: [] },
  },
  dns: { ttlMs: 30_000, errorTtlMs: 1_000, maxEntries: 10_000 },
  drainTimeoutMs: 30_000,
  limits: { maxInFlight: 100, maxQueue: 10_000, queueTimeoutMs: false },
} as const satisfies Defaults;
