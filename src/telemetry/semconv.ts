/**
 * Attribute and metric names. Stable HTTP semantic conventions come from
 * `@opentelemetry/semantic-conventions`; names still incubating upstream are copied here (the package's
 * `incubating` entry is large and may change without a major version), next to our own
 * `resilient_fetch.*` names.
 */
export {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_SCHEME,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';

/** Incubating in the HTTP conventions (`http.client.active_requests`). */
export const METRIC_HTTP_CLIENT_ACTIVE_REQUESTS = 'http.client.active_requests';
/** Incubating in the HTTP conventions (`http.client.open_connections`). */
export const METRIC_HTTP_CLIENT_OPEN_CONNECTIONS = 'http.client.open_connections';
/** Incubating: `active` or `idle`. */
export const ATTR_HTTP_CONNECTION_STATE = 'http.connection.state';

/** Buckets the HTTP conventions advise for `http.client.request.duration`, in seconds. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

// Our own, under resilient_fetch.*.
export const METRIC_CALL_DURATION = 'resilient_fetch.call.duration';
export const METRIC_RETRIES = 'resilient_fetch.retries';
export const METRIC_RETRIES_DENIED = 'resilient_fetch.retries.denied';
export const METRIC_REJECTIONS = 'resilient_fetch.rejections';
export const METRIC_CIRCUIT_STATE = 'resilient_fetch.circuit.state';
export const METRIC_HEALTH_STATE = 'resilient_fetch.health.state';
/** One per call attempt paced by its host's rate limit: the wait, in seconds (its count: paced calls). */
export const METRIC_RATE_LIMIT_WAIT = 'resilient_fetch.rate_limit.wait.duration';
export const ATTR_OUTCOME = 'resilient_fetch.outcome';
export const ATTR_REASON = 'resilient_fetch.reason';
/** Bare `state`, so that a Prometheus alert reads `resilient_fetch_health_state{state="failed"} == 1`. */
export const ATTR_STATE = 'state';
export const EVENT_RETRY = 'resilient_fetch.retry';
export const EVENT_CIRCUIT = 'resilient_fetch.circuit';

// The total cap and its queue (limits).
export const METRIC_QUEUE_LENGTH = 'resilient_fetch.queue.length';
export const METRIC_QUEUE_ACTIVE = 'resilient_fetch.queue.active';
export const METRIC_QUEUE_WAIT = 'resilient_fetch.queue.wait.duration';
export const METRIC_QUEUE_REJECTIONS = 'resilient_fetch.queue.rejections';
