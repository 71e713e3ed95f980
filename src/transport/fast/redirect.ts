/**
 * Following a redirect as Node's fetch follows one (`redirect: 'follow'`): at most 20, 301/302 POST and
 * 303 become GET without body headers, a cross-origin hop drops `authorization`, `proxy-authorization`,
 * `cookie` and `host`, the fragment is kept, and tainting becomes `cors` once the first origin is left.
 */
import { fetchFailed } from '../../errors.ts';
import { badPorts, type Plan } from './plan.ts';

const requestBodyHeaders = ['content-encoding', 'content-language', 'content-location', 'content-type'];
const crossOriginDropped = ['authorization', 'proxy-authorization', 'cookie', 'host'];

const networkError = (reason?: string): TypeError => fetchFailed(new Error(reason));

/** The URL a `Location` leads to from `base`, as fetch parses it; throws what fetch throws. */
function locationUrl(location: string, base: URL): URL {
  // fetch does not turn a Location with whitespace at either end into a URL, and then fails setting its
  // fragment on the string (the message is that TypeError's).
  if (/^[\t ]|[\t ]$/.test(location)) {
    throw new TypeError(`Cannot create property 'hash' on string '${location}'`);
  }
  // fetch re-reads a Location that is not plain ASCII as UTF-8.
  const target = /[^\x20-\x7e]/.test(location) ? Buffer.from(location, 'latin1').toString('utf8') : location;
  return new URL(target, base);
}

/** Why fetch refuses to go to `next` after a `status` response, or undefined. Counts the redirect. */
function refusal(plan: Plan, next: URL, status: number): TypeError | undefined {
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    return networkError('URL scheme must be a HTTP(S) scheme');
  }
  if (plan.redirects === 20) return networkError('redirect count exceeded');
  plan.redirects++;
  if (badPorts.has(next.port)) return networkError('bad port');
  // fetch compares the Request (not a URL) with the Location here, so no origin is the same: any
  // Location with credentials fails.
  if (next.username !== '' || next.password !== '') {
    return networkError('cross origin not allowed for request mode "cors"');
  }
  // A stream body cannot be sent again: only a 303 (which drops it) is followed.
  if (plan.body?.stream !== undefined && status !== 303) return networkError();
  return undefined;
}

/**
 * Moves `plan` to the hop a `status` response with `location` asks for. Returns the error the call
 * fails with instead (fetch's network error, or the caller's refusal of the hop from `onRedirect`).
 */
export function followRedirect(plan: Plan, status: number, location: string): unknown {
  let next: URL;
  try {
    next = locationUrl(location, plan.url);
  } catch (error) {
    return fetchFailed(error);
  }
  if (next.hash === '' && plan.url.hash !== '') next.hash = plan.url.hash;
  const refused = refusal(plan, next, status);
  if (refused !== undefined) return refused;
  if (
    ((status === 301 || status === 302) && plan.method === 'POST') ||
    (status === 303 && plan.method !== 'GET' && plan.method !== 'HEAD')
  ) {
    plan.method = 'GET';
    plan.body = null;
    for (const name of requestBodyHeaders) plan.headers.delete(name);
  }
  if (next.origin !== plan.url.origin) for (const name of crossOriginDropped) plan.headers.delete(name);
  // Tainting is sticky: coming back to the first origin does not make the response basic again.
  if (next.origin !== plan.origin) plan.cors = true;
  plan.url = next;
  let set: Record<string, string> | undefined;
  try {
    set = plan.onRedirect?.(status, next.href, plan.method);
  } catch (error) {
    // The caller refused the hop (its host's circuit is open): the call fails with that error.
    return error;
  }
  if (set !== undefined) {
    for (const name of Object.keys(set))
      plan.headers.set(name.toLowerCase(), { name, value: set[name] as string });
  }
  plan.timing.redirected();
  return undefined;
}
