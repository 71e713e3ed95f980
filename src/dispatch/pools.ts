/**
 * Per-origin undici pools. undici's `Agent` is the per-origin registry (a pool created lazily per origin in
 * a `Map`, dropped once its last connection is gone); we give it our pool options.
 *
 * Which Agent: Node's own fetch speaks the dispatcher interface of the undici bundled with Node. Its own
 * `Agent` class (reached through the default global dispatcher, which is one) drives Node's fetch with no
 * adapter, measured at native fetch's speed. npm undici 8's `Agent` behind `Dispatcher1Wrapper` (measured
 * 3-9% slower, BENCHMARKS.md) is only built when Node's class cannot be found, which happens when the
 * global dispatcher was not Node's default at load; calls then go to that dispatcher (see
 * `hasAppGlobalDispatcher`), so those pools only keep the interface whole.
 */

import { hostOfOrigin } from '../hosts/key.ts';
import type { HostTable } from '../hosts/patterns.ts';
import type { HostPolicy, ResolvedOptions } from '../options/resolved.ts';
import { createCachingLookup } from './dns.ts';
import { NodeAgent as NodeAgentClass } from './global.ts';
import { markOwnDispatcher } from './own.ts';
import { type Dispatcher, Dispatcher1Wrapper, ProxyAgent, Agent as Undici8Agent } from './undici.ts';

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

/** The subset of an undici Agent (either version) we use. */
interface AgentLike {
  dispatch(opts: unknown, handler: unknown): boolean;
  /** Absent on undici's ProxyAgent. */
  readonly stats: Record<string, Omit<OriginPoolStats, 'host'>> | undefined;
  close(): Promise<void>;
  destroy(error: Error): Promise<void>;
}
type AgentClass = new (options: object) => AgentLike;

// Node's own Agent class (undefined when the global dispatcher was not Node's default at load).
const NodeAgent = NodeAgentClass as AgentClass | undefined;

function agentOptions(pool: HostPolicy['pool'], lookup: unknown): object {
  return {
    connect: { ...pool.tls, ...(lookup ? { lookup } : {}) },
    allowH2: pool.allowH2,
    connections: pool.connections,
    // undici keeps a socket for the server's `Keep-Alive: timeout` hint, capped at keepAliveMaxTimeout,
    // or for keepAliveTimeout when there is no hint: both set to our value, a socket is kept no longer
    // than we were asked and no longer than the server keeps it.
    keepAliveTimeout: pool.keepAliveTimeoutMs,
    keepAliveMaxTimeout: pool.keepAliveTimeoutMs,
    connectTimeout: pool.connectTimeoutMs,
    headersTimeout: pool.headersTimeoutMs,
    bodyTimeout: pool.bodyTimeoutMs,
  };
}

interface Entry {
  /** What Node's fetch dispatches to. */
  readonly dispatcher: AgentLike;
  /** The Agent itself (stats, close, destroy). */
  readonly agent: AgentLike;
}

function createEntry(pool: HostPolicy['pool'], lookup: unknown): Entry {
  if (pool.proxy) return createProxyEntry(pool, pool.proxy, lookup);
  if (NodeAgent) {
    const agent = new NodeAgent(agentOptions(pool, lookup));
    return { dispatcher: agent, agent };
  }
  const agent = new Undici8Agent(agentOptions(pool, lookup)) as unknown as AgentLike;
  return { dispatcher: new Dispatcher1Wrapper(agent as never) as unknown as AgentLike, agent };
}

/**
 * A pool behind an HTTP proxy. Node's bundled undici does not expose its ProxyAgent class, so this is npm
 * undici 8's, behind `Dispatcher1Wrapper` (HTTP/1.1 only; measured 3-9% slower than Node's own Agent).
 * Every request is tunnelled with CONNECT (`proxyTunnel`), as Node's fetch does with its env proxy; the
 * DNS cache resolves the proxy's name, the target's TLS options apply inside the tunnel.
 */
function createProxyEntry(pool: HostPolicy['pool'], uri: string, lookup: unknown): Entry {
  const {
    connect: _direct,
    allowH2: _h2,
    ...options
  } = agentOptions(pool, lookup) as Record<string, unknown>;
  const proxy = new ProxyAgent({
    ...options,
    uri,
    proxyTunnel: true,
    requestTls: { ...pool.tls },
    ...(lookup ? { proxyTls: { lookup } } : {}),
  } as ConstructorParameters<typeof ProxyAgent>[0]);
  // ProxyAgent reports no stats; the Agent inside it (one pool per target origin) does. Without them,
  // close() could not see the responses still flowing through the proxy.
  const key = Object.getOwnPropertySymbols(proxy).find((k) => k.description === 'proxy agent');
  const inner = key && (proxy as unknown as Record<symbol, AgentLike | undefined>)[key];
  const agent: AgentLike = {
    dispatch: (opts, handler) => proxy.dispatch(opts as never, handler as never),
    get stats() {
      return inner?.stats;
    },
    close: () => proxy.close(),
    destroy: (error) => proxy.destroy(error),
  };
  return { dispatcher: new Dispatcher1Wrapper(proxy) as unknown as AgentLike, agent };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

type PoolPolicy = HostPolicy['pool'];

/** Equal option values: primitives, Buffers (by bytes) and arrays of them (TLS `ca`, `cert`, `key`). */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  return false;
}

const sameFields = (a: object, b: object): boolean => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) =>
    sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
};

/** True when two resolved pool groups would build the same Agent. */
export const samePoolOptions = (a: PoolPolicy, b: PoolPolicy): boolean =>
  a === b || (sameFields({ ...a, tls: undefined }, { ...b, tls: undefined }) && sameFields(a.tls, b.tls));

/** How many origins' routes are remembered before the route cache starts over (it refills lazily). */
const maxRoutes = 4_096;

export function createPools(options: ResolvedOptions, table: HostTable<HostPolicy>): PoolSet {
  // One DNS cache for every pool of the instance.
  const lookup = options.dns ? createCachingLookup(options.dns, options.dns.lookup) : undefined;
  const main = createEntry(options.pool, lookup);
  // Agents for override pool options, one per distinct set of options (not per host: undici's Agent
  // keeps one pool per origin inside it, and drops it once its last socket has closed).
  let overrides: Array<{ readonly pool: PoolPolicy; readonly entry: Entry }> = [];
  // Agents replaced by a live reconfiguration: their calls finish on them while they close.
  const draining = new Set<Entry>();
  const routes = new Map<string, Entry>();

  const entryForPool = (pool: PoolPolicy): Entry => {
    if (samePoolOptions(pool, options.pool)) return main;
    let found = overrides.find((o) => samePoolOptions(o.pool, pool));
    if (found === undefined) {
      found = { pool, entry: createEntry(pool, lookup) };
      overrides.push(found);
    }
    return found.entry;
  };
  const entryFor = (origin: string): Entry => {
    let entry = routes.get(origin);
    if (entry === undefined) {
      entry = entryForPool(table.resolve(hostOf(origin)).pool);
      if (routes.size >= maxRoutes) routes.clear();
      routes.set(origin, entry);
    }
    return entry;
  };
  const dispatcher = {
    dispatch: (opts: { origin?: string | URL }, handler: unknown) =>
      (table.hasPoolOverrides() ? entryFor(String(opts.origin)) : main).dispatcher.dispatch(opts, handler),
  };

  const live = (): Entry[] => [main, ...overrides.map((o) => o.entry), ...draining];
  const busy = () =>
    live().some((entry) =>
      Object.values(entry.agent.stats ?? {}).some((s) => s.running > 0 || s.pending > 0),
    );

  // Node's own Agents speak the handler interface the fast transport uses, and so does undici 8's
  // Dispatcher1Wrapper (in front of a proxied pool): it is the interface Node's fetch speaks too. Without
  // Node's Agent class, calls go to somebody else's global dispatcher, never to these pools.
  if (NodeAgent) markOwnDispatcher(dispatcher);
  return {
    dispatcher: dispatcher as unknown as Dispatcher,
    stats() {
      const out: Record<string, OriginPoolStats> = {};
      for (const { agent } of live()) {
        for (const [origin, s] of Object.entries(agent.stats ?? {})) {
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
      }
      return out;
    },
    reconfigure() {
      routes.clear();
      // Pool options still wanted: the top level's and each override's.
      const wanted = [...table.entries().values()].map((policy) => policy.pool);
      const kept = overrides.filter((o) => wanted.some((pool) => samePoolOptions(pool, o.pool)));
      for (const old of overrides) {
        if (kept.includes(old)) continue;
        // undici's close() lets the requests already on the Agent (and their bodies) finish, then closes
        // its sockets; nothing new is routed to it.
        draining.add(old.entry);
        old.entry.agent.close().then(
          () => draining.delete(old.entry),
          () => draining.delete(old.entry),
        );
      }
      overrides = kept;
    },
    forgetRoutes() {
      routes.clear();
    },
    async close(signal) {
      // undici's Agent.close() waits for responses itself, but it forgets its pools at once: a destroy()
      // after it can no longer reach a response that never ends. So we wait for the responses here
      // (polling the pools' own counters), and close only idle pools; a timeout destroys instead.
      while (busy() && !signal.aborted) await sleep(25);
      if (signal.aborted) return;
      await Promise.all(live().map((entry) => entry.agent.close()));
    },
    async destroy(error) {
      await Promise.all(live().map((entry) => entry.agent.destroy(error)));
    },
  };
}
