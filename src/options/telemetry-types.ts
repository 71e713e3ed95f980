/** The public options of the telemetry group (`telemetry`), each with its `@default`. */
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';

/** OpenTelemetry wiring. With no SDK registered, telemetry costs next to nothing. */
export interface TelemetryOptions {
  /** Defaults to the global tracer provider, as OpenTelemetry's instrumentations do. */
  tracerProvider?: TracerProvider | undefined;
  /** Defaults to the global meter provider. */
  meterProvider?: MeterProvider | undefined;
  /**
   * Hosts tracked by name in metric attributes; the others are reported as `_other`.
   * @default 200
   */
  maxHosts?: number | undefined;
  /**
   * Query parameters whose values read `REDACTED` wherever a URL is recorded (`url.full` of every
   * attempt and redirect hop), matched without regard to case, `-` and `_`. A list given here replaces
   * the default: extend it with `[...defaultRedactedQueryParams, 'sas']`, or give
   * `semconvRedactedQueryParams` for the semantic conventions' list alone.
   * @default defaultRedactedQueryParams: the conventions' list (AWSAccessKeyId, Signature, sig,
   * X-Goog-Signature, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token) plus token,
   * access_token, refresh_token, id_token, private_token, api_key, apikey, api-key, x-api-key, key,
   * password, passwd, pwd, secret, client_secret, client_assertion, signature, auth, session,
   * session_id, jwt
   */
  redactQueryParams?: readonly string[] | undefined;
  /**
   * Headers recorded on the attempt spans, as instrumentation-undici records them: each named request
   * header as `http.request.header.<name>`, each named response header as `http.response.header.<name>`
   * (lower-case names, an array of one string). Naming `authorization`, `cookie`, `set-cookie`,
   * `proxy-authorization` or `x-api-key` is a `RangeError`: their values are credentials.
   * @default { requestHeaders: [], responseHeaders: [] } (no header value is recorded)
   */
  headersToSpanAttributes?: HeadersToSpanAttributes | undefined;
}

/** Which header values the attempt spans record (`telemetry.headersToSpanAttributes`). */
export interface HeadersToSpanAttributes {
  /** @default [] */
  requestHeaders?: readonly string[] | undefined;
  /** @default [] */
  responseHeaders?: readonly string[] | undefined;
}
