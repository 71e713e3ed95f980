/**
 * Host patterns: which per-host override applies to a host (`hostname:port`). A pattern is an exact host
 * (`api.example.com:443`), a hostname (`api.example.com`, every port), a wildcard (`*.example.com`: every
 * subdomain at any depth, every port, not `example.com` itself) or a predicate function. Most specific
 * first: exact host > hostname > longest wildcard suffix > predicates in the order given. Only the most
 * specific match applies (overrides are not layered); it is merged over the top-level options.
 */
import type { HostPolicy } from './options.ts';

/** What a predicate pattern is given. */
export interface HostTarget {
  /** `hostname:port`, the host key of this library. */
  readonly host: string;
  /** As in `URL.hostname`, lower-case (`[::1]` for IPv6). */
  readonly hostname: string;
  readonly port: number;
}

/** A predicate pattern: true when its override applies to `target`. A throwing predicate does not match. */
export type HostPredicate = (target: HostTarget) => boolean;

/** `hostname:port`, `hostname`, `*.suffix`, or a predicate. */
export type HostPattern = string | HostPredicate;

export type PatternKind = 'host' | 'hostname' | 'suffix' | 'predicate';

// A label run as URL.hostname gives it (punycode, IPv4), or a bracketed IPv6 address.
const hostnamePattern = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_-]+(?:\.[a-z0-9_-]+)*)$/;

/**
 * The normalised form of a string pattern (lower-case, no trailing dot) and its kind; undefined when the
 * string is not a valid pattern.
 */
export function parsePattern(pattern: string): { key: string; kind: PatternKind } | undefined {
  let key = pattern.trim().toLowerCase();
  if (key.endsWith('.')) key = key.slice(0, -1);
  if (key.startsWith('*.')) {
    const suffix = key.slice(2);
    return hostnamePattern.test(suffix) && !suffix.startsWith('[') ? { key, kind: 'suffix' } : undefined;
  }
  const colon = key.lastIndexOf(':');
  if (colon > 0 && !key.endsWith(']')) {
    const name = key.slice(0, colon);
    const port = key.slice(colon + 1);
    const n = Number(port);
    if (!/^\d{1,5}$/.test(port) || n < 1 || n > 65_535 || !hostnamePattern.test(name)) return undefined;
    return { key: `${name}:${n}`, kind: 'host' };
  }
  return hostnamePattern.test(key) ? { key, kind: 'hostname' } : undefined;
}

export interface HostTable {
  /** The policy of `host` (`hostname:port`): the most specific override, else the top level. */
  resolve(host: string): HostPolicy;
  /** Sets (replaces) the override of `pattern`. A new predicate goes after the others. */
  set(pattern: HostPattern, policy: HostPolicy): void;
  /** Removes the override of `pattern`; false when there was none. */
  delete(pattern: HostPattern): boolean;
  /** The overrides, in the order given. */
  entries(): ReadonlyMap<HostPattern, HostPolicy>;
  /** True when some override has pool options of its own (so calls must be routed per host). */
  hasPoolOverrides(): boolean;
}

/** A table over `overrides` (keys already normalised by `parsePattern`, or predicates). */
export function createHostTable(top: HostPolicy, overrides: ReadonlyMap<HostPattern, HostPolicy>): HostTable {
  const all = new Map<HostPattern, HostPolicy>();
  const exact = new Map<string, HostPolicy>();
  const names = new Map<string, HostPolicy>();
  // '.example.com' for '*.example.com'.
  const suffixes = new Map<string, HostPolicy>();
  let predicates: Array<[HostPredicate, HostPolicy]> = [];
  let poolOverrides = 0;

  const mapOf = (pattern: HostPattern): Map<string, HostPolicy> | undefined => {
    if (typeof pattern === 'function') return undefined;
    const kind = parsePattern(pattern)?.kind;
    return kind === 'host' ? exact : kind === 'hostname' ? names : suffixes;
  };
  const storedKey = (pattern: string): string => (pattern.startsWith('*.') ? pattern.slice(1) : pattern);
  const normalise = (pattern: HostPattern): HostPattern =>
    typeof pattern === 'function' ? pattern : (parsePattern(pattern)?.key ?? pattern);

  const table: HostTable = {
    resolve(host) {
      if (all.size === 0) return top;
      const hit = exact.get(host);
      if (hit) return hit;
      const colon = host.lastIndexOf(':');
      const hostname = host.slice(0, colon);
      if (names.size > 0) {
        const named = names.get(hostname);
        if (named) return named;
      }
      if (suffixes.size > 0) {
        // Longest suffix first: '.b.example.com' before '.example.com'.
        for (let dot = hostname.indexOf('.'); dot !== -1; dot = hostname.indexOf('.', dot + 1)) {
          const found = suffixes.get(hostname.slice(dot));
          if (found) return found;
        }
      }
      if (predicates.length > 0) {
        const target: HostTarget = { host, hostname, port: Number(host.slice(colon + 1)) };
        for (const [predicate, policy] of predicates) {
          try {
            if (predicate(target) === true) return policy;
          } catch {
            // A throwing predicate does not match; it never breaks a request.
          }
        }
      }
      return top;
    },
    set(pattern, policy) {
      const key = normalise(pattern);
      const previous = all.get(key);
      if (previous && previous.pool !== top.pool) poolOverrides--;
      if (policy.pool !== top.pool) poolOverrides++;
      all.set(key, policy);
      if (typeof key === 'function') {
        const at = predicates.findIndex(([p]) => p === key);
        if (at === -1) predicates.push([key, policy]);
        else predicates[at] = [key, policy];
      } else {
        mapOf(key)?.set(storedKey(key), policy);
      }
    },
    delete(pattern) {
      const key = normalise(pattern);
      const previous = all.get(key);
      if (previous === undefined) return false;
      if (previous.pool !== top.pool) poolOverrides--;
      all.delete(key);
      if (typeof key === 'function') predicates = predicates.filter(([p]) => p !== key);
      else mapOf(key)?.delete(storedKey(key));
      return true;
    },
    entries: () => all,
    hasPoolOverrides: () => poolOverrides > 0,
  };
  for (const [pattern, policy] of overrides) table.set(pattern, policy);
  return table;
}
