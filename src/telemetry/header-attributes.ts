/**
 * `telemetry.headersToSpanAttributes`: named header values as span attributes, as instrumentation-undici
 * records them (`http.request.header.<name>`, `http.response.header.<name>`, an array of one string).
 * Only names the user listed are read, and the options refuse the ones that carry credentials.
 */
import type { Attributes } from '@opentelemetry/api';
import type { FetchInit } from '../transport/types.ts';

/** The lower-case header names to record. */
export interface HeaderCapture {
  readonly requestHeaders: readonly string[];
  readonly responseHeaders: readonly string[];
}

function readable(init: FetchInit, input: string | Request): Headers | undefined {
  const given = init.headers;
  // A Request's headers apply only when the init gives none (as `new Request(input, init)` does).
  if (given === undefined || given === null) return typeof input === 'string' ? undefined : input.headers;
  return given instanceof Headers ? given : new Headers(given);
}

function attributesOf(prefix: string, names: readonly string[], headers: Headers | undefined): Attributes {
  const out: Attributes = {};
  if (headers === undefined) return out;
  for (const name of names) {
    const value = headers.get(name);
    if (value !== null) out[`${prefix}${name}`] = [value];
  }
  return out;
}

/** The named request headers of an attempt (none when the headers cannot be read: fetch refuses them). */
export function requestHeaderAttributes(
  names: readonly string[],
  init: FetchInit,
  input: string | Request,
): Attributes {
  try {
    return attributesOf('http.request.header.', names, readable(init, input));
  } catch {
    return {};
  }
}

/** The named headers of a response. */
export const responseHeaderAttributes = (names: readonly string[], headers: Headers): Attributes =>
  attributesOf('http.response.header.', names, headers);
