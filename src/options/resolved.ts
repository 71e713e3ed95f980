/**
 * The resolved options: every field present, frozen, validated once at creation (`resolve.ts`), so that
 * nothing downstream handles `undefined`.
 */
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { HostPattern } from '../hosts/patterns.ts';
import type {
  CircuitBreakerOptions,
  DnsOptions,
  HealthOptions,
  LimitsOptions,
  PoolOptions,
  RateLimitOptions,
  ResponseOptions,
  RetryBudgetOptions,
  RetryOptions,
  TimeoutOptions,
} from './types.ts';

/** Every field present, `undefined` removed. */
export type Resolved<T> = { readonly [K in keyof T]-?: Exclude<T[K], undefined> };

export type ResolvedRetry = Omit<
  Resolved<RetryOptions>,
  'budget' | 'shouldRetry' | 'statuses' | 'errorCodes'
> & {
  readonly statuses: ReadonlySet<number>;
  readonly errorCodes: ReadonlySet<string>;
  readonly shouldRetry: RetryOptions['shouldRetry'];
  readonly budget: Resolved<RetryBudgetOptions> | false;
};
export type ResolvedBreaker = Resolved<CircuitBreakerOptions>;
export type ResolvedTimeout = Resolved<TimeoutOptions>;
export type ResolvedResponse = Resolved<ResponseOptions>;

/** Everything that applies to one host, resolved. */
export interface HostPolicy {
  readonly pool: Resolved<PoolOptions>;
  /** `false` when retries are off. */
  readonly retry: ResolvedRetry | false;
  readonly circuitBreaker: ResolvedBreaker | false;
  readonly timeout: ResolvedTimeout;
  readonly response: ResolvedResponse;
  /** `false` when rate-limit pacing is off. */
  readonly rateLimit: Resolved<RateLimitOptions> | false;
}

export interface ResolvedOptions extends HostPolicy {
  readonly drainTimeoutMs: number;
  readonly limits: Resolved<LimitsOptions> | false;
  readonly dns: (Resolved<Omit<DnsOptions, 'lookup'>> & { readonly lookup: DnsOptions['lookup'] }) | false;
  readonly telemetry: ResolvedTelemetry;
  readonly health: Resolved<HealthOptions>;
  /**
   * Per-host policies by pattern, in the order given: normalised strings (`hostname:port`, `hostname`,
   * `*.suffix`) and predicate functions.
   */
  readonly hosts: ReadonlyMap<HostPattern, HostPolicy>;
}

export interface ResolvedTelemetry {
  readonly tracerProvider: TracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly maxHosts: number;
  readonly redactQueryParams: readonly string[];
  /** Lower-case header names. */
  readonly headersToSpanAttributes: {
    readonly requestHeaders: readonly string[];
    readonly responseHeaders: readonly string[];
  };
}
