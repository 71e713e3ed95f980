/** Trace context on an attempt's request headers, without touching the caller's objects. */
import { isPlainRecord } from '../transport/request-shape.ts';

/**
 * A copy of the caller's headers (or the Request's) with the trace context set: the caller's objects are
 * never mutated. A record stays a record and an array of pairs an array, so the names keep the casing
 * the caller gave (a `Headers` object would lower-case them for any reader but fetch) and the request
 * stays one the fast transport takes; a `Headers` object is copied as a `Headers` object.
 */
export function withContext(
  headers: RequestInit['headers'],
  input: string | Request,
  carrier: Record<string, string>,
  keys: string[],
): NonNullable<RequestInit['headers']> {
  const isCarried = (name: unknown) => typeof name === 'string' && keys.includes(name.toLowerCase());
  if (headers === undefined && !(input instanceof Request)) return carrier;
  if (Array.isArray(headers)) {
    const pairs = headers.filter((pair) => !(Array.isArray(pair) && isCarried(pair[0])));
    for (const key of keys) pairs.push([key, carrier[key] as string]);
    return pairs;
  }
  if (isPlainRecord(headers)) {
    const record: Record<string, string> = {};
    for (const name of Object.keys(headers)) {
      if (!isCarried(name)) record[name] = headers[name] as string;
    }
    return Object.assign(record, carrier);
  }
  const copy = new Headers(headers ?? (input as Request).headers);
  for (const key of keys) copy.set(key, carrier[key] as string);
  return copy;
}
