/**
 * The metric instruments: histograms and counters recorded per call or attempt, and the observable
 * instruments read at collection time (nothing per request).
 */
import type { Counter, Histogram, Meter, ObservableResult } from '@opentelemetry/api';
import type { HealthStatus } from '../outcome/health.ts';
import type { HostLabels, Label } from './labels.ts';
import * as semconv from './semconv.ts';

/** What the observable instruments read, at collection time. */
export interface TelemetrySources {
  circuits(): Iterable<[host: string, state: string]>;
  health(): Iterable<[host: string, status: HealthStatus]>;
  connections(): Iterable<[host: string, active: number, idle: number]>;
}

/** The instruments recorded as calls happen. */
export interface Instruments {
  readonly attemptDuration: Histogram;
  readonly callDuration: Histogram;
  readonly retries: Counter;
  readonly denied: Counter;
  readonly rejections: Counter;
  readonly rateLimitWait: Histogram;
}

const circuitStates = ['closed', 'open', 'half-open', 'isolated'] as const;
const healthStates: readonly HealthStatus[] = ['HEALTHY', 'DEGRADED', 'FAILED', 'TIMEOUT', 'UNKNOWN'];

export function createInstruments(meter: Meter): Instruments {
  return {
    attemptDuration: meter.createHistogram(semconv.METRIC_HTTP_CLIENT_REQUEST_DURATION, {
      // instrumentation-undici's wording: exporters keep one description per metric name, and warn when
      // two sources disagree.
      description: 'Measures the duration of outbound HTTP requests.',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    }),
    callDuration: meter.createHistogram(semconv.METRIC_CALL_DURATION, {
      description: 'Duration of calls, all attempts and backoffs included, by outcome.',
      unit: 's',
      advice: { explicitBucketBoundaries: [...semconv.DURATION_BUCKETS, 30, 60, 120] },
    }),
    retries: meter.createCounter(semconv.METRIC_RETRIES, { description: 'Retries made, by reason.' }),
    denied: meter.createCounter(semconv.METRIC_RETRIES_DENIED, {
      description: 'Retries the retry budget refused.',
    }),
    rejections: meter.createCounter(semconv.METRIC_REJECTIONS, {
      description: 'Calls refused without touching the network, by reason.',
    }),
    rateLimitWait: meter.createHistogram(semconv.METRIC_RATE_LIMIT_WAIT, {
      description: 'Waits of calls paced by what their host said of its rate limit.',
      unit: 's',
      advice: { explicitBucketBoundaries: semconv.DURATION_BUCKETS },
    }),
  };
}

/**
 * Attempts waiting for their headers, per scheme and host. Observed at collection time rather than
 * recorded twice per attempt: every recording hashes its attributes, and this one needs none per call.
 * A count stays (at 0) once created, because an asynchronous instrument keeps reporting an attribute
 * set's last value when it is no longer observed.
 */
export function observeActiveRequests(meter: Meter, labels: HostLabels): void {
  const observe = (result: ObservableResult, { metric, active }: Label) => {
    for (const scheme of ['http', 'https'] as const) {
      const count = active[scheme];
      if (count !== undefined) result.observe(count, { ...metric, [semconv.ATTR_URL_SCHEME]: scheme });
    }
  };
  meter
    .createObservableUpDownCounter(semconv.METRIC_HTTP_CLIENT_ACTIVE_REQUESTS, {
      description: 'Attempts waiting for their response headers.',
      unit: '{request}',
    })
    .addCallback((result) => {
      for (const label of labels.labels()) observe(result, label);
    });
}

/** Circuit state, health status and pool connections per host, read from `sources`. */
export function observeHosts(meter: Meter, labels: HostLabels, sources: TelemetrySources): void {
  meter
    .createObservableGauge(semconv.METRIC_CIRCUIT_STATE, {
      description: 'Circuit state per host: 1 for the current state, 0 for the others.',
    })
    .addCallback((result) => {
      for (const [host, state] of sources.circuits()) {
        for (const s of circuitStates)
          result.observe(s === state ? 1 : 0, { ...labels.metricOf(host), [semconv.ATTR_STATE]: s });
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
            ...labels.metricOf(host),
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
        const metric = labels.metricOf(host);
        result.observe(active, { ...metric, [semconv.ATTR_HTTP_CONNECTION_STATE]: 'active' });
        result.observe(idle, { ...metric, [semconv.ATTR_HTTP_CONNECTION_STATE]: 'idle' });
      }
    });
}
