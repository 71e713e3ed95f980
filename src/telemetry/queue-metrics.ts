/**
 * Metrics of the total cap: queue length and slots in use (observed at collection time, nothing per
 * request), the wait of requests that had to wait, and refusals by reason. The queue is shared by all
 * hosts, so these carry no host attribute.
 */
import type { ResolvedTelemetry } from '../options/resolved.ts';
import { meterOf } from './scope.ts';
import * as semconv from './semconv.ts';

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

export function createQueueTelemetry(options: ResolvedTelemetry, sources: QueueSources): QueueTelemetry {
  const meter = meterOf(options);
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
