/**
 * Per-origin undici pools. undici's `Agent` is the per-origin registry (created lazily in a `Map`, a pool
 * dropped once its last connection is gone, all closed together); we give it our pool options and the
 * wrapper that lets Node's built-in fetch drive undici 8 dispatchers.
 */

import type { ResolvedOptions } from './options.ts';
import { Agent, type Dispatcher, Dispatcher1Wrapper, Pool } from './undici.ts';

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
  /** Resolves once every request has finished and every pool is closed. */
  close(): Promise<void>;
  /** Ends every request at once with `error` and closes every socket. */
  destroy(error: Error): Promise<void>;
}

const defaultPorts: Record<string, string> = { 'http:': '80', 'https:': '443' };

/** `hostname:port` of an origin string, with the scheme's default port filled in. */
export function hostOf(origin: string): string {
  const url = new URL(origin);
  return `${url.hostname}:${url.port || defaultPorts[url.protocol] || ''}`;
}

export function createPools(options: ResolvedOptions['pool']): PoolSet {
  // Agent.close() forgets its pools at once, so a later Agent.destroy() cannot reach a pool still waiting
  // for a response that never ends. We keep our own set of pools so destroy() reaches every one. A pool
  // the Agent dropped ends destroyed (undici's close() finishes with destroy()); such pools are pruned
  // whenever the set has doubled since the last prune, so the set stays within twice the live pools.
  const live = new Set<Pool>();
  let pruneAt = 64;
  const prune = () => {
    for (const pool of live) if (pool.destroyed) live.delete(pool);
    pruneAt = Math.max(64, live.size * 2);
  };
  const factory = (origin: string | URL, opts: object) => {
    if (live.size >= pruneAt) prune();
    const pool = new Pool(origin, opts);
    live.add(pool);
    return pool;
  };
  const agent = new Agent({
    factory,
    connections: options.connections,
    // undici keeps a socket for the server's `Keep-Alive: timeout` hint, capped at keepAliveMaxTimeout,
    // or for keepAliveTimeout when there is no hint: both set to our value, a socket is kept no longer
    // than we were asked and no longer than the server keeps it.
    keepAliveTimeout: options.keepAliveTimeoutMs,
    keepAliveMaxTimeout: options.keepAliveTimeoutMs,
    connectTimeout: options.connectTimeoutMs,
    headersTimeout: options.headersTimeoutMs,
    bodyTimeout: options.bodyTimeoutMs,
  });
  // Node's built-in fetch (bundled undici 7) speaks the v1 handler API; undici 8 dispatchers speak v2.
  const dispatcher = new Dispatcher1Wrapper(agent);

  return {
    dispatcher,
    stats() {
      const out: Record<string, OriginPoolStats> = {};
      for (const [origin, s] of Object.entries(agent.stats)) {
        // Agent.stats is typed loosely (Client or Pool stats); pools are what we create.
        const pool = s as unknown as Omit<OriginPoolStats, 'host'>;
        out[origin] = {
          host: hostOf(origin),
          connected: pool.connected,
          free: pool.free,
          pending: pool.pending,
          running: pool.running,
          size: pool.size,
        };
      }
      return out;
    },
    close: () => agent.close(),
    async destroy(error) {
      const pools = [...live];
      live.clear();
      await Promise.all([agent.destroy(error), ...pools.map((pool) => pool.destroy(error))]);
    },
  };
}
