/**
 * `resilient-fetch/status`: a request handler for node:http (and Express-style middleware) that answers
 * `GET <base>/health` with the instance's per-host health as JSON (src/status/). Export list only.
 */
export type { StatusHandler } from './status/handler.ts';
export { statusHandler } from './status/handler.ts';
export type {
  HealthReport,
  HealthSource,
  HostReport,
  PoolReport,
  RequiredReport,
} from './status/health-json.ts';
export type { StatusHandlerOptions } from './status/options.ts';
