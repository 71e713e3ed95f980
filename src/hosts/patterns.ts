/**
 * Host patterns: which per-host override applies to a host (`hostname:port`). A pattern is an exact host
 * (`api.example.com:443`), a hostname (`api.example.com`, every port), a wildcard (`*.example.com`: every
 * subdomain at any depth, every port, not `example.com` itself) or a predicate function. Most specific
 * first: exact host > hostname > longest wildcard suffix > predicates in the order given. Only the most
 * specific match applies (overrides are not layered); it is merged over the top-level options.
 */
import { hostnameOf, portOf } from './key.ts';

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

/** The key a pattern is stored under: its normalised string, or the predicate itself. */
export const patternKey = (pattern: HostPattern): HostPattern =>
  typeof pattern === 'function' ? pattern : (parsePattern(pattern)?.key ?? pattern);

/** What a table holds per pattern: a policy with its pool options (compared by identity). */
interface Policy {
  readonly pool: object;
}

/**
 * The overrides by pattern, and the lookup of the one that applies to a host. Keys are normalised by
 * `patternKey`; `P` is the resolved policy type (options/), so this module knows nothing of options.
 */
export class HostTable<P extends Policy> {
  readonly #top: P;
  readonly #all = new Map<HostPattern, P>();
  readonly #exact = new Map<string, P>();
  readonly #names = new Map<string, P>();
  /** '.example.com' for '*.example.com'. */
  readonly #suffixes = new Map<string, P>();
  #predicates: Array<[HostPredicate, P]> = [];
  #poolOverrides = 0;

  /** A table over `overrides` (in the order given), on top of `top`. */
  constructor(top: P, overrides: ReadonlyMap<HostPattern, P>) {
    this.#top = top;
    for (const [pattern, policy] of overrides) this.set(pattern, policy);
  }

  /** The policy of `host` (`hostname:port`): the most specific override, else the top level. */
  resolve(host: string): P {
    if (this.#all.size === 0) return this.#top;
    const hit = this.#exact.get(host);
    if (hit) return hit;
    const hostname = hostnameOf(host);
    return (
      this.#byName(hostname) ?? this.#bySuffix(hostname) ?? this.#byPredicate(host, hostname) ?? this.#top
    );
  }

  /** Sets (replaces) the override of `pattern`. A new predicate goes after the others. */
  set(pattern: HostPattern, policy: P): void {
    const key = patternKey(pattern);
    const previous = this.#all.get(key);
    if (previous && previous.pool !== this.#top.pool) this.#poolOverrides--;
    if (policy.pool !== this.#top.pool) this.#poolOverrides++;
    this.#all.set(key, policy);
    if (typeof key === 'function') {
      const at = this.#predicates.findIndex(([p]) => p === key);
      if (at === -1) this.#predicates.push([key, policy]);
      else this.#predicates[at] = [key, policy];
    } else {
      this.#mapOf(key).set(storedKey(key), policy);
    }
  }

  /** Removes the override of `pattern`; false when there was none. */
  delete(pattern: HostPattern): boolean {
    const key = patternKey(pattern);
    const previous = this.#all.get(key);
    if (previous === undefined) return false;
    if (previous.pool !== this.#top.pool) this.#poolOverrides--;
    this.#all.delete(key);
    if (typeof key === 'function') this.#predicates = this.#predicates.filter(([p]) => p !== key);
    else this.#mapOf(key).delete(storedKey(key));
    return true;
  }

  /** The overrides, in the order given. */
  entries(): ReadonlyMap<HostPattern, P> {
    return this.#all;
  }

  /** True when some override has pool options of its own (so calls must be routed per host). */
  hasPoolOverrides(): boolean {
    return this.#poolOverrides > 0;
  }

  #mapOf(pattern: string): Map<string, P> {
    const kind = parsePattern(pattern)?.kind;
    return kind === 'host' ? this.#exact : kind === 'hostname' ? this.#names : this.#suffixes;
  }

  #byName(hostname: string): P | undefined {
    return this.#names.size > 0 ? this.#names.get(hostname) : undefined;
  }

  /** Longest suffix first: '.b.example.com' before '.example.com'. */
  #bySuffix(hostname: string): P | undefined {
    if (this.#suffixes.size === 0) return undefined;
    for (let dot = hostname.indexOf('.'); dot !== -1; dot = hostname.indexOf('.', dot + 1)) {
      const found = this.#suffixes.get(hostname.slice(dot));
      if (found) return found;
    }
    return undefined;
  }

  #byPredicate(host: string, hostname: string): P | undefined {
    if (this.#predicates.length === 0) return undefined;
    const target: HostTarget = { host, hostname, port: portOf(host) };
    for (const [predicate, policy] of this.#predicates) {
      try {
        if (predicate(target) === true) return policy;
      } catch {
        // A throwing predicate does not match; it never breaks a request.
      }
    }
    return undefined;
  }
}

const storedKey = (pattern: string): string => (pattern.startsWith('*.') ? pattern.slice(1) : pattern);
