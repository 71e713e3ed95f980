/**
 * The JSON of `GET <base>/health`: every host from `rfetch.health()` joined with its policy state and
 * pool from `rfetch.stats()`, and the verdict on the required hosts. Hosts only: no URL, path or query.
 */

import type { ResilientFetchStats } from '../client/types.ts';
import type { OriginPoolStats } from '../dispatch/pools.ts';
import { hostnameOf } from '../hosts/key.ts';
import type { HealthStatus, HostHealth, LatencySummary } from '../outcome/health.ts';
import type { RateLimitStats } from '../policies/pacing.ts';

/** The two methods of a resilientFetch instance the handler reads. */
export interface HealthSource {
  health(): HostHealth[];
  stats(): ResilientFetchStats;
}

/** A host's pool, summed over its origins (one per scheme that reached it). */
export type PoolReport = Omit<OriginPoolStats, 'host'>;

/** One host in the report. */
export interface HostReport {
  readonly host: string;
  readonly status: HealthStatus;
  readonly successRate: number | null;
  readonly calls: number;
  readonly successes: number;
  readonly failures: HostHealth['failures'];
  readonly timeouts: number;
  readonly retries: number;
  /** Retries the retry budget refused. */
  readonly retriesDenied: number;
  readonly latencyMs: LatencySummary | null;
  readonly lastRequestAt: number | null;
  readonly circuit: string;
  readonly rateLimit: RateLimitStats | null;
  /** null when the host has no live pool (none yet, or its sockets have closed). */
  readonly pool: PoolReport | null;
}

/** A name from `required` and the hosts it matched. */
export interface RequiredReport {
  readonly name: string;
  /** False when a matched host is FAILED or TIMEOUT; a name that matches no host yet is up. */
  readonly up: boolean;
  readonly hosts: readonly string[];
}

export interface HealthReport {
  /** `down` when a required host is FAILED or TIMEOUT (the response is then a 503). */
  readonly status: 'up' | 'down';
  /** Epoch ms the report was made. */
  readonly time: number;
  readonly client: {
    readonly state: ResilientFetchStats['state'];
    readonly inFlight: number;
    readonly queue: ResilientFetchStats['queue'];
  };
  readonly required: readonly RequiredReport[];
  readonly hosts: readonly HostReport[];
}

/** FAILED and TIMEOUT are down; HEALTHY, DEGRADED and UNKNOWN are up. */
export const isDown = (status: HealthStatus): boolean => status === 'FAILED' || status === 'TIMEOUT';

/** A required name matches its host key exactly, or, when it has no port, every port of that hostname. */
export const matchesRequired = (name: string, host: string): boolean =>
  name === host || name === hostnameOf(host);

function poolsByHost(pools: ResilientFetchStats['pools']): Map<string, PoolReport> {
  const out = new Map<string, PoolReport>();
  for (const { host, ...counts } of Object.values(pools)) {
    const prev = out.get(host);
    out.set(host, {
      connected: counts.connected + (prev?.connected ?? 0),
      free: counts.free + (prev?.free ?? 0),
      pending: counts.pending + (prev?.pending ?? 0),
      running: counts.running + (prev?.running ?? 0),
      size: counts.size + (prev?.size ?? 0),
    });
  }
  return out;
}

function hostReport(
  health: HostHealth,
  stats: ResilientFetchStats,
  pools: Map<string, PoolReport>,
): HostReport {
  const policy = stats.hosts[health.host];
  return {
    host: health.host,
    status: health.status,
    successRate: health.successRate,
    calls: health.calls,
    successes: health.successes,
    failures: health.failures,
    timeouts: health.timeouts,
    retries: health.retries,
    retriesDenied: policy?.retriesDenied ?? 0,
    latencyMs: health.latencyMs,
    lastRequestAt: health.lastRequestAt,
    circuit: health.circuit,
    rateLimit: policy?.rateLimit ?? null,
    pool: pools.get(health.host) ?? null,
  };
}

/** Every host the instance tracks, sorted by host key. */
export function hostReports(source: HealthSource, stats = source.stats()): HostReport[] {
  const pools = poolsByHost(stats.pools);
  return source
    .health()
    .map((health) => hostReport(health, stats, pools))
    .sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
}

/** The whole report: every host, and whether the required ones are up. */
export function healthReport(source: HealthSource, required: readonly string[]): HealthReport {
  const stats = source.stats();
  const hosts = hostReports(source, stats);
  const requiredReports = required.map((name): RequiredReport => {
    const matched = hosts.filter((h) => matchesRequired(name, h.host));
    return { name, up: !matched.some((h) => isDown(h.status)), hosts: matched.map((h) => h.host) };
  });
  return {
    status: requiredReports.every((r) => r.up) ? 'up' : 'down',
    time: Date.now(),
    client: { state: stats.state, inFlight: stats.inFlight, queue: stats.queue },
    required: requiredReports,
    hosts,
  };
}
