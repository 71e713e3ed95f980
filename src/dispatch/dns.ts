/**
 * A caching DNS `lookup` for the pools' `connect` options. It keeps host identity: undici's own
 * `interceptors.dns` rewrites the origin to an IP before a pool is chosen, which breaks per-host pools, TLS
 * options (servername) and per-host metrics; a `lookup` given to `net.connect` resolves below all of them.
 *
 * Answers are kept `ttlMs` (bounded: no TTL comes back from `dns.lookup`, which reads /etc/hosts and the
 * system resolver); failures only `errorTtlMs`, so a host that comes back is seen soon; concurrent lookups
 * of one name share one query; at most `maxEntries` names are kept (oldest dropped first).
 */
import dns, { type LookupAddress, type LookupAllOptions, type LookupOptions } from 'node:dns';

export interface DnsCacheOptions {
  readonly ttlMs: number;
  readonly errorTtlMs: number;
  readonly maxEntries: number;
}

type Callback = (
  error: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;
type Resolver = (
  hostname: string,
  options: LookupAllOptions,
  callback: (e: NodeJS.ErrnoException | null, a: LookupAddress[]) => void,
) => void;

interface Entry {
  expires: number;
  addresses?: LookupAddress[];
  error?: NodeJS.ErrnoException;
  waiting?: Array<(entry: Entry) => void>;
}

type Lookup = (hostname: string, options: LookupOptions, callback: Callback) => void;

/** The `lookup` function `net.connect` accepts, with a cache in front of `resolve` (dns.lookup). */
export function createCachingLookup(
  options: DnsCacheOptions,
  resolve: Resolver = dns.lookup as unknown as Resolver,
): Lookup {
  return new DnsCache(options, resolve).lookup;
}

/** Answers an entry's waiter with the addresses of the wanted family (or the entry's error). */
function answer(entry: Entry, wanted: LookupOptions, callback: Callback): void {
  if (entry.error) {
    callback(entry.error, '');
    return;
  }
  const addresses = (entry.addresses ?? []).filter((a) => !wanted.family || a.family === wanted.family);
  if (addresses.length === 0) {
    const error: NodeJS.ErrnoException = Object.assign(new Error('no address of the requested family'), {
      code: 'ENOTFOUND',
    });
    callback(error, '');
    return;
  }
  if (wanted.all) {
    callback(null, addresses);
    return;
  }
  const first = addresses[0] as LookupAddress;
  callback(null, first.address, first.family);
}

class DnsCache {
  readonly #options: DnsCacheOptions;
  readonly #resolve: Resolver;
  readonly #cache = new Map<string, Entry>();
  #purgeScheduled = false;

  constructor(options: DnsCacheOptions, resolve: Resolver) {
    this.#options = options;
    this.#resolve = resolve;
  }

  readonly lookup: Lookup = (hostname, wanted, callback) => {
    const key = `${hostname}|${wanted.hints ?? 0}`;
    const cached = this.#cache.get(key);
    if (cached?.waiting) {
      cached.waiting.push((entry) => answer(entry, wanted, callback));
      return;
    }
    if (cached && cached.expires > Date.now()) {
      answer(cached, wanted, callback);
      return;
    }
    const entry = this.#start(key);
    const lookupOptions: LookupAllOptions = { all: true, ...(wanted.hints ? { hints: wanted.hints } : {}) };
    this.#resolve(hostname, lookupOptions, (error, addresses) => {
      const waiting = entry.waiting ?? [];
      delete entry.waiting;
      if (error) {
        entry.error = error;
        entry.expires = Date.now() + this.#options.errorTtlMs;
      } else {
        entry.addresses = addresses;
        entry.expires = Date.now() + this.#options.ttlMs;
      }
      answer(entry, wanted, callback);
      for (const resume of waiting) resume(entry);
    });
  };

  /** A new entry for `key`, waiting for its answer; the oldest name goes when the cache is full. */
  #start(key: string): Entry {
    const entry: Entry = { expires: Number.POSITIVE_INFINITY, waiting: [] };
    this.#cache.delete(key);
    this.#cache.set(key, entry);
    if (this.#cache.size > this.#options.maxEntries)
      this.#cache.delete(this.#cache.keys().next().value as string);
    this.#schedulePurge();
    return entry;
  }

  // Expired answers are dropped by an unref'd timer (every ttlMs while anything is cached), so that a
  // process that called many hosts once does not keep their answers: memory follows the hosts in use.
  #schedulePurge(): void {
    if (this.#purgeScheduled) return;
    this.#purgeScheduled = true;
    setTimeout(() => this.#purge(), this.#options.ttlMs).unref();
  }

  #purge(): void {
    this.#purgeScheduled = false;
    const now = Date.now();
    for (const [key, entry] of this.#cache) {
      if (entry.waiting === undefined && entry.expires <= now) this.#cache.delete(key);
    }
    if (this.#cache.size > 0) this.#schedulePurge();
  }
}
