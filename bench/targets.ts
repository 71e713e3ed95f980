/**
 * Issue 16's targets, judged at 16 concurrent on the median of paired per-round ratios: `met` when the
 * whole 95 % interval is at or above the line, `missed` when it is wholly below, `inconclusive` otherwise.
 */
import type { ClientId } from './lineup.ts';
import type { RouteId } from './routes.ts';

export interface TargetRow {
  readonly label: string;
  readonly client: ClientId;
  readonly against: ClientId;
  /**
   * The line per route: client / against, req/s. For SSE: against's CPU per stream / client's (the server
   * paces the events, so the time to the last event is the same for every client that keeps up; it is
   * reported in the SSE table, not judged).
   */
  readonly lines: Readonly<Partial<Record<RouteId, number>>>;
}

export const targetRows: readonly TargetRow[] = [
  {
    label: 'defaults, no SDK, vs native fetch',
    client: 'resilient',
    against: 'native',
    lines: { '64': 1.4, '4k': 1.3, '64k': 1.15, '1m': 1.0, sse: 1.0, post: 1.2 },
  },
  {
    label: 'defaults + SDK, vs native fetch',
    client: 'resilient-sdk',
    against: 'native',
    lines: { '64': 1.15, '4k': 1.1, '64k': 1.0, '1m': 1.0, sse: 1.0 },
  },
  {
    label: 'defaults + SDK, vs native fetch + instrumentation-undici + the same SDK',
    client: 'resilient-sdk',
    against: 'native-otel',
    lines: { '64': 1.3, '4k': 1.3, '64k': 1.3, '1m': 1.1, sse: 1.1 },
  },
];

/** Rows printed beside the targets, without a line: the Prometheus reader, and the ceiling. */
export const infoRows: readonly Omit<TargetRow, 'lines'>[] = [
  {
    label: 'defaults + SDK with the Prometheus reader, vs native fetch',
    client: 'resilient-prom',
    against: 'native',
  },
  {
    label: 'defaults + SDK with the Prometheus reader, vs native fetch + instrumentation-undici + SDK',
    client: 'resilient-prom',
    against: 'native-otel',
  },
  { label: 'undici request (the ceiling), vs native fetch', client: 'undici-request', against: 'native' },
];

/** Memory reading 1 MiB bodies at 16 concurrent: no higher than native fetch's (native / client >= 1.0). */
export const memoryTarget = { client: 'resilient', against: 'native', line: 1.0 } as const;

export type Verdict = 'met' | 'missed' | 'inconclusive';

export function verdictOf(low: number, high: number, line: number): Verdict {
  if (low >= line) return 'met';
  if (high < line) return 'missed';
  return 'inconclusive';
}
