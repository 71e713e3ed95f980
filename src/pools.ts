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
import { createCachingLookup } from './dns.ts';
import type { HostPolicy, ResolvedOptions } from './options.ts';
import { markOwnDispatcher } from './own-dispatchers.ts';
import { type Dispatcher, Dispatcher1Wrapper, Agent as Undici8Agent } from './undici.ts';

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
}

const defaultPorts: Record<string, string> = { 'http:': '80', 'https:': '443' };

/**
 * `hostname:port` of an http(s) URL, the scheme's default port filled in: the one host key of this
 * library. Undefined for any other scheme or an unparsable URL.
 */
export function hostOfUrl(href: string): string | undefined {
  const url = URL.parse(href);
  if (url === null) return undefined;
  const port = url.port || defaultPorts[url.protocol];
  return port === undefined ? undefined : `${url.hostname}:${port}`;
}

/** `hostname:port` of a pool's origin (always http or https). */
const hostOf = (origin: string): string => hostOfUrl(origin) ?? origin;

/** The subset of an undici Agent (either version) we use. */
interface AgentLike {
  dispatch(opts: unknown, handler: unknown): boolean;
  readonly stats: Record<string, Omit<OriginPoolStats, 'host'>>;
  close(): Promise<void>;
  destroy(error: Error): Promise<void>;
}
type AgentClass = new (options: object) => AgentLike;

/** Node's own undici Agent class, found through the default global dispatcher; undefined if replaced. */
function findNodeAgent(): AgentClass | undefined {
  const current = (globalThis as unknown as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')];
  if (typeof current !== 'object' || current === null) return undefined;
  if (current instanceof Undici8Agent || current instanceof Dispatcher1Wrapper) return undefined;
  const ctor = (current as { constructor?: unknown }).constructor as AgentClass & { name?: string };
  return ctor?.name === 'Agent' && 'stats' in current ? ctor : undefined;
}

// Resolved once, at load: './undici.ts' has made Node fill the slot with its default Agent.
const NodeAgent = findNodeAgent();

/**
 * Whether the global dispatcher found at load is Node's own default (a plain Agent of Node's undici). If it
 * is anything else, somebody chose it before resilient-fetch loaded: Node itself for
 * `NODE_USE_ENV_PROXY` (an EnvHttpProxyAgent), or the app (a ProxyAgent, a MockAgent, an undici 8 Agent).
 * That choice is respected, as Node's fetch would respect it.
 */
export const isDefaultGlobalDispatcherNodes = NodeAgent !== undefined;

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
  if (NodeAgent) {
    const agent = new NodeAgent(agentOptions(pool, lookup));
    return { dispatcher: agent, agent };
  }
  const agent = new Undici8Agent(agentOptions(pool, lookup)) as unknown as AgentLike;
  return { dispatcher: new Dispatcher1Wrapper(agent as never) as unknown as AgentLike, agent };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function createPools(options: ResolvedOptions, policyFor: (host: string) => HostPolicy): PoolSet {
  // One DNS cache for every pool of the instance.
  const lookup = options.dns ? createCachingLookup(options.dns, options.dns.lookup) : undefined;
  const main = createEntry(options.pool, lookup);
  const entries: Entry[] = [main];
  // Hosts whose pool options differ from the top level get an Agent of their own, keyed by host.
  const hasOverrides = [...options.hosts.values()].some((policy) => policy.pool !== options.pool);
  const byOrigin = new Map<string, Entry>();
  const byHost = new Map<string, Entry>();
  const entryFor = (origin: string): Entry => {
    let entry = byOrigin.get(origin);
    if (entry === undefined) {
      const host = hostOf(origin);
      const policy = policyFor(host);
      if (policy.pool === options.pool) entry = main;
      else {
        entry = byHost.get(host) ?? createEntry(policy.pool, lookup);
        if (!byHost.has(host)) {
          byHost.set(host, entry);
          entries.push(entry);
        }
      }
      byOrigin.set(origin, entry);
    }
    return entry;
  };
  const router = {
    dispatch: (opts: { origin?: string | URL }, handler: unknown) =>
      entryFor(String(opts.origin)).dispatcher.dispatch(opts, handler),
  };

  const busy = () =>
    entries.some((entry) => Object.values(entry.agent.stats).some((s) => s.running > 0 || s.pending > 0));

  const dispatcher = hasOverrides ? router : main.dispatcher;
  // Node's own Agents speak the handler interface the fast transport uses; the undici 8 fallback does not.
  if (NodeAgent) markOwnDispatcher(dispatcher);
  return {
    dispatcher: dispatcher as unknown as Dispatcher,
    stats() {
      const out: Record<string, OriginPoolStats> = {};
      for (const { agent } of entries) {
        for (const [origin, s] of Object.entries(agent.stats)) {
          const { connected, free, pending, running, size } = s;
          out[origin] = { host: hostOf(origin), connected, free, pending, running, size };
        }
      }
      return out;
    },
    async close(signal) {
      // undici's Agent.close() waits for responses itself, but it forgets its pools at once: a destroy()
      // after it can no longer reach a response that never ends. So we wait for the responses here
      // (polling the pools' own counters), and close only idle pools; a timeout destroys instead.
      while (busy() && !signal.aborted) await sleep(25);
      if (signal.aborted) return;
      await Promise.all(entries.map((entry) => entry.agent.close()));
    },
    async destroy(error) {
      await Promise.all(entries.map((entry) => entry.agent.destroy(error)));
    },
  };
}
