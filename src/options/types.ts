/**
 * The public options: every field optional, each with its `@default`. Resolved forms are in
 * `resolved.ts`, the values of the defaults in `defaults.ts`.
 */
import type { HostPattern } from '../hosts/patterns.ts';
import type { RetryOptions } from './retry-types.ts';
import type { TelemetryOptions } from './telemetry-types.ts';

export type {
  JitterKind,
  RetryBudgetOptions,
  RetryContext,
  RetryOptions,
  RetryStrategy,
} from './retry-types.ts';
export type { HeadersToSpanAttributes, TelemetryOptions } from './telemetry-types.ts';

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
  /**
   * Largest response header section accepted, in bytes; a larger one fails the request
   * (`UND_ERR_HEADERS_OVERFLOW`).
   * @default 16_384 (Node's `--max-http-header-size`, as Node's fetch)
   */
  maxHeaderSize?: number | undefined;
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

/** Pacing by what a host says of its rate limit (`RateLimit`, `X-RateLimit-*`, OpenAI's headers). */
export interface RateLimitOptions {
  /**
   * When a host has said nothing remains until a reset, new calls to it wait for the reset, unless it is
   * further away than this: then they go out as they would without pacing.
   * @default 10_000
   */
  maxWaitMs?: number | undefined;
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
  /** Rate-limit pacing (on by default); `false` turns it off. */
  rateLimit?: RateLimitOptions | false | undefined;
  /** Limits on what a response may make us hold (none by default, as in fetch). */
  response?: ResponseOptions | undefined;
}

/**
 * Limits on a response's body, per host and per call (`init.resilience.response`). Past one, the call
 * fails with a `ResponseTooLargeError` (`ERR_RF_RESPONSE_TOO_LARGE`) as its cause and the connection is
 * dropped: before the body is read when the `content-length` of an unencoded body announces too much
 * (`TypeError('fetch failed')`), else while it is read (the body errors with `TypeError('terminated')`).
 */
export interface ResponseOptions {
  /**
   * Most bytes of decoded body (after gzip, br, ...); `false`: no cap.
   * @default false
   */
  maxBytes?: number | false | undefined;
  /**
   * Most decoded bytes per encoded byte of a compressed body (a 200 KiB gzip bomb that decodes to 200 MiB
   * has a ratio of 1000), checked once more than 64 KiB is decoded; `false`: no cap.
   * @default false
   */
  maxRatio?: number | false | undefined;
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
  response?: ResponseOptions | undefined;
}

/** `RequestInit` plus the per-request policy field. */
export interface ResilientRequestInit extends RequestInit {
  resilience?: RequestPolicyOptions | undefined;
}

/** Options of `close()`. */
export interface CloseOptions {
  /** Skip the drain: end in-flight calls at once, as `destroy()` does. @default false */
  force?: boolean | undefined;
  /** Overrides the instance's `drainTimeoutMs` for this close. */
  drainTimeoutMs?: number | undefined;
}
