/**
 * Per-origin undici pools. undici's `Agent` is the per-origin registry (a pool created lazily per origin
 * in a `Map`, dropped once its last connection is gone); we give it our pool options (`agents.ts`), one
 * Agent per distinct set of them, route each origin to its Agent, and drain, close or destroy them all.
 */
import { hostOfOrigin } from '../hosts/key.ts';
import type { HostTable } from '../hosts/patterns.ts';
import type { HostPolicy, ResolvedOptions } from '../options/resolved.ts';
import {
  createEntry,
  type Entry,
  NodeAgent,
  type PoolCounters,
  type PoolPolicy,
  samePoolOptions,
} from './agents.ts';
import { createCachingLookup } from './dns.ts';
import { markOwnDispatcher } from './own.ts';
import type { Dispatcher } from './undici.ts';

/** A snapshot of one origin's pool, as undici's `PoolStats` reports it. */
export interface OriginPoolStats {
  /** `hostname:port`: the unit every per-host feature of this library works on. */
  readonly host: string;
  /** Sockets connected to the origin. */
  readonly connected: number;
  /** Connected sockets with no request on them (keep-alive). */
  readonly free: number;
  /** Requests waiting for a socket. */
  readonly pending: number;
  /** Requests sent and waiting for, or reading, their response. */
  readonly running: number;
  /** `pending + running`. */
  readonly size: number;
}

export interface PoolSet {
  /** The dispatcher handed to Node's fetch as `init.dispatcher`. */
  readonly dispatcher: Dispatcher;
  /** One entry per origin that currently has a pool, keyed by origin (`http://host:port`). */
  stats(): Record<string, OriginPoolStats>;
  /** Resolves once every response has ended (or `signal` aborts) and every pool is closed. */
  close(signal: AbortSignal): Promise<void>;
  /** Ends every request at once with `error` and closes every socket. */
  destroy(error: Error): Promise<void>;
  /**
   * The host overrides changed: new calls are routed by the new options; an Agent whose pool options
   * no override wants any more is drained (its calls and bodies finish on it) and closed.
   */
  reconfigure(): void;
  /** Drops the remembered origin routes (they refill lazily): called when idle host state is swept. */
  forgetRoutes(): void;
}

/** `hostname:port` of a pool's origin (always http or https). */
const hostOf = (origin: string): string => hostOfOrigin(origin) ?? origin;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** How many origins' routes are remembered before the route cache starts over (it refills lazily). */
const maxRoutes = 4_096;

/** Adds one Agent's counters of `origin` to what `out` has for it. */
function addStats(out: Record<string, OriginPoolStats>, origin: string, s: PoolCounters): void {
  // One origin can have a pool in a draining Agent and in its successor: counted together.
  const prev = out[origin];
  out[origin] = {
    host: hostOf(origin),
    connected: s.connected + (prev?.connected ?? 0),
    free: s.free + (prev?.free ?? 0),
    pending: s.pending + (prev?.pending ?? 0),
    running: s.running + (prev?.running ?? 0),
    size: s.size + (prev?.size ?? 0),
  };
}

class Pools implements PoolSet {
  readonly dispatcher: Dispatcher;
  readonly #options: ResolvedOptions;
  readonly #table: HostTable<HostPolicy>;
  /** One DNS cache for every pool of the instance. */
  readonly #lookup: unknown;
  readonly #main: Entry;
  /**
   * Agents for override pool options, one per distinct set of options (not per host: undici's Agent
   * keeps one pool per origin inside it, and drops it once its last socket has closed).
   */
  #overrides: Array<{ readonly pool: PoolPolicy; readonly entry: Entry }> = [];
  /** Agents replaced by a live reconfiguration: their calls finish on them while they close. */
  readonly #draining = new Set<Entry>();
  readonly #routes = new Map<string, Entry>();

  constructor(options: ResolvedOptions, table: HostTable<HostPolicy>) {
    this.#options = options;
    this.#table = table;
    this.#lookup = options.dns ? createCachingLookup(options.dns, options.dns.lookup) : undefined;
    this.#main = createEntry(options.pool, this.#lookup);
    const dispatcher = {
      dispatch: (opts: { origin?: string | URL }, handler: unknown) =>
        (table.hasPoolOverrides() ? this.#entryFor(String(opts.origin)) : this.#main).dispatcher.dispatch(
          opts,
          handler,
        ),
    };
    // Node's own Agents speak the handler interface the fast transport uses, and so does undici 8's
    // Dispatcher1Wrapper (in front of a proxied pool): it is the interface Node's fetch speaks too.
    // Without Node's Agent class, calls go to somebody else's global dispatcher, never to these pools.
    if (NodeAgent) markOwnDispatcher(dispatcher);
    this.dispatcher = dispatcher as unknown as Dispatcher;
  }

  stats(): Record<string, OriginPoolStats> {
    const out: Record<string, OriginPoolStats> = {};
    for (const { agent } of this.#live()) {
      for (const [origin, s] of Object.entries(agent.stats ?? {})) addStats(out, origin, s);
    }
    return out;
  }

  reconfigure(): void {
    this.#routes.clear();
    // Pool options still wanted: the top level's and each override's.
    const wanted = [...this.#table.entries().values()].map((policy) => policy.pool);
    const kept = this.#overrides.filter((o) => wanted.some((pool) => samePoolOptions(pool, o.pool)));
    for (const old of this.#overrides) {
      if (kept.includes(old)) continue;
      // undici's close() lets the requests already on the Agent (and their bodies) finish, then closes
      // its sockets; nothing new is routed to it.
      this.#draining.add(old.entry);
      const done = () => this.#draining.delete(old.entry);
      old.entry.agent.close().then(done, done);
    }
    this.#overrides = kept;
  }

  forgetRoutes(): void {
    this.#routes.clear();
  }

  async close(signal: AbortSignal): Promise<void> {
    // undici's Agent.close() waits for responses itself, but it forgets its pools at once: a destroy()
    // after it can no longer reach a response that never ends. So we wait for the responses here
    // (polling the pools' own counters), and close only idle pools; a timeout destroys instead.
    while (this.#busy() && !signal.aborted) await sleep(25);
    if (signal.aborted) return;
    await Promise.all(this.#live().map((entry) => entry.agent.close()));
  }

  async destroy(error: Error): Promise<void> {
    await Promise.all(this.#live().map((entry) => entry.agent.destroy(error)));
  }

  #entryForPool(pool: PoolPolicy): Entry {
    if (samePoolOptions(pool, this.#options.pool)) return this.#main;
    let found = this.#overrides.find((o) => samePoolOptions(o.pool, pool));
    if (found === undefined) {
      found = { pool, entry: createEntry(pool, this.#lookup) };
      this.#overrides.push(found);
    }
    return found.entry;
  }

  #entryFor(origin: string): Entry {
    let entry = this.#routes.get(origin);
    if (entry === undefined) {
      entry = this.#entryForPool(this.#table.resolve(hostOf(origin)).pool);
      if (this.#routes.size >= maxRoutes) this.#routes.clear();
      this.#routes.set(origin, entry);
    }
    return entry;
  }

  #live(): Entry[] {
    return [this.#main, ...this.#overrides.map((o) => o.entry), ...this.#draining];
  }

  #busy(): boolean {
    return this.#live().some((entry) =>
      Object.values(entry.agent.stats ?? {}).some((s) => s.running > 0 || s.pending > 0),
    );
  }
}

export function createPools(options: ResolvedOptions, table: HostTable<HostPolicy>): PoolSet {
  return new Pools(options, table);
}
