/**
 * OpenTelemetry spans and metrics, following the HTTP client semantic conventions, recorded the way
 * OpenTelemetry's own instrumentation-undici records them: semconv names, low-cardinality metric
 * attributes, `error.type` from a code or class name (never a message), a caller's abort is not an error,
 * and nothing here can break a request.
 *
 * Uses only `@opentelemetry/api`: with no SDK registered every call below is a no-op of the API.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  type Histogram,
  metrics,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import type { BreakerTransition } from './breaker.ts';
import { type Peer, watchPeer } from './dispatch/peers.ts';
import { hostOfUrl } from './dispatch/pools.ts';
import type { CallOutcome, HealthStatus } from './health.ts';
import type { ResolvedTelemetry } from './options.ts';
import { errorCodeOf } from './retry.ts';
import * as semconv from './semconv.ts';
import type { FetchInit } from './transport/types.ts';

const VERSION = '0.1.0';

/**
 * The key `@opentelemetry/core`'s `suppressTracing()` sets (`createContextKey` is `Symbol.for` of its
 * description). Dispatching under it keeps OpenTelemetry's undici/fetch instrumentation, when the app
 * runs it, from adding a second span and a second `traceparent` to our attempts.
 */
const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/**
 * instrumentation-undici records `http.client.request.duration` for every request it sees, suppressed
 * or not; when it listens, our attempts are in its series already, so we do not record a second one.
 * The three channels together are its signature (NODE_DEBUG=undici subscribes to only some of them).
 */
const requestCreate = diagnosticsChannel.channel('undici:request:create');
const requestTrailers = diagnosticsChannel.channel('undici:request:trailers');
const clientSendHeaders = diagnosticsChannel.channel('undici:client:sendHeaders');
const undiciInstrumentationActive = (): boolean =>
  requestCreate.hasSubscribers && requestTrailers.hasSubscribers && clientSendHeaders.hasSubscribers;

/** `url.full` without credentials, with the listed query parameters' values replaced by REDACTED. */
export function redactUrl(href: string, params: ReadonlySet<string>): string {
  if (!href.includes('@') && !href.includes('?')) return href;
  const url = URL.parse(href);
  if (url === null) return href;
  if (url.username) url.username = 'REDACTED';
  if (url.password) url.password = 'REDACTED';
  if (url.search) {
    let changed = false;
    for (const key of url.searchParams.keys()) {
      if (params.has(key)) changed = true;
    }
    if (changed) {
      // Rebuilt by hand: URLSearchParams would re-encode every other parameter.
      url.search = url.search
        .slice(1)
        .split('&')
        .map((pair) => {
          const eq = pair.indexOf('=');
          const key = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
          return params.has(key) ? `${eq === -1 ? pair : pair.slice(0, eq)}=REDACTED` : pair;
        })
        .join('&');
    }
  }
  return url.href;
}

/** What the telemetry needs to know about a call. */
export interface CallInfo {
  readonly host: string;
  readonly method: string;
  readonly href: string;
  /** HTTP/2 may be negotiated: the protocol version is then unknown (Response does not tell). */
  readonly allowH2: boolean;
}

/**
 * A copy of the caller's headers (or the Request's) with the trace context set: the caller's objects are
 * never mutated. A record stays a record and an array of pairs an array, so the names keep the casing
 * the caller gave (a `Headers` object would lower-case them for any reader but fetch) and the request
 * stays one the fast transport takes; a `Headers` object is copied as a `Headers` object.
 */
function withContext(
  headers: RequestInit['headers'],
  input: string | URL | Request,
  carrier: Record<string, string>,
  keys: string[],
): NonNullable<RequestInit['headers']> {
  const isCarried = (name: unknown) => typeof name === 'string' && keys.includes(name.toLowerCase());
  if (headers === undefined && !(input instanceof Request)) return carrier;
  if (Array.isArray(headers)) {
    const pairs = headers.filter((pair) => !(Array.isArray(pair) && isCarried(pair[0])));
    for (const key of keys) pairs.push([key, carrier[key] as string]);
    return pairs;
  }
  const proto = typeof headers === 'object' && headers !== null ? Object.getPrototypeOf(headers) : undefined;
  if ((proto === Object.prototype || proto === null) && Object.getOwnPropertySymbols(headers).length === 0) {
    const record: Record<string, string> = {};
    for (const name of Object.keys(headers as object)) {
      if (!isCarried(name)) record[name] = (headers as Record<string, string>)[name] as string;
    }
    return Object.assign(record, carrier);
  }
  const copy = new Headers(headers ?? (input as Request).headers);
  for (const key of keys) copy.set(key, carrier[key] as string);
  return copy;
}

/** One attempt's span and timing. */
export interface AttemptScope {
  /** The attempt's init, with trace context headers when a propagator produced any. */
  readonly init: FetchInit;
  /** Runs the dispatch in the attempt's context, with other HTTP instrumentations suppressed. */
  run<T>(fn: () => Promise<T>): Promise<T>;
  /** Records a span event (retry decisions). */
  event(name: string, attributes: Attributes): void;
  /**
   * The transport follows a redirect itself: the hop that answered `status` ends as a request of its
   * own, a new span starts for `method` on `next` (resend count + 1), and the trace context for its
   * headers is returned.
   */
  redirect(status: number, next: string, method: string): Record<string, string> | undefined;
  /** Requests this attempt sent so far: 1, plus one per redirect hop the transport followed itself. */
  readonly requests: number;
  /** Where the transport notes the connection of each request (while the span records). */
  readonly peer: Peer | undefined;
  /** Ends the attempt: a response, or an error (`aborted`: the caller's abort, not an error). */
  end(response: Response | undefined, error: unknown, aborted: boolean): void;
}

export interface Telemetry {
  attempt(call: CallInfo, input: string | URL | Request, init: FetchInit, resend: number): AttemptScope;
  retry(call: CallInfo, reason: string): void;
  retryDenied(call: CallInfo): void;
  /** The call's one outcome record (call duration, outcome, rejections). */
  outcome(outcome: CallOutcome): void;
  /** A circuit moved (span event on the caller's active span). */
  circuit(transition: BreakerTransition): void;
}

export interface TelemetrySources {
  circuits(): Iterable<[host: string, state: string]>;
  health(): Iterable<[host: string, status: HealthStatus]>;
  connections(): Iterable<[host: string, active: number, idle: number]>;
}

const circuitStates = ['closed', 'open', 'half-open', 'isolated'] as const;
const healthStates: readonly HealthStatus[] = ['HEALTHY', 'DEGRADED', 'FAILED', 'TIMEOUT', 'UNKNOWN'];

const portOf = (host: string): number => Number(host.slice(host.lastIndexOf(':') + 1));
const addressOf = (host: string): string => {
  const name = host.slice(0, host.lastIndexOf(':'));
  return name.startsWith('[') ? name.slice(1, -1) : name;
};

export function createTelemetry(options: ResolvedTelemetry, sources: TelemetrySources): Telemetry {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer('resilient-fetch', VERSION);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('resilient-fetch', VERSION);
  const redacted = new Set(options.redactQueryParams);

  /**
   * One bounded host label (a named host, or `_other`): its metric attributes, made once, and its
   * attempts waiting for their headers per scheme.
   */
  interface Label {
    readonly metric: Readonly<Attributes>;
    /** Absent for a scheme never used: only schemes used are observed. */
    readonly active: { http?: number; https?: number };
  }
  /** What every attempt to one host shares: computed once per named host, not per attempt. */
  interface HostAttributes {
    readonly address: string;
    readonly port: number;
    readonly label: Label;
  }
  // Hosts named in metric attributes: the first `maxHosts` seen, each with its own label; the hosts
  // beyond share the `_other` label, and their address and port (for their spans) are computed per use.
  const named = new Map<string, HostAttributes>();
  const OTHER = '_other';
  const other: Label = { metric: Object.freeze({ [semconv.ATTR_SERVER_ADDRESS]: OTHER }), active: {} };
  const attributesOf = (host: string): HostAttributes => {
    const known = named.get(host);
    if (known !== undefined) return known;
    const address = addressOf(host);
    const port = portOf(host);
    if (named.size >= options.maxHosts) return { address, port, label: other };
    const metric = Object.freeze({
      [semconv.ATTR_SERVER_ADDRESS]: address,
      [semconv.ATTR_SERVER_PORT]: port,
    });
    const attributes: HostAttributes = { address, port, label: { metric, active: {} } };
    named.set(host, attributes);
    return attributes;
  };
  const labelOf = (host: string): Label => attributesOf(host).label;

  const attemptDuration: Histogram = meter.createHistogram(semconv.METRIC_HTTP_CLIENT_REQUEST_DURATION, {
    // instrumentation-undici's wording: exporters keep one description per metric name, and warn when
    // two sources disagree.
    description: 'Measures the duration of outbound HTTP requests.',
    unit: 's',
    advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
  });
  // Attempts waiting for their headers, per scheme and host. Observed at collection time rather than
  // recorded twice per attempt: every recording hashes its attributes, and this one needs none per call.
  // A count stays (at 0) once created, because an asynchronous instrument keeps reporting an attribute
  // set's last value when it is no longer observed.
  meter
    .createObservableUpDownCounter(semconv.METRIC_HTTP_CLIENT_ACTIVE_REQUESTS, {
      description: 'Attempts waiting for their response headers.',
      unit: '{request}',
    })
    .addCallback((result) => {
      const observe = ({ metric, active }: Label) => {
        for (const scheme of ['http', 'https'] as const) {
          const count = active[scheme];
          if (count !== undefined) result.observe(count, { ...metric, [semconv.ATTR_URL_SCHEME]: scheme });
        }
      };
      for (const host of named.values()) observe(host.label);
      observe(other);
    });
  const callDuration = meter.createHistogram(semconv.METRIC_CALL_DURATION, {
    description: 'Duration of calls, all attempts and backoffs included, by outcome.',
    unit: 's',
    advice: { explicitBucketBoundaries: [...semconv.DURATION_BUCKETS, 30, 60, 120] },
  });
  const retries = meter.createCounter(semconv.METRIC_RETRIES, { description: 'Retries made, by reason.' });
  const denied = meter.createCounter(semconv.METRIC_RETRIES_DENIED, {
    description: 'Retries the retry budget refused.',
  });
  const rejections = meter.createCounter(semconv.METRIC_REJECTIONS, {
    description: 'Calls refused without touching the network, by reason.',
  });
  meter
    .createObservableGauge(semconv.METRIC_CIRCUIT_STATE, {
      description: 'Circuit state per host: 1 for the current state, 0 for the others.',
    })
    .addCallback((result) => {
      for (const [host, state] of sources.circuits()) {
        for (const s of circuitStates)
          result.observe(s === state ? 1 : 0, { ...labelOf(host).metric, [semconv.ATTR_STATE]: s });
      }
    });
  meter
    .createObservableGauge(semconv.METRIC_HEALTH_STATE, {
      description: 'Health status per host: 1 for the current status, 0 for the others.',
    })
    .addCallback((result) => {
      for (const [host, status] of sources.health()) {
        for (const s of healthStates) {
          result.observe(s === status ? 1 : 0, {
            ...labelOf(host).metric,
            [semconv.ATTR_STATE]: s.toLowerCase(),
          });
        }
      }
    });
  meter
    .createObservableUpDownCounter(semconv.METRIC_HTTP_CLIENT_OPEN_CONNECTIONS, {
      description: 'Connections open in the pools, by state.',
      unit: '{connection}',
    })
    .addCallback((result) => {
      for (const [host, active, idle] of sources.connections()) {
        result.observe(active, { ...labelOf(host).metric, [semconv.ATTR_HTTP_CONNECTION_STATE]: 'active' });
        result.observe(idle, { ...labelOf(host).metric, [semconv.ATTR_HTTP_CONNECTION_STATE]: 'idle' });
      }
    });

  /** One request on the wire: its CLIENT span and context, its start, what its metric names. */
  interface Hop {
    readonly span: Span;
    readonly context: Context;
    readonly started: number;
    readonly resend: number;
    readonly method: string;
    readonly scheme: 'http' | 'https';
    readonly host: HostAttributes;
  }
  const startHop = (
    method: string,
    href: string,
    host: HostAttributes,
    resend: number,
    parent: Context,
  ): Hop => {
    const scheme = href.startsWith('https:') ? 'https' : 'http';
    const spanAttributes: Attributes = {
      [semconv.ATTR_HTTP_REQUEST_METHOD]: method,
      [semconv.ATTR_SERVER_ADDRESS]: host.address,
      [semconv.ATTR_SERVER_PORT]: host.port,
      [semconv.ATTR_URL_FULL]: redactUrl(href, redacted),
      [semconv.ATTR_URL_SCHEME]: scheme,
    };
    if (resend > 0) spanAttributes[semconv.ATTR_HTTP_REQUEST_RESEND_COUNT] = resend;
    const span = tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes: spanAttributes }, parent);
    const { active } = host.label;
    active[scheme] = (active[scheme] ?? 0) + 1;
    return {
      span,
      context: trace.setSpan(parent, span),
      started: performance.now(),
      resend,
      method,
      scheme,
      host,
    };
  };

  /** One attempt: a CLIENT span per request on the wire (each redirect hop the transport follows is one). */
  class Attempt implements AttemptScope {
    readonly init: FetchInit;
    readonly peer: Peer | undefined;
    readonly #call: CallInfo;
    /** The resend count of the attempt's first request. */
    readonly #resend: number;
    readonly #parent: Context;
    readonly #recordMetric: boolean;
    #ended = false;
    /** The request on the wire now. */
    #hop: Hop;

    constructor(call: CallInfo, input: string | URL | Request, init: FetchInit, resend: number) {
      this.#call = call;
      this.#resend = resend;
      this.#parent = context.active();
      this.#recordMetric = !undiciInstrumentationActive();
      this.#hop = startHop(call.method, call.href, attributesOf(call.host), resend, this.#parent);
      // The connection each hop went out on, noted by the transport while the span records.
      this.peer = this.#hop.span.isRecording() ? watchPeer() : undefined;
      const carrier: Record<string, string> = {};
      propagation.inject(this.#hop.context, carrier);
      const keys = Object.keys(carrier);
      this.init =
        keys.length > 0 ? { ...init, headers: withContext(init.headers, input, carrier, keys) } : init;
    }

    #finish(response: { status: number } | undefined, error: unknown, aborted: boolean): void {
      const hop = this.#hop;
      const { active } = hop.host.label;
      active[hop.scheme] = (active[hop.scheme] ?? 1) - 1;
      const { span } = hop;
      const peer = this.peer;
      const attributes: Attributes = {
        [semconv.ATTR_HTTP_REQUEST_METHOD]: hop.method,
        [semconv.ATTR_URL_SCHEME]: hop.scheme,
        ...hop.host.label.metric,
      };
      // Set on the span in one call (each call validates what it is given).
      const spanAttributes: Attributes = {};
      const protocol = peer?.protocol ?? (this.#call.allowH2 ? undefined : '1.1');
      if (peer?.address !== undefined) {
        spanAttributes[semconv.ATTR_NETWORK_PEER_ADDRESS] = peer.address;
        if (peer.port !== undefined) spanAttributes[semconv.ATTR_NETWORK_PEER_PORT] = peer.port;
      }
      if (response) {
        attributes[semconv.ATTR_HTTP_RESPONSE_STATUS_CODE] = response.status;
        spanAttributes[semconv.ATTR_HTTP_RESPONSE_STATUS_CODE] = response.status;
        if (protocol !== undefined) {
          attributes[semconv.ATTR_NETWORK_PROTOCOL_VERSION] = protocol;
          spanAttributes[semconv.ATTR_NETWORK_PROTOCOL_VERSION] = protocol;
        }
        if (response.status >= 400) {
          // Client spans: 4xx and 5xx are errors (semantic conventions); error.type is the status.
          attributes[semconv.ATTR_ERROR_TYPE] = String(response.status);
          spanAttributes[semconv.ATTR_ERROR_TYPE] = String(response.status);
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
      } else if (!aborted) {
        const type = errorCodeOf(error);
        attributes[semconv.ATTR_ERROR_TYPE] = type;
        spanAttributes[semconv.ATTR_ERROR_TYPE] = type;
        span.setStatus({ code: SpanStatusCode.ERROR });
      }
      span.setAttributes(spanAttributes);
      span.end();
      if (this.#recordMetric) attemptDuration.record((performance.now() - hop.started) / 1_000, attributes);
    }

    get requests(): number {
      return this.#hop.resend - this.#resend + 1;
    }

    // The attempt's context, with tracing suppressed, is only read by another HTTP instrumentation
    // listening to undici's channels (to leave the attempt to our span): without one, nobody reads it,
    // and the dispatch runs as it is (a context and an AsyncLocalStorage run saved per attempt).
    run<T>(fn: () => Promise<T>): Promise<T> {
      return undiciInstrumentationActive()
        ? context.with(this.#hop.context.setValue(SUPPRESS_TRACING, true), fn)
        : fn();
    }

    event(name: string, attributes: Attributes): void {
      this.#hop.span.addEvent(name, attributes);
    }

    redirect(status: number, next: string, method: string): Record<string, string> | undefined {
      if (this.#ended) return undefined;
      try {
        // The hop that answered with the redirect is a request of its own (a span, a duration).
        this.#finish({ status }, undefined, false);
        const host = hostOfUrl(next) ?? this.#call.host;
        this.#hop = startHop(method, next, attributesOf(host), this.#hop.resend + 1, this.#parent);
        const peer = this.peer;
        if (peer !== undefined) peer.address = peer.port = peer.protocol = undefined;
        const carrier: Record<string, string> = {};
        propagation.inject(this.#hop.context, carrier);
        return carrier;
      } catch {
        return undefined; // Telemetry never breaks a request.
      }
    }

    end(response: Response | undefined, error: unknown, aborted: boolean): void {
      if (this.#ended) return;
      this.#ended = true;
      try {
        this.#finish(response, error, aborted);
      } catch {
        // Telemetry never breaks a request.
      }
    }
  }

  return {
    attempt: (call, input, init, resend) => new Attempt(call, input, init, resend),
    retry(call, reason) {
      retries.add(1, { ...labelOf(call.host).metric, [semconv.ATTR_REASON]: reason });
    },
    retryDenied(call) {
      denied.add(1, labelOf(call.host).metric);
    },
    outcome(outcome) {
      const outcomeName =
        outcome.result === 'failure' && outcome.failure === 'timeout' ? 'timeout' : outcome.result;
      const attributes: Attributes = {
        ...labelOf(outcome.host).metric,
        [semconv.ATTR_HTTP_REQUEST_METHOD]: outcome.method,
        [semconv.ATTR_OUTCOME]: outcomeName,
      };
      callDuration.record(outcome.durationMs / 1_000, attributes);
      if (outcome.result === 'rejected') {
        rejections.add(1, {
          ...labelOf(outcome.host).metric,
          [semconv.ATTR_REASON]: outcome.errorType ?? 'rejected',
        });
      }
      // A call refused by an open circuit has no attempt: it is made visible as a span of its own. (A
      // call the queue refused has its attempt span already, with that error.)
      if (outcome.result === 'rejected' && outcome.errorType === 'ERR_RF_CIRCUIT_OPEN') {
        const span = tracer.startSpan(outcome.method, {
          kind: SpanKind.CLIENT,
          attributes: {
            [semconv.ATTR_HTTP_REQUEST_METHOD]: outcome.method,
            [semconv.ATTR_SERVER_ADDRESS]: addressOf(outcome.host),
            [semconv.ATTR_SERVER_PORT]: portOf(outcome.host),
            [semconv.ATTR_ERROR_TYPE]: outcome.errorType ?? 'rejected',
          },
        });
        span.setStatus({ code: SpanStatusCode.ERROR, message: 'circuit open: not sent' });
        span.end();
      }
    },
    circuit(transition) {
      trace.getActiveSpan()?.addEvent(semconv.EVENT_CIRCUIT, {
        'server.address': addressOf(transition.host),
        'server.port': portOf(transition.host),
        'resilient_fetch.circuit.from': transition.from,
        'resilient_fetch.circuit.to': transition.to,
      });
    },
  };
}

/** The queue of the total cap, as `createQueueTelemetry` observes it. */
export interface QueueSources {
  /** Requests waiting for a slot. */
  queued(): number;
  /** Requests holding a slot. */
  active(): number;
}

export interface QueueTelemetry {
  /** A request got its slot after waiting `ms` (requests that did not wait are not recorded). */
  waited(ms: number): void;
  /** A request was refused by the queue. */
  rejected(reason: 'queue_full' | 'queue_timeout'): void;
}

/**
 * Metrics of the total cap: queue length and slots in use (observed at collection time, nothing per
 * request), the wait of requests that had to wait, and refusals by reason. The queue is shared by all
 * hosts, so these carry no host attribute.
 */
export function createQueueTelemetry(options: ResolvedTelemetry, sources: QueueSources): QueueTelemetry {
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter('resilient-fetch', VERSION);
  meter
    .createObservableUpDownCounter(semconv.METRIC_QUEUE_LENGTH, {
      description: 'Requests waiting for a slot of the total cap (limits.maxInFlight).',
      unit: '{request}',
    })
    .addCallback((result) => result.observe(sources.queued()));
  meter
    .createObservableUpDownCounter(semconv.METRIC_QUEUE_ACTIVE, {
      description: 'Requests holding a slot of the total cap: dispatched, response body not yet ended.',
      unit: '{request}',
    })
    .addCallback((result) => result.observe(sources.active()));
  const wait = meter.createHistogram(semconv.METRIC_QUEUE_WAIT, {
    description: 'Time requests waited in the queue for a slot of the total cap.',
    unit: 's',
    advice: { explicitBucketBoundaries: [...semconv.DURATION_BUCKETS, 30, 60] },
  });
  const rejections = meter.createCounter(semconv.METRIC_QUEUE_REJECTIONS, {
    description: 'Requests the queue refused, by reason (queue_full, queue_timeout).',
  });
  return {
    waited(ms) {
      wait.record(ms / 1_000);
    },
    rejected(reason) {
      rejections.add(1, { [semconv.ATTR_REASON]: reason });
    },
  };
}
