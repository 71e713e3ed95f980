/**
 * The query parameters whose values telemetry records as `REDACTED` (src/telemetry/redact.ts), by name:
 * the default of `telemetry.redactQueryParams`, and the semantic conventions' list alone.
 */

/** The HTTP semantic conventions' list: the parameters of signed cloud URLs (AWS, Google, Azure). */
export const semconvRedactedQueryParams: readonly string[] = Object.freeze([
  'AWSAccessKeyId',
  'Signature',
  'sig',
  'X-Goog-Signature',
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
]);

/**
 * The default: the conventions' list plus the common names of tokens, keys and passwords (OAuth 2.0's
 * `access_token`, the `key` / `api_key` of many LLM, maps and speech APIs). Extend it with
 * `[...defaultRedactedQueryParams, 'sas']`.
 */
export const defaultRedactedQueryParams: readonly string[] = Object.freeze([
  ...semconvRedactedQueryParams,
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'private_token',
  'api_key',
  'apikey',
  'api-key',
  'x-api-key',
  'key',
  'password',
  'passwd',
  'pwd',
  'secret',
  'client_secret',
  'client_assertion',
  'signature',
  'auth',
  'session',
  'session_id',
  'jwt',
]);
