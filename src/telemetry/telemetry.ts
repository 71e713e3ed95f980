/**
 * OpenTelemetry spans and metrics, following the HTTP client semantic conventions, recorded the way
 * OpenTelemetry's own instrumentation-undici records them: semconv names, low-cardinality metric
 * attributes, `error.type` from a code or class name (never a message), a caller's abort is not an error,
 * and nothing here can break a request.
 *
 * Uses only `@opentelemetry/api`: with no SDK registered every call below is a no-op of the API.
 */
import { type Attributes, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import { addressOf, portOf } from '../hosts/key.ts';
import type { ResolvedTelemetry } from '../options/resolved.ts';
import type { CallOutcome } from '../outcome/health.ts';
import type { FetchInit } from '../transport/types.ts';
import { Attempt, type AttemptKit, type AttemptScope, type CallInfo } from './attempt-span.ts';
import {
  createInstruments,
  type Instruments,
  observeActiveRequests,
  observeHosts,
  type TelemetrySources,
} from './instruments.ts';
import { HostLabels } from './labels.ts';
import { meterOf, tracerOf } from './scope.ts';
import * as semconv from './semconv.ts';

export type { AttemptScope, CallInfo } from './attempt-span.ts';
export type { TelemetrySources } from './instruments.ts';

/** A circuit's move, as the breaker reports it (telemetry sits below the policies: it names only what it records). */
export interface CircuitChange {
  readonly host: string;
  readonly from: string;
  readonly to: string;
}

export class Telemetry {
  readonly #tracer: Tracer;
  readonly #labels: HostLabels;
  readonly #instruments: Instruments;
  readonly #kit: AttemptKit;

  constructor(options: ResolvedTelemetry, sources: TelemetrySources) {
    this.#tracer = tracerOf(options);
    const meter = meterOf(options);
    this.#labels = new HostLabels(options.maxHosts);
    this.#instruments = createInstruments(meter);
    observeActiveRequests(meter, this.#labels);
    observeHosts(meter, this.#labels, sources);
    this.#kit = {
      tracer: this.#tracer,
      labels: this.#labels,
      redacted: new Set(options.redactQueryParams),
      headers: options.headersToSpanAttributes,
      attemptDuration: this.#instruments.attemptDuration,
    };
  }

  /** Starts the telemetry of one attempt (`resend`: requests the call sent before it). */
  attempt(call: CallInfo, init: FetchInit, resend: number): AttemptScope {
    return new Attempt(this.#kit, call, init, resend);
  }

  retry(call: Pick<CallInfo, 'host'>, reason: string): void {
    this.#instruments.retries.add(1, { ...this.#labels.metricOf(call.host), [semconv.ATTR_REASON]: reason });
  }

  /** A call waited `ms` for its host's rate-limit reset (or until its abort or deadline ended the wait). */
  paced(call: Pick<CallInfo, 'host'>, ms: number): void {
    this.#instruments.rateLimitWait.record(ms / 1_000, this.#labels.metricOf(call.host));
  }

  retryDenied(call: Pick<CallInfo, 'host'>): void {
    this.#instruments.denied.add(1, this.#labels.metricOf(call.host));
  }

  /** The call's one outcome record (call duration, outcome, rejections). */
  outcome(outcome: CallOutcome): void {
    const metric = this.#labels.metricOf(outcome.host);
    const outcomeName =
      outcome.result === 'failure' && outcome.failure === 'timeout' ? 'timeout' : outcome.result;
    const attributes: Attributes = {
      ...metric,
      [semconv.ATTR_HTTP_REQUEST_METHOD]: outcome.method,
      [semconv.ATTR_OUTCOME]: outcomeName,
    };
    this.#instruments.callDuration.record(outcome.durationMs / 1_000, attributes);
    if (outcome.result !== 'rejected') return;
    this.#instruments.rejections.add(1, {
      ...metric,
      [semconv.ATTR_REASON]: outcome.errorType ?? 'rejected',
    });
    // A call refused by an open circuit has no attempt: it is made visible as a span of its own. (A
    // call the queue refused has its attempt span already, with that error.)
    if (outcome.errorType === 'ERR_RF_CIRCUIT_OPEN') this.#notSent(outcome);
  }

  /** A circuit moved (span event on the caller's active span). */
  circuit(transition: CircuitChange): void {
    trace.getActiveSpan()?.addEvent(semconv.EVENT_CIRCUIT, {
      'server.address': addressOf(transition.host),
      'server.port': portOf(transition.host),
      'resilient_fetch.circuit.from': transition.from,
      'resilient_fetch.circuit.to': transition.to,
    });
  }

  #notSent(outcome: CallOutcome): void {
    const span = this.#tracer.startSpan(outcome.method, {
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
}
