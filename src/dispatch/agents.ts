/**
 * The undici Agents behind the pools, one per distinct set of pool options. Which Agent: Node's own fetch
 * speaks the dispatcher interface of the undici bundled with Node. Its own `Agent` class (reached through
 * the default global dispatcher, which is one) drives Node's fetch with no adapter, measured at native
 * fetch's speed. npm undici 8's `Agent` behind `Dispatcher1Wrapper` (measured 3-9% slower, BENCHMARKS.md)
 * is only built when Node's class cannot be found, which happens when the global dispatcher was not
 * Node's default at load; calls then go to that dispatcher (see `hasAppGlobalDispatcher`), so those
 * pools only keep the interface whole.
 */
import { sameFields } from '../options/compare.ts';
import type { HostPolicy } from '../options/resolved.ts';
import { NodeAgent as NodeAgentClass } from './global.ts';
import { Dispatcher1Wrapper, ProxyAgent, Agent as Undici8Agent } from './undici.ts';

/** One origin's pool counters, as undici's `PoolStats` reports them. */
export interface PoolCounters {
  readonly connected: number;
  readonly free: number;
  readonly pending: number;
  readonly running: number;
  readonly size: number;
}

/** The subset of an undici Agent (either version) we use. */
export interface AgentLike {
  dispatch(opts: unknown, handler: unknown): boolean;
  /** Absent on undici's ProxyAgent. */
  readonly stats: Record<string, PoolCounters> | undefined;
  close(): Promise<void>;
  destroy(error: Error): Promise<void>;
}
type AgentClass = new (options: object) => AgentLike;

// Node's own Agent class (undefined when the global dispatcher was not Node's default at load).
export const NodeAgent = NodeAgentClass as AgentClass | undefined;

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
    maxHeaderSize: pool.maxHeaderSize,
  };
}

export interface Entry {
  /** What Node's fetch dispatches to. */
  readonly dispatcher: AgentLike;
  /** The Agent itself (stats, close, destroy). */
  readonly agent: AgentLike;
}

export function createEntry(pool: HostPolicy['pool'], lookup: unknown): Entry {
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

export type PoolPolicy = HostPolicy['pool'];

/** True when two resolved pool groups would build the same Agent. */
export const samePoolOptions = (a: PoolPolicy, b: PoolPolicy): boolean =>
  a === b || (sameFields({ ...a, tls: undefined }, { ...b, tls: undefined }) && sameFields(a.tls, b.tls));
