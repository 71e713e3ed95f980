/**
 * `resolveOptions()` and its kin: validate once (`validators.ts`), merge over the defaults and per host,
 * and return frozen, fully populated objects.
 */
import { type HostPattern, HostTable, patternKey } from '../hosts/patterns.ts';
import { defaults } from './defaults.ts';
import type {
  HostPolicy,
  Resolved,
  ResolvedBreaker,
  ResolvedOptions,
  ResolvedResponse,
  ResolvedRetry,
  ResolvedTimeout,
} from './resolved.ts';
import type {
  CloseOptions,
  HeadersToSpanAttributes,
  HostOptions,
  HostRule,
  RequestPolicyOptions,
  ResilientFetchOptions,
  RetryOptions,
} from './types.ts';
import { validateGroup } from './validate.ts';
import {
  checkPattern,
  closeValidators,
  hostValidators,
  requestValidators,
  topValidators,
} from './validators.ts';

type Defined<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

const withoutUndefined = <T extends object>(value: T | undefined): Defined<T> =>
  Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Defined<T>;

function mergeRetry(
  base: ResolvedRetry | false,
  user: RetryOptions | Omit<RetryOptions, 'budget'> | false | undefined,
  fallback?: ResolvedRetry | false,
): ResolvedRetry | false {
  if (user === false) return false;
  if (user === undefined) return base;
  // Retries turned back on over a `false`: start from the fallback (the top-level options), else defaults.
  const from: ResolvedRetry = base !== false ? base : fallback || resolveRetry(undefined);
  const u = withoutUndefined(user as RetryOptions);
  let budget = from.budget;
  if (u.budget === false) budget = false;
  else if (u.budget !== undefined) {
    budget = Object.freeze({ ...(from.budget || defaults.retry.budget), ...withoutUndefined(u.budget) });
  }
  return Object.freeze({
    ...from,
    ...u,
    statuses: u.statuses ? new Set(u.statuses) : from.statuses,
    errorCodes: u.errorCodes ? new Set(u.errorCodes) : from.errorCodes,
    shouldRetry: u.shouldRetry ?? from.shouldRetry,
    budget,
  });
}

function resolveRetry(user: RetryOptions | undefined): ResolvedRetry {
  const { statuses, errorCodes, budget, ...rest } = defaults.retry;
  const base: ResolvedRetry = Object.freeze({
    ...rest,
    statuses: new Set<number>(statuses),
    errorCodes: new Set<string>(errorCodes),
    shouldRetry: undefined,
    budget: Object.freeze({ ...budget }),
  });
  return user ? (mergeRetry(base, user) as ResolvedRetry) : base;
}

function mergeGroup<T extends object>(
  base: T | false,
  user: object | false | undefined,
  fallback: T,
): T | false {
  if (user === false) return false;
  if (user === undefined) return base;
  return Object.freeze({ ...(base === false ? fallback : base), ...withoutUndefined(user) }) as T;
}

function mergeHost(base: HostPolicy, user: HostOptions): HostPolicy {
  return Object.freeze({
    pool: mergeGroup(base.pool, user.pool, defaults.pool) as HostPolicy['pool'],
    retry: mergeRetry(base.retry, user.retry, base.retry),
    circuitBreaker: mergeGroup<ResolvedBreaker>(
      base.circuitBreaker,
      user.circuitBreaker,
      defaults.circuitBreaker,
    ),
    timeout: mergeGroup(base.timeout, user.timeout, defaults.timeout) as ResolvedTimeout,
    response: mergeGroup(base.response, user.response, defaults.response) as ResolvedResponse,
    rateLimit: mergeGroup(base.rateLimit, user.rateLimit, defaults.rateLimit),
  });
}

const basePolicy: HostPolicy = Object.freeze({
  pool: Object.freeze({ ...defaults.pool }),
  retry: resolveRetry(undefined),
  circuitBreaker: Object.freeze({ ...defaults.circuitBreaker }),
  timeout: Object.freeze({ ...defaults.timeout }),
  response: Object.freeze({ ...defaults.response }),
  rateLimit: Object.freeze({ ...defaults.rateLimit }),
});

/**
 * Validates `user` (throwing a TypeError or RangeError that names the option path and the value received)
 * and merges it over `defaults`.
 */
export function resolveOptions(user: ResilientFetchOptions = {}): ResolvedOptions {
  validateGroup(user, '', topValidators);
  const top = mergeHost(basePolicy, user);
  const hosts = new Map<HostPattern, HostPolicy>();
  if (Array.isArray(user.hosts)) {
    for (const { match, ...host } of user.hosts as readonly HostRule[]) {
      hosts.set(patternKey(match), mergeHost(top, host));
    }
  } else {
    for (const [key, host] of Object.entries(user.hosts ?? {}))
      hosts.set(patternKey(key), mergeHost(top, host));
  }
  return Object.freeze({
    ...top,
    hosts,
    health: Object.freeze({ ...defaults.health, ...withoutUndefined(user.health) }),
    telemetry: Object.freeze({
      tracerProvider: user.telemetry?.tracerProvider,
      meterProvider: user.telemetry?.meterProvider,
      maxHosts: user.telemetry?.maxHosts ?? defaults.telemetry.maxHosts,
      redactQueryParams: Object.freeze([
        ...(user.telemetry?.redactQueryParams ?? defaults.telemetry.redactQueryParams),
      ]),
      headersToSpanAttributes: resolveHeaderCapture(user.telemetry?.headersToSpanAttributes),
    }),
    dns:
      user.dns === false
        ? false
        : Object.freeze({ ...defaults.dns, lookup: undefined, ...withoutUndefined(user.dns) }),
    drainTimeoutMs: user.drainTimeoutMs ?? defaults.drainTimeoutMs,
    limits:
      user.limits === false ? false : Object.freeze({ ...defaults.limits, ...withoutUndefined(user.limits) }),
  });
}

/** `telemetry.headersToSpanAttributes`, names in lower case (as the attributes name them). */
function resolveHeaderCapture(
  user: HeadersToSpanAttributes | undefined,
): ResolvedOptions['telemetry']['headersToSpanAttributes'] {
  const lower = (names: readonly string[] | undefined) =>
    Object.freeze([...new Set((names ?? []).map((name) => name.toLowerCase()))]);
  return Object.freeze({
    requestHeaders: lower(user?.requestHeaders),
    responseHeaders: lower(user?.responseHeaders),
  });
}

const tables = new WeakMap<ResolvedOptions, HostTable<HostPolicy>>();

/** The table of the overrides given at creation (see `hosts/patterns.ts`), built once per resolved options. */
export function hostTableOf(options: ResolvedOptions): HostTable<HostPolicy> {
  let table = tables.get(options);
  if (table === undefined) {
    table = new HostTable<HostPolicy>(options, options.hosts);
    tables.set(options, table);
  }
  return table;
}

/**
 * The policy for `host` (`hostname:port`) under the overrides given at creation: the most specific
 * pattern (exact host, hostname, longest wildcard, predicates in order), else the top level.
 */
export function policyForHost(options: ResolvedOptions, host: string): HostPolicy {
  if (options.hosts.size === 0) return options;
  return hostTableOf(options).resolve(host);
}

/**
 * Validates a live override (`configureHost(pattern, options)`), naming `hosts.<pattern>.<path>` in its
 * errors, and merges it over the top-level options. Returns the key it is stored under and its policy.
 */
export function resolveHostOverride(
  top: ResolvedOptions,
  pattern: unknown,
  user: unknown,
): { key: HostPattern; policy: HostPolicy } {
  checkPattern(pattern, 'hosts pattern');
  const key = patternKey(pattern as HostPattern);
  const label = typeof key === 'function' ? `hosts[${key.name || 'predicate'}]` : `hosts.${key}`;
  validateGroup(user ?? {}, label, hostValidators);
  return { key, policy: mergeHost(top, (user ?? {}) as HostOptions) };
}

/** Validates a pattern given to `removeHost()`; returns the key it is stored under. */
export function resolveHostPattern(pattern: unknown): HostPattern {
  checkPattern(pattern, 'hosts pattern');
  return patternKey(pattern as HostPattern);
}

/**
 * Validates `init.resilience` and merges it over the host's policy. Throws a TypeError or RangeError
 * naming `init.resilience.<path>`.
 */
export function resolveRequestPolicy(policy: HostPolicy, user: unknown, topLevel?: HostPolicy): HostPolicy {
  validateGroup(user, 'init.resilience', requestValidators);
  const u = user as RequestPolicyOptions;
  return {
    pool: policy.pool,
    circuitBreaker: policy.circuitBreaker,
    retry: mergeRetry(policy.retry, u.retry, topLevel?.retry),
    timeout: mergeGroup(policy.timeout, u.timeout, defaults.timeout) as ResolvedTimeout,
    response: mergeGroup(policy.response, u.response, defaults.response) as ResolvedResponse,
    rateLimit: policy.rateLimit,
  };
}

/** Validates the options of `close()` and fills in the instance's drain timeout. */
export function resolveCloseOptions(
  user: CloseOptions | undefined,
  drainTimeoutMs: number,
): Resolved<CloseOptions> {
  validateGroup(user ?? {}, 'close', closeValidators);
  return { force: user?.force ?? false, drainTimeoutMs: user?.drainTimeoutMs ?? drainTimeoutMs };
}
