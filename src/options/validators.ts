/**
 * The validators of every option group, one per field: a mapped type (`Validators<T>`) makes an option
 * without a validator a compile error.
 */
import { type HostPattern, parsePattern, patternKey } from '../hosts/patterns.ts';
import { defaults } from './defaults.ts';
import type {
  CircuitBreakerOptions,
  CloseOptions,
  DnsOptions,
  HeadersToSpanAttributes,
  HealthOptions,
  HostOptions,
  HostRule,
  LimitsOptions,
  PoolOptions,
  RateLimitOptions,
  RequestPolicyOptions,
  ResilientFetchOptions,
  ResponseOptions,
  RetryBudgetOptions,
  RetryOptions,
  TelemetryOptions,
  TimeoutOptions,
  TlsOptions,
} from './types.ts';
import {
  checkArrayOf,
  checkBoolean,
  checkFunction,
  checkGroup,
  checkNumber,
  checkOneOf,
  checkString,
  fail,
  isPlainObject,
  maxTimerMs,
  type Validator,
  type Validators,
  validateGroup,
} from './validate.ts';

const checkPem: Validator = (value, path) => {
  const ok = (v: unknown) => typeof v === 'string' || Buffer.isBuffer(v);
  if (!(ok(value) || (Array.isArray(value) && value.every(ok)))) {
    fail(TypeError, path, 'a string, a Buffer, or an array of them', value);
  }
};

const tlsValidators: Validators<TlsOptions> = {
  ca: checkPem,
  cert: checkPem,
  key: checkPem,
  passphrase: checkString,
  rejectUnauthorized: checkBoolean,
  servername: checkString,
};

const poolValidators: Validators<PoolOptions> = {
  connections: checkNumber(1, true),
  keepAliveTimeoutMs: checkNumber(1, true, maxTimerMs),
  connectTimeoutMs: checkNumber(1, true, maxTimerMs),
  headersTimeoutMs: checkNumber(1, true, maxTimerMs),
  bodyTimeoutMs: checkNumber(1, true, maxTimerMs),
  tls: (value, path) => validateGroup(value, path, tlsValidators),
  allowH2: checkBoolean,
  proxy: (value, path) => {
    if (value === false) return;
    const url = typeof value === 'string' ? URL.parse(value) : null;
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      fail(TypeError, path, 'an http: or https: URL, or false', value);
    }
  },
  maxHeaderSize: checkNumber(1, true),
};

const budgetValidators: Validators<RetryBudgetOptions> = {
  ratio: checkNumber(0, false),
  windowMs: checkNumber(1, false, maxTimerMs),
  minRetriesPerSecond: checkNumber(0, false),
};

const requestRetryValidators: Validators<Omit<RetryOptions, 'budget'>> = {
  strategy: checkOneOf(['exponential', 'linear', 'fixed', 'none']),
  maxRetries: checkNumber(0, true),
  baseDelayMs: checkNumber(0, false, maxTimerMs),
  factor: checkNumber(1, false),
  maxDelayMs: checkNumber(0, false, maxTimerMs),
  jitter: checkOneOf(['proportional', 'full', 'decorrelated', 'none']),
  jitterRatio: checkNumber(0, false, 1),
  statuses: checkArrayOf(checkNumber(100, true, 599)),
  errorCodes: checkArrayOf(checkString),
  retryNonIdempotent: checkBoolean,
  bufferBodyBytes: checkNumber(0, true),
  shouldRetry: checkFunction,
  idempotencyKey: (value, path) => {
    if (value !== false && value !== 'auto') fail(TypeError, path, '"auto" or false', value);
  },
};

const retryValidators: Validators<RetryOptions> = {
  ...requestRetryValidators,
  budget: checkGroup(budgetValidators, true),
};

const breakerValidators: Validators<CircuitBreakerOptions> = {
  mode: checkOneOf(['consecutive', 'sampling']),
  consecutiveFailures: checkNumber(1, true),
  failureRatio: (value, path) => {
    checkNumber(0, false, 1)(value, path);
    if (value === 0 || value === 1) fail(RangeError, path, 'a number strictly between 0 and 1', value);
  },
  windowMs: checkNumber(1, false, maxTimerMs),
  minimumRps: checkNumber(0, false),
  halfOpenAfterMs: checkNumber(0, false, maxTimerMs),
  isFailureStatus: checkFunction,
};

const timeoutValidators: Validators<TimeoutOptions> = {
  attemptMs: checkNumber(1, false, maxTimerMs),
  deadlineMs: checkNumber(1, false, maxTimerMs),
  deadlineCoversBody: checkBoolean,
};

const orFalse =
  (check: Validator): Validator =>
  (value, path) => {
    if (value !== false) check(value, path);
  };

const responseValidators: Validators<ResponseOptions> = {
  maxBytes: orFalse(checkNumber(0, true)),
  maxRatio: orFalse(checkNumber(1, false)),
};

const rateLimitValidators: Validators<RateLimitOptions> = {
  maxWaitMs: checkNumber(0, false, maxTimerMs),
};

export const hostValidators: Validators<HostOptions> = {
  pool: checkGroup(poolValidators),
  retry: checkGroup(retryValidators, true),
  circuitBreaker: checkGroup(breakerValidators, true),
  timeout: checkGroup(timeoutValidators),
  response: checkGroup(responseValidators),
  rateLimit: checkGroup(rateLimitValidators, true),
};

const healthValidators: Validators<HealthOptions> = {
  windowMs: checkNumber(1_000, false, maxTimerMs),
  minCalls: checkNumber(0, true),
  healthyRatio: checkNumber(0, false, 1),
  degradedRatio: checkNumber(0, false, 1),
};

const checkProvider =
  (method: string): Validator =>
  (value, path) => {
    if (
      typeof value !== 'object' ||
      value === null ||
      typeof (value as Record<string, unknown>)[method] !== 'function'
    ) {
      fail(TypeError, path, `an object with a ${method}() method`, value);
    }
  };

/** Headers whose values are credentials: never recorded on a span. */
export const secretHeaders: readonly string[] = [
  'authorization',
  'cookie',
  'set-cookie',
  'proxy-authorization',
  'x-api-key',
];
const tokenRe = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

const checkRecordedHeader: Validator = (value, path) => {
  if (typeof value !== 'string' || !tokenRe.test(value)) fail(TypeError, path, 'a header name', value);
  if (secretHeaders.includes((value as string).toLowerCase())) {
    fail(RangeError, path, `a header that carries no credential (not ${secretHeaders.join(', ')})`, value);
  }
};

const headerCaptureValidators: Validators<HeadersToSpanAttributes> = {
  requestHeaders: checkArrayOf(checkRecordedHeader),
  responseHeaders: checkArrayOf(checkRecordedHeader),
};

const telemetryValidators: Validators<TelemetryOptions> = {
  tracerProvider: checkProvider('getTracer'),
  meterProvider: checkProvider('getMeter'),
  maxHosts: checkNumber(0, true),
  redactQueryParams: checkArrayOf(checkString),
  headersToSpanAttributes: checkGroup(headerCaptureValidators),
};

const dnsValidators: Validators<DnsOptions> = {
  ttlMs: checkNumber(0, false, maxTimerMs),
  errorTtlMs: checkNumber(0, false, maxTimerMs),
  maxEntries: checkNumber(1, true),
  lookup: checkFunction,
};

const limitsValidators: Validators<LimitsOptions> = {
  maxInFlight: checkNumber(1, true),
  maxQueue: checkNumber(0, true),
  queueTimeoutMs: orFalse(checkNumber(1, false, maxTimerMs)),
};

export const topValidators: Validators<ResilientFetchOptions> = {
  ...hostValidators,
  dns: checkGroup(dnsValidators, true),
  telemetry: (value, path) => validateGroup(value, path, telemetryValidators),
  health: (value, path) => {
    validateGroup(value, path, healthValidators);
    const { healthyRatio = defaults.health.healthyRatio, degradedRatio = defaults.health.degradedRatio } =
      value as HealthOptions;
    if (degradedRatio > healthyRatio) {
      fail(RangeError, `${path}.degradedRatio`, `<= health.healthyRatio (${healthyRatio})`, degradedRatio);
    }
  },
  hosts: (value, path) => {
    if (Array.isArray(value)) {
      const seen = new Map<HostPattern, number>();
      value.forEach((rule: unknown, i) => {
        validateGroup(rule, `${path}[${i}]`, ruleValidators);
        // Required, so checked even when absent.
        checkPattern((rule as HostRule).match, `${path}[${i}].match`);
        const key = patternKey((rule as HostRule).match);
        const first = seen.get(key);
        if (first !== undefined) {
          fail(TypeError, `${path}[${i}].match`, `a pattern not given before (as ${path}[${first}])`, key);
        }
        seen.set(key, i);
      });
      return;
    }
    if (!isPlainObject(value)) fail(TypeError, path, 'an object or an array of { match, ...options }', value);
    const seen = new Set<HostPattern>();
    for (const [key, host] of Object.entries(value as Record<string, unknown>)) {
      const parsed = parsePattern(key);
      if (parsed === undefined) fail(TypeError, `${path} key`, patternExpected, key);
      if (seen.has(parsed?.key as string)) fail(TypeError, `${path} key`, 'a pattern not given before', key);
      seen.add(parsed?.key as string);
      validateGroup(host, `${path}.${key}`, hostValidators);
    }
  },
  drainTimeoutMs: checkNumber(0, false, maxTimerMs),
  limits: checkGroup(limitsValidators, true),
};

const patternExpected = 'hostname, hostname:port or *.domain';

export const checkPattern: Validator = (value, path) => {
  if (typeof value === 'function') return;
  if (typeof value !== 'string') fail(TypeError, path, `a string (${patternExpected}) or a function`, value);
  if (parsePattern(value as string) === undefined) fail(TypeError, path, patternExpected, value);
};

const ruleValidators: Validators<HostRule> = { ...hostValidators, match: checkPattern };

export const requestValidators: Validators<RequestPolicyOptions> = {
  retry: checkGroup(requestRetryValidators, true),
  timeout: checkGroup(timeoutValidators),
  response: checkGroup(responseValidators),
};

export const closeValidators: Validators<CloseOptions> = {
  force: checkBoolean,
  drainTimeoutMs: checkNumber(0, false, maxTimerMs),
};
