/**
 * `resilient-fetch/otel`: optional OpenTelemetry SDK wiring (src/telemetry/sdk.ts), the only entry that
 * loads the SDK packages. Export list only.
 */
export type { MetricsExport, OtelOptions, PrometheusOptions, TelemetryHandle } from './telemetry/sdk.ts';
export { resolveOtelOptions, shutdownOnExit, startTelemetry } from './telemetry/sdk.ts';
