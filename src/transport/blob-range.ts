/**
 * `blob:` URLs with an open-ended `Range` (`bytes=N-`), answered as undici 8's fetch answers them (206
 * with the rest of the blob). Node 24's fetch (undici 7.29) refuses them: its range parser compares the
 * missing end as 0. Everything else about `blob:` URLs stays Node's fetch's.
 */
import { resolveObjectURL } from 'node:buffer';
import { fetchFailed } from '../errors.ts';
import type { FetchInit } from './types.ts';

const openEndedRange = /^bytes[\t ]*=[\t ]*(\d+)[\t ]*-[\t ]*$/;

/** The `bytes=N-` start of a GET of a `blob:` URL, or undefined when the request is anything else. */
function rangeStart(input: unknown, init: FetchInit): number | undefined {
  if (typeof input !== 'string' || !input.startsWith('blob:') || init.headers === undefined) return undefined;
  if (init.method !== undefined && String(init.method).toUpperCase() !== 'GET') return undefined;
  let range: string | null;
  try {
    range = new Headers(init.headers).get('range');
  } catch {
    return undefined; // headers fetch refuses: left to it
  }
  const match = range === null ? null : openEndedRange.exec(range);
  return match === null ? undefined : Number(match[1]);
}

/** The answer to such a request, or undefined to leave the request to Node's fetch. */
export function openEndedBlobRange(input: unknown, init: FetchInit): Promise<Response> | undefined {
  const start = rangeStart(input, init);
  if (start === undefined) return undefined;
  const href = input as string;
  const url = URL.parse(href);
  const blob = url === null || url.search !== '' ? undefined : resolveObjectURL(href);
  if (blob === undefined) return undefined;
  if (start >= blob.size)
    return Promise.reject(fetchFailed(new Error("Range start is greater than the blob's size.")));
  const end = blob.size - 1;
  const slice = blob.slice(start, blob.size, blob.type);
  const response = new Response(slice as Blob, {
    status: 206,
    statusText: 'Partial Content',
    headers: [
      ['content-length', String(slice.size)],
      ['content-type', blob.type],
      ['content-range', `bytes ${start}-${end}/${blob.size}`],
    ],
  });
  Object.defineProperty(response, 'url', { value: href.split('#')[0] });
  Object.defineProperty(response, 'type', { value: 'basic' });
  return Promise.resolve(response);
}
