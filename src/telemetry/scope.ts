/** The instrumentation scope every span and metric of resilient-fetch is recorded under. */
import { type Meter, metrics, type Tracer, trace } from '@opentelemetry/api';
import type { ResolvedTelemetry } from '../options/resolved.ts';

const NAME = 'resilient-fetch';
const VERSION = '0.1.0';

/** The tracer of the given provider, else of the global one (as OpenTelemetry's instrumentations do). */
export const tracerOf = (options: ResolvedTelemetry): Tracer =>
  (options.tracerProvider ?? trace.getTracerProvider()).getTracer(NAME, VERSION);

/** The meter of the given provider, else of the global one. */
export const meterOf = (options: ResolvedTelemetry): Meter =>
  (options.meterProvider ?? metrics.getMeterProvider()).getMeter(NAME, VERSION);
