/**
 * The one host key of this library, `hostname:port` (the scheme's default port filled in), and every way
 * to get one or take one apart: from a URL, from a pool's origin, from what a user passes to
 * `health()`/`resetCircuit()`/`isolate()`; its hostname, address and port.
 */

const defaultPorts: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** `hostname:port` of an http(s) URL; undefined for any other scheme or an unparsable URL. */
export function hostOfUrl(href: string): string | undefined {
  const url = URL.parse(href);
  if (url === null) return undefined;
  const port = url.port || defaultPorts[url.protocol];
  return port === undefined ? undefined : `${url.hostname}:${port}`;
}

/** `hostname:port` of a dispatcher's `origin` option (a string or a URL). */
export const hostOfOrigin = (origin: unknown): string | undefined => hostOfUrl(String(origin));

/**
 * The host key of what a user passes to `health()`, `resetCircuit()` and `isolate()`: `hostname:port`
 * (case-insensitive) or an http(s) URL. Throws a TypeError naming what was received otherwise.
 */
export function hostKeyOf(value: string): string {
  if (typeof value === 'string' && value.includes('://')) {
    const host = hostOfUrl(value);
    if (host) return host;
  }
  if (typeof value !== 'string' || !/^[^\s/]+:\d+$/.test(value)) {
    throw new TypeError(
      `resilient-fetch: expected a host as "hostname:port" or an http(s) URL, received ${JSON.stringify(value)}`,
    );
  }
  return value.toLowerCase();
}

/** The hostname of a host key, as `URL.hostname` gives it (`[::1]` for IPv6). */
export const hostnameOf = (host: string): string => host.slice(0, host.lastIndexOf(':'));

/** The port of a host key. */
export const portOf = (host: string): number => Number(host.slice(host.lastIndexOf(':') + 1));

/** The address of a host key, as `server.address` reads it: the hostname, IPv6 without brackets. */
export function addressOf(host: string): string {
  const name = hostnameOf(host);
  return name.startsWith('[') ? name.slice(1, -1) : name;
}
