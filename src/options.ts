import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import { createHostTable, type HostPattern, type HostTable, parsePattern } from './hosts.ts';

/**
 * Public options, the one `defaults` object, and `resolveOptions()`, which validates once at creation
 * and returns a frozen, fully populated object so nothing downstream handles `undefined`.
 */

/** Options of the per-host undici connection pools. Every duration is in milliseconds. */
export interface PoolOptions {
  /**
   * Maximum connections to one host (host and port).
   * @default 30
   */
  connections?: number | undefined;
  /**
   * How long an idle keep-alive socket is kept. A shorter `Keep-Alive: timeout=N` hint from the server
   * wins: a socket is never kept longer than the server says it keeps it.
   * @default 30_000
   */
  keepAliveTimeoutMs?: number | undefined;
  /**
   * Time allowed to establish a connection (TCP and TLS).
   * @default 30_000
   */
  connectTimeoutMs?: number | undefined;
  /**
   * Time allowed between sending the request and receiving the complete response headers.
   * @default 60_000
   */
  headersTimeoutMs?: number | undefined;
  /**
   * Idle time allowed between two chunks of the response body. A stream of any length keeps working
   * while data flows.
   * @default 60_000
   */
  bodyTimeoutMs?: number | undefined;
  /**
   * TLS settings of the connections (per host through `hosts`): extra CAs, a client certificate, the
   * name to verify. Passed to `tls.connect`.
   * @default {}
   */
  tls?: TlsOptions | undefined;
  /**
   * Offer HTTP/2 by ALPN; a server that accepts gets HTTP/2, others HTTP/1.1.
   * @default false (as Node's fetch)
   */
  allowH2?: boolean | undefined;
  /**
   * An HTTP proxy for these connections, as a URL (`http://proxy:3128`, `https://...`; credentials in
   * the URL are sent as `Proxy-Authorization: Basic`). Every request is tunnelled with CONNECT, as Node's
   * fetch does under `NODE_USE_ENV_PROXY`. Per host through `hosts` (`{ match: '*.internal', pool: {
   * proxy: false } }` bypasses it). `false`: connect directly.
   * @default false
   */
  proxy?: string | false | undefined;
}

/** The `tls.connect` options resilient-fetch passes through. */
export interface TlsOptions {
  ca?: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
  cert?: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
  key?: string | Buffer | ReadonlyArray<string | Buffer> | undefined;
  passphrase?: string | undefined;
  /** @default true */
  rejectUnauthorized?: boolean | undefined;
  servername?: string | undefined;
}

/** How the delay between attempts grows. */
export type RetryStrategy = 'exponential' | 'linear' | 'fixed' | 'none';
/**
 * Randomisation of the delay: `proportional` adds or removes up to `jitterRatio` of it; `full` picks
 * uniformly in [0, delay]; `decorrelated` picks in [base, 3 x previous delay] (AWS's "decorrelated jitter").
 */
export type JitterKind = 'proportional' | 'full' | 'decorrelated' | 'none';

/** What `shouldRetry` is told about the attempt that just ended. */
export interface RetryContext {
  /** `hostname:port`. */
  readonly host: string;
  readonly method: string;
  /** 1 for the first retry. */
  readonly retry: number;
  /** The attempt's Response, when it produced one. */
  readonly response?: Response;
  /** The attempt's error, when it failed. */
  readonly error?: unknown;
}

/** Retry budget per host, as Finagle and Envoy keep it. */
export interface RetryBudgetOptions {
  /**
   * Retries may add at most this share to the calls of the window (0.2: one retry per five calls).
   * @default 0.2
   */
  ratio?: number | undefined;
  /**
   * The sliding window the ratio is measured over.
   * @default 10_000
   */
  windowMs?: number | undefined;
  /**
   * Retries always allowed per second, whatever the traffic, so a host with little traffic still retries.
   * @default 10
   */
  minRetriesPerSecond?: number | undefined;
}

export interface RetryOptions {
  /** @default 'exponential' */
  strategy?: RetryStrategy | undefined;
  /**
   * Retries after the first attempt (so at most `maxRetries + 1` attempts).
   * @default 3
   */
  maxRetries?: number | undefined;
  /**
   * The first delay; `exponential` multiplies it by `factor` per retry, `linear` adds it per retry.
   * @default 1_000
   */
  baseDelayMs?: number | undefined;
  /** @default 2 */
  factor?: number | undefined;
  /**
   * No delay is longer. A `Retry-After` asking for longer is not waited for: the response is returned.
   * @default 60_000
   */
  maxDelayMs?: number | undefined;
  /** @default 'proportional' */
  jitter?: JitterKind | undefined;
  /**
   * Share of the delay `proportional` jitter may add or remove.
   * @default 0.1
   */
  jitterRatio?: number | undefined;
  /**
   * Response statuses that are retried.
   * @default [408, 429, 500, 502, 503, 504]
   */
  statuses?: readonly number[] | undefined;
  /**
   * Network error codes (the `code` of the fetch error's cause chain) that are retried, plus
   * `TimeoutError` for an attempt that timed out.
   * @default ECONNRESET, ECONNREFUSED, EPIPE, ENOTFOUND, EAI_AGAIN, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH,
   * UND_ERR_SOCKET, UND_ERR_CLOSED, UND_ERR_CONNECT_TIMEOUT, UND_ERR_HEADERS_TIMEOUT, TimeoutError
   */
  errorCodes?: readonly string[] | undefined;
  /**
   * Retry POST and PATCH even without an `Idempotency-Key` header.
   * @default false
   */
  retryNonIdempotent?: boolean | undefined;
  /**
   * A ReadableStream, async-iterable or `Request` body is streamed once and not retried. With a limit
   * above 0, up to that many bytes are kept while it streams so that a retry can re-send them; a larger
   * body is simply not retried.
   * @default 0
   */
  bufferBodyBytes?: number | undefined;
  /**
   * Last word on a retry the rules allow: return `false` to stop, `true` or `undefined` to go on. A hook
   * that throws is ignored (the rules decide).
   */
  shouldRetry?: ((context: RetryContext) => boolean | undefined) | undefined;
  /** `false` turns the budget off. */
  budget?: RetryBudgetOptions | false | undefined;
}

export interface CircuitBreakerOptions {
  /**
   * `consecutive`: opens after `consecutiveFailures` failed calls in a row. `sampling`: opens when the
   * failure ratio over `windowMs` exceeds `failureRatio`, given at least `minimumRps` calls per second.
   * @default 'consecutive'
   */
  mode?: 'consecutive' | 'sampling' | undefined;
  /** @default 5 */
  consecutiveFailures?: number | undefined;
  /**
   * Sampling mode: the circuit opens when more than this share of calls fail (strictly between 0 and 1).
   * @default 0.5
   */
  failureRatio?: number | undefined;
  /** @default 60_000 */
  windowMs?: number | undefined;
  /** @default 1 */
  minimumRps?: number | undefined;
  /**
   * How long the circuit stays open before one probe call is let through.
   * @default 300_000
   */
  halfOpenAfterMs?: number | undefined;
  /**
   * Which final statuses count as a failed call (network errors and timeouts always do).
   * @default status >= 500
   */
  isFailureStatus?: ((status: number) => boolean) | undefined;
}

export interface TimeoutOptions {
  /**
   * Time one attempt may take until its response headers arrive.
   * @default 60_000
   */
  attemptMs?: number | undefined;
  /**
   * Time the whole call may take, all attempts and backoffs included, until the final response headers.
   * @default 120_000
   */
  deadlineMs?: number | undefined;
  /**
   * Make the deadline cover reading the response body too.
   * @default false
   */
  deadlineCoversBody?: boolean | undefined;
}

/** Options that can differ per host. */
export interface HostOptions {
  /** Per-host connection pool settings. */
  pool?: PoolOptions | undefined;
  /** `false` turns retries off. */
  retry?: RetryOptions | false | undefined;
  /** `false` turns the circuit breaker off. */
  circuitBreaker?: CircuitBreakerOptions | false | undefined;
  timeout?: TimeoutOptions | undefined;
}

/**
 * One entry of the array form of `hosts`: the options of the hosts `match` selects. `match` is an exact
 * host (`hostname:port`), a hostname (every port), a `*.suffix` wildcard (every subdomain, at any depth,
 * every port; not the bare domain) or a predicate given `{ host, hostname, port }`.
 */
export interface HostRule extends HostOptions {
  match: HostPattern;
}

/** How per-host health is judged (see `rfetch.health()`). */
export interface HealthOptions {
  /**
   * Sliding window the calls are counted over.
   * @default 60_000
   */
  windowMs?: number | undefined;
  /**
   * Fewer calls than this in the window: UNKNOWN.
   * @default 10
   */
  minCalls?: number | undefined;
  /**
   * Success ratio at or above which a host is HEALTHY.
   * @default 0.95
   */
  healthyRatio?: number | undefined;
  /**
   * Success ratio at or above which a host is DEGRADED; below it, FAILED.
   * @default 0.8
   */
  degradedRatio?: number | undefined;
}

/** OpenTelemetry wiring. With no SDK registered, telemetry costs next to nothing. */
export interface TelemetryOptions {
  /** Defaults to the global tracer provider, as OpenTelemetry's instrumentations do. */
  tracerProvider?: TracerProvider | undefined;
  /** Defaults to the global meter provider. */
  meterProvider?: MeterProvider | undefined;
  /**
   * Hosts tracked by name in metric attributes; the others are reported as `_other`.
   * @default 200
   */
  maxHosts?: number | undefined;
  /**
   * Query parameters whose values read `REDACTED` in `url.full`.
   * @default AWSAccessKeyId, Signature, sig, X-Goog-Signature, X-Amz-Signature, X-Amz-Credential,
   * X-Amz-Security-Token
   */
  redactQueryParams?: readonly string[] | undefined;
}

export interface ResolvedTelemetry {
  readonly tracerProvider: TracerProvider | undefined;
  readonly meterProvider: MeterProvider | undefined;
  readonly maxHosts: number;
  readonly redactQueryParams: readonly string[];
}

/** The DNS cache in front of every connection (host names keep their identity: pools, TLS, metrics). */
export interface DnsOptions {
  /**
   * How long an answer is kept.
   * @default 30_000
   */
  ttlMs?: number | undefined;
  /**
   * How long a failed lookup is kept (short, so that a host that comes back is seen soon).
   * @default 1_000
   */
  errorTtlMs?: number | undefined;
  /**
   * Names kept at most (oldest dropped first).
   * @default 10_000
   */
  maxEntries?: number | undefined;
  /**
   * The resolver behind the cache, called as `dns.lookup(hostname, { all: true }, callback)`.
   * @default node:dns lookup (reads /etc/hosts and the system resolver)
   */
  lookup?:
    | ((
        hostname: string,
        options: import('node:dns').LookupAllOptions,
        callback: (
          error: NodeJS.ErrnoException | null,
          addresses: import('node:dns').LookupAddress[],
        ) => void,
      ) => void)
    | undefined;
}

/**
 * The total cap across all hosts. A request is in flight from its dispatch until its response body has
 * ended, errored or been cancelled (each attempt and each redirect hop is one request); beyond the cap,
 * requests wait in one FIFO queue.
 */
export interface LimitsOptions {
  /**
   * Requests in flight at most, across all hosts.
   * @default 100
   */
  maxInFlight?: number | undefined;
  /**
   * Requests waiting at most; one more is refused at once (`QueueFullError`). 0: never wait.
   * @default 10_000
   */
  maxQueue?: number | undefined;
  /**
   * How long a request may wait for a slot (`QueueTimeoutError`); `false`: as long as its attempt
   * timeout and the call's deadline allow (which always bound the wait).
   * @default false
   */
  queueTimeoutMs?: number | false | undefined;
}

/** Options of `createResilientFetch()`. Every field is optional. */
export interface ResilientFetchOptions extends HostOptions {
  /** `false` turns the DNS cache off (every new connection asks the system). */
  dns?: DnsOptions | false | undefined;
  telemetry?: TelemetryOptions | undefined;
  health?: HealthOptions | undefined;
  /**
   * Overrides per host, merged over the top-level options group by group. A record keyed by pattern
   * (`hostname:port`, `hostname` for every port, `*.example.com` for every subdomain), or an array of
   * `{ match, ...options }` whose `match` may also be a predicate `({ host, hostname, port }) => boolean`.
   * The most specific pattern wins, and only it applies: exact host > hostname > longest wildcard >
   * predicates in the order given. Change them live with `configureHost()` / `removeHost()`.
   * @default {}
   */
  hosts?: Record<string, HostOptions> | readonly HostRule[] | undefined;
  /**
   * How long `close()` waits for in-flight calls and their response bodies before it destroys what is
   * left.
   * @default 30_000
   */
  drainTimeoutMs?: number | undefined;
  /** The total cap and its queue; `false` turns the cap off. */
  limits?: LimitsOptions | false | undefined;
}

/** Per-request overrides, given as `init.resilience`. */
export interface RequestPolicyOptions {
  /** `false` turns retries off for this call. */
  retry?: Omit<RetryOptions, 'budget'> | false | undefined;
  timeout?: TimeoutOptions | undefined;
}

/** `RequestInit` plus the per-request policy field. */
export interface ResilientRequestInit extends RequestInit {
  resilience?: RequestPolicyOptions | undefined;
}

/** Every field present, `undefined` removed. */
type Resolved<T> = { readonly [K in keyof T]-?: Exclude<T[K], undefined> };

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

/** Everything that applies to one host, resolved. */
export interface HostPolicy {
  readonly pool: Resolved<PoolOptions>;
  /** `false` when retries are off. */
  readonly retry: ResolvedRetry | false;
  readonly circuitBreaker: ResolvedBreaker | false;
  readonly timeout: ResolvedTimeout;
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

const retryableErrorCodes = [
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'TimeoutError',
] as const;

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
  health: { windowMs: 60_000, minCalls: 10, healthyRatio: 0.95, degradedRatio: 0.8 },
  telemetry: {
    maxHosts: 200,
    redactQueryParams: [
      'AWSAccessKeyId',
      'Signature',
      'sig',
      'X-Goog-Signature',
      'X-Amz-Signature',
      'X-Amz-Credential',
      'X-Amz-Security-Token',
    ],
  },
  dns: { ttlMs: 30_000, errorTtlMs: 1_000, maxEntries: 10_000 },
  drainTimeoutMs: 30_000,
  limits: { maxInFlight: 100, maxQueue: 10_000, queueTimeoutMs: false },
} as const;

// A mapped type over the option interfaces: forgetting to validate a new option is a compile error.
type Validator = (value: unknown, path: string) => void;
type Validators<T> = { [K in keyof Required<T>]: Validator };

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const describeValue = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
};

const fail = (Kind: ErrorConstructor, path: string, expected: string, value: unknown): never => {
  throw new Kind(`resilient-fetch: option ${path} must be ${expected}, received ${describeValue(value)}`);
};

/** Node's timers fire after 1 ms when given more than this (about 24.8 days). */
const maxTimerMs = 2_147_483_647;

/** A finite number in [min, max] (and an integer when `integer`). */
function checkNumber(min: number, integer: boolean, max = Number.POSITIVE_INFINITY): Validator {
  return (value, path) => {
    if (typeof value !== 'number') fail(TypeError, path, 'a number', value);
    const n = value as number;
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      const kind = integer ? 'an integer' : 'a finite number';
      const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `between ${min} and ${max}`;
      fail(RangeError, path, `${kind} ${range}`, value);
    }
  };
}

const checkBoolean: Validator = (value, path) => {
  if (typeof value !== 'boolean') fail(TypeError, path, 'a boolean', value);
};

const checkFunction: Validator = (value, path) => {
  if (typeof value !== 'function') fail(TypeError, path, 'a function', value);
};

const checkOneOf =
  (allowed: readonly string[]): Validator =>
  (value, path) => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      fail(TypeError, path, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
    }
  };

const checkArrayOf =
  (item: Validator): Validator =>
  (value, path) => {
    if (!Array.isArray(value)) fail(TypeError, path, 'an array', value);
    (value as unknown[]).forEach((v, i) => {
      item(v, `${path}[${i}]`);
    });
  };

const checkString: Validator = (value, path) => {
  if (typeof value !== 'string' || value === '') fail(TypeError, path, 'a non-empty string', value);
};

const checkGroup =
  <T>(validators: Validators<T>, allowFalse = false): Validator =>
  (value, path) => {
    if (allowFalse && value === false) return;
    validateGroup(value, path, validators, allowFalse);
  };

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

const hostValidators: Validators<HostOptions> = {
  pool: checkGroup(poolValidators),
  retry: checkGroup(retryValidators, true),
  circuitBreaker: checkGroup(breakerValidators, true),
  timeout: checkGroup(timeoutValidators),
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

const telemetryValidators: Validators<TelemetryOptions> = {
  tracerProvider: checkProvider('getTracer'),
  meterProvider: checkProvider('getMeter'),
  maxHosts: checkNumber(0, true),
  redactQueryParams: checkArrayOf(checkString),
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
  queueTimeoutMs: (value, path) => {
    if (value !== false) checkNumber(1, false, maxTimerMs)(value, path);
  },
};

const topValidators: Validators<ResilientFetchOptions> = {
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

const checkPattern: Validator = (value, path) => {
  if (typeof value === 'function') return;
  if (typeof value !== 'string') fail(TypeError, path, `a string (${patternExpected}) or a function`, value);
  if (parsePattern(value as string) === undefined) fail(TypeError, path, patternExpected, value);
};

/** The key a pattern is stored under: its normalised string, or the predicate itself. */
const patternKey = (pattern: HostPattern): HostPattern =>
  typeof pattern === 'function' ? pattern : (parsePattern(pattern)?.key ?? pattern);

const ruleValidators: Validators<HostRule> = { ...hostValidators, match: checkPattern };

const requestValidators: Validators<RequestPolicyOptions> = {
  retry: checkGroup(requestRetryValidators, true),
  timeout: checkGroup(timeoutValidators),
};

function validateGroup<T>(value: unknown, path: string, validators: Validators<T>, allowFalse = false): void {
  if (!isPlainObject(value)) {
    const label = path ? `option ${path}` : 'options';
    const expected = allowFalse ? 'an object or false' : 'an object';
    throw new TypeError(`resilient-fetch: ${label} must be ${expected}, received ${describeValue(value)}`);
  }
  for (const [key, field] of Object.entries(value)) {
    const fieldPath = path ? `${path}.${key}` : key;
    const validate = (validators as Record<string, Validator>)[key];
    if (!validate) {
      const known = Object.keys(validators).join(', ');
      throw new TypeError(`resilient-fetch: unknown option ${fieldPath} (known options: ${known})`);
    }
    // `undefined` means "use the default", as an omitted field would.
    if (field !== undefined) validate(field, fieldPath);
  }
}

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
  });
}

const basePolicy: HostPolicy = Object.freeze({
  pool: Object.freeze({ ...defaults.pool }),
  retry: resolveRetry(undefined),
  circuitBreaker: Object.freeze({ ...defaults.circuitBreaker }),
  timeout: Object.freeze({ ...defaults.timeout }),
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

const tables = new WeakMap<ResolvedOptions, HostTable>();

/** The table of the overrides given at creation (see `hosts.ts`), built once per resolved options. */
export function hostTableOf(options: ResolvedOptions): HostTable {
  let table = tables.get(options);
  if (table === undefined) {
    table = createHostTable(options, options.hosts);
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
  };
}

/** Options of `close()`. */
export interface CloseOptions {
  /** Skip the drain: end in-flight calls at once, as `destroy()` does. @default false */
  force?: boolean | undefined;
  /** Overrides the instance's `drainTimeoutMs` for this close. */
  drainTimeoutMs?: number | undefined;
}

const closeValidators: Validators<CloseOptions> = {
  force: checkBoolean,
  drainTimeoutMs: checkNumber(0, false, maxTimerMs),
};

/** Validates the options of `close()` and fills in the instance's drain timeout. */
export function resolveCloseOptions(
  user: CloseOptions | undefined,
  drainTimeoutMs: number,
): Resolved<CloseOptions> {
  validateGroup(user ?? {}, 'close', closeValidators);
  return { force: user?.force ?? false, drainTimeoutMs: user?.drainTimeoutMs ?? drainTimeoutMs };
}
