/**
 * One attempt's telemetry: a CLIENT span per request on the wire (each redirect hop the transport
 * follows is one), its `http.client.request.duration`, its trace context on the request headers, and
 * the connection it went out on. Recorded as instrumentation-undici records them.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import {
  type Attributes,
  type Context,
  context,
  createContextKey,
  type Histogram,
  propagation,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { type Peer, watchPeer } from '../dispatch/peers.ts';
import { hostOfUrl } from '../hosts/key.ts';
import { errorCodeOf } from '../outcome/classify.ts';
import type { FetchInit } from '../transport/types.ts';
import {
  type HeaderCapture,
  requestHeaderAttributes,
  responseHeaderAttributes,
} from './header-attributes.ts';
import type { HostAttributes, HostLabels } from './labels.ts';
import { withContext } from './propagation.ts';
import { redactUrl } from './redact.ts';
import * as semconv from './semconv.ts';

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

/** What the telemetry needs to know about a call. */
export interface CallInfo {
  readonly host: string;
  readonly method: string;
  readonly href: string;
  readonly input: string | Request;
  /** HTTP/2 may be negotiated: the protocol version is then unknown (Response does not tell). */
  readonly allowH2: boolean;
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

/** What every attempt of one telemetry instance records with. */
export interface AttemptKit {
  readonly tracer: Tracer;
  readonly labels: HostLabels;
  readonly redacted: ReadonlySet<string>;
  /** The header values the spans record (none by default). */
  readonly headers: HeaderCapture;
  readonly attemptDuration: Histogram;
}

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

function startHop(
  kit: AttemptKit,
  method: string,
  href: string,
  host: string,
  resend: number,
  parent: Context,
): Hop {
  const attributes = kit.labels.attributesOf(host);
  const scheme = href.startsWith('https:') ? 'https' : 'http';
  const spanAttributes: Attributes = {
    [semconv.ATTR_HTTP_REQUEST_METHOD]: method,
    [semconv.ATTR_SERVER_ADDRESS]: attributes.address,
    [semconv.ATTR_SERVER_PORT]: attributes.port,
    [semconv.ATTR_URL_FULL]: redactUrl(href, kit.redacted),
    [semconv.ATTR_URL_SCHEME]: scheme,
  };
  if (resend > 0) spanAttributes[semconv.ATTR_HTTP_REQUEST_RESEND_COUNT] = resend;
  const span = kit.tracer.startSpan(method, { kind: SpanKind.CLIENT, attributes: spanAttributes }, parent);
  const { active } = attributes.label;
  active[scheme] = (active[scheme] ?? 0) + 1;
  return {
    span,
    context: trace.setSpan(parent, span),
    started: performance.now(),
    resend,
    method,
    scheme,
    host: attributes,
  };
}

/** Sets `name` to `value` on both the metric's and the span's attributes. */
function setBoth(metric: Attributes, span: Attributes, name: string, value: string | number): void {
  metric[name] = value;
  span[name] = value;
}

export class Attempt implements AttemptScope {
  readonly init: FetchInit;
  readonly peer: Peer | undefined;
  readonly #kit: AttemptKit;
  readonly #call: CallInfo;
  /** The resend count of the attempt's first request. */
  readonly #resend: number;
  readonly #parent: Context;
  readonly #recordMetric: boolean;
  #ended = false;
  /** The request on the wire now. */
  #hop: Hop;

  constructor(kit: AttemptKit, call: CallInfo, init: FetchInit, resend: number) {
    this.#kit = kit;
    this.#call = call;
    this.#resend = resend;
    this.#parent = context.active();
    this.#recordMetric = !undiciInstrumentationActive();
    this.#hop = startHop(kit, call.method, call.href, call.host, resend, this.#parent);
    this.#recordRequestHeaders(init);
    // The connection each hop went out on, noted by the transport while the span records.
    this.peer = this.#hop.span.isRecording() ? watchPeer() : undefined;
    const carrier: Record<string, string> = {};
    propagation.inject(this.#hop.context, carrier);
    const keys = Object.keys(carrier);
    this.init =
      keys.length > 0 ? { ...init, headers: withContext(init.headers, call.input, carrier, keys) } : init;
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
      this.#hop = startHop(this.#kit, method, next, host, this.#hop.resend + 1, this.#parent);
      this.#recordRequestHeaders(this.init);
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

  /** Ends the hop on the wire: its span, and its duration with the metric's bounded attributes. */
  #finish(response: { status: number } | undefined, error: unknown, aborted: boolean): void {
    const hop = this.#hop;
    const { active } = hop.host.label;
    active[hop.scheme] = (active[hop.scheme] ?? 1) - 1;
    const attributes: Attributes = {
      [semconv.ATTR_HTTP_REQUEST_METHOD]: hop.method,
      [semconv.ATTR_URL_SCHEME]: hop.scheme,
      ...hop.host.label.metric,
    };
    // Set on the span in one call (each call validates what it is given).
    const spanAttributes = this.#peerAttributes();
    if (response) {
      if (this.#kit.headers.responseHeaders.length > 0 && response instanceof Response)
        Object.assign(
          spanAttributes,
          responseHeaderAttributes(this.#kit.headers.responseHeaders, response.headers),
        );
      setBoth(attributes, spanAttributes, semconv.ATTR_HTTP_RESPONSE_STATUS_CODE, response.status);
      const protocol = this.peer?.protocol ?? (this.#call.allowH2 ? undefined : '1.1');
      if (protocol !== undefined)
        setBoth(attributes, spanAttributes, semconv.ATTR_NETWORK_PROTOCOL_VERSION, protocol);
      if (response.status >= 400) {
        // Client spans: 4xx and 5xx are errors (semantic conventions); error.type is the status.
        setBoth(attributes, spanAttributes, semconv.ATTR_ERROR_TYPE, String(response.status));
        hop.span.setStatus({ code: SpanStatusCode.ERROR });
      }
    } else if (!aborted) {
      setBoth(attributes, spanAttributes, semconv.ATTR_ERROR_TYPE, errorCodeOf(error));
      hop.span.setStatus({ code: SpanStatusCode.ERROR });
    }
    hop.span.setAttributes(spanAttributes);
    hop.span.end();
    if (this.#recordMetric)
      this.#kit.attemptDuration.record((performance.now() - hop.started) / 1_000, attributes);
  }

  /** The request headers `telemetry.headersToSpanAttributes` names, on the hop's span. */
  #recordRequestHeaders(init: FetchInit): void {
    const names = this.#kit.headers.requestHeaders;
    if (names.length === 0 || !this.#hop.span.isRecording()) return;
    this.#hop.span.setAttributes(requestHeaderAttributes(names, init, this.#call.input));
  }

  /** `network.peer.*` of the connection the hop went out on, when the transport noted it. */
  #peerAttributes(): Attributes {
    const out: Attributes = {};
    const peer = this.peer;
    if (peer?.address !== undefined) {
      out[semconv.ATTR_NETWORK_PEER_ADDRESS] = peer.address;
      if (peer.port !== undefined) out[semconv.ATTR_NETWORK_PEER_PORT] = peer.port;
    }
    return out;
  }
}
