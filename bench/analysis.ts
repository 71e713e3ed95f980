/**
 * The figures of `npm run bench`, computed from the rounds as measured: per-client summaries, paired
 * per-round ratios with their 95 % bootstrap interval, the verdicts on issue 16's targets, the in-process
 * against per-process comparison and the memory figures. Formatting lives in bench/report.ts.
 */
import type { ClientId } from './lineup.ts';
import type { RouteId } from './routes.ts';
import { bootstrapMedianInterval, median, type Spread, spreadOf } from './stats.ts';
import { infoRows, memoryTarget, type TargetRow, targetRows, type Verdict, verdictOf } from './targets.ts';
import type { MemorySample } from './worker.ts';

/** Each client in a process of its own (the headline), or several clients sharing one process. */
export type Mode = 'per-process' | 'in-process';

/** One run of one client in one round, as the coordinator recorded it. */
export interface RoundSample {
  /** Calls made (for SSE: streams). */
  readonly requests: number;
  /** Wall time of the run (for SSE: to the last event of the last stream). */
  readonly elapsedMs: number;
  /** The client process's CPU time during the run, and flushing the spans it left (SDK clients). */
  readonly cpuUs: number;
  readonly flushCpuUs: number;
  /** CPU time of the upstream and of the telemetry receiver during the run. */
  readonly serverCpuUs: number;
  readonly receiverCpuUs: number;
  /** SSE only: each stream's time to its last event. */
  readonly streamMs?: readonly number[] | undefined;
}

export interface SlotResult {
  readonly client: ClientId;
  readonly mode: Mode;
  readonly rounds: readonly RoundSample[];
  /** Latency pooled over every call of every round (concurrency 1 only). */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

export interface CellResult {
  readonly route: RouteId;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly slots: readonly SlotResult[];
}

export const rateOf = (r: RoundSample): number => r.requests / (r.elapsedMs / 1000);
export const cpuPerCallOf = (r: RoundSample): number => (r.cpuUs + r.flushCpuUs) / r.requests;

export interface Interval {
  readonly low: number;
  readonly high: number;
}

/** `a` against `b` in the same rounds: req/s a / b, and CPU per call b / a (read like a speed-up). */
export interface Comparison {
  readonly rounds: number;
  readonly ratio: Spread;
  readonly interval: Interval;
  readonly cpuRatio: Spread;
  readonly cpuInterval: Interval;
}

function pairs(a: SlotResult, b: SlotResult, f: (x: RoundSample, y: RoundSample) => number): number[] {
  return a.rounds.flatMap((x, i) => {
    const y = b.rounds[i];
    return y ? [f(x, y)] : [];
  });
}

export function compare(a: SlotResult, b: SlotResult): Comparison | null {
  const ratios = pairs(a, b, (x, y) => rateOf(x) / rateOf(y));
  if (ratios.length === 0) return null;
  const cpuRatios = pairs(a, b, (x, y) => cpuPerCallOf(y) / cpuPerCallOf(x));
  return {
    rounds: ratios.length,
    ratio: spreadOf(ratios),
    interval: bootstrapMedianInterval(ratios),
    cpuRatio: spreadOf(cpuRatios),
    cpuInterval: bootstrapMedianInterval(cpuRatios),
  };
}

export function slotOf(
  cell: CellResult,
  client: ClientId,
  mode: Mode = 'per-process',
): SlotResult | undefined {
  return cell.slots.find((s) => s.client === client && s.mode === mode);
}

export function cellOf(
  cells: readonly CellResult[],
  route: RouteId,
  concurrency: number,
): CellResult | undefined {
  return cells.find((c) => c.route === route && c.concurrency === concurrency);
}

export interface SlotSummary {
  readonly client: ClientId;
  readonly mode: Mode;
  readonly rate: Spread;
  /** For SSE, each round's time to the last event, in ms. */
  readonly elapsedMs: Spread;
  readonly cpuPerCallUs: Spread;
  /** Against native fetch of the same mode; null for native fetch itself. */
  readonly vsNative: Comparison | null;
  readonly serverCpuPercent: number;
  readonly receiverCpuPercent: number;
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
}

const percentOfCore = (us: number, ms: number): number => (us / (ms * 1000)) * 100;

export function summariseCell(cell: CellResult): SlotSummary[] {
  return cell.slots.map((slot) => {
    const native = slotOf(cell, 'native', slot.mode);
    return {
      client: slot.client,
      mode: slot.mode,
      rate: spreadOf(slot.rounds.map(rateOf)),
      elapsedMs: spreadOf(slot.rounds.map((r) => r.elapsedMs)),
      cpuPerCallUs: spreadOf(slot.rounds.map(cpuPerCallOf)),
      vsNative: native && native !== slot ? compare(slot, native) : null,
      serverCpuPercent: median(slot.rounds.map((r) => percentOfCore(r.serverCpuUs, r.elapsedMs))),
      receiverCpuPercent: median(slot.rounds.map((r) => percentOfCore(r.receiverCpuUs, r.elapsedMs))),
      p50Ms: slot.p50Ms,
      p99Ms: slot.p99Ms,
    };
  });
}

/** The concurrency targets are judged at. */
export const targetConcurrency = 16;

export interface Judgement {
  readonly row: string;
  readonly route: RouteId;
  readonly client: ClientId;
  readonly against: ClientId;
  /** The target's line; null for the rows printed without one. */
  readonly line: number | null;
  readonly comparison: Comparison | null;
  readonly verdict: Verdict | 'not measured' | null;
}

function judge(
  cells: readonly CellResult[],
  row: Omit<TargetRow, 'lines'>,
  route: RouteId,
  line: number | null,
): Judgement {
  const cell = cellOf(cells, route, targetConcurrency);
  const a = cell && slotOf(cell, row.client);
  const b = cell && slotOf(cell, row.against);
  const measured = a && b ? compare(a, b) : null;
  // The SSE server paces its events (one a millisecond), so every client that keeps up reaches the last
  // event at the same time (1.00x whatever it costs): an SSE line is judged on client CPU per stream.
  const comparison =
    measured && route === 'sse'
      ? { ...measured, ratio: measured.cpuRatio, interval: measured.cpuInterval }
      : measured;
  const verdict =
    line === null
      ? null
      : comparison
        ? verdictOf(comparison.interval.low, comparison.interval.high, line)
        : 'not measured';
  return { row: row.label, route, client: row.client, against: row.against, line, comparison, verdict };
}

/** Every target of issue 16 (the 16 KiB POST included) with its verdict. */
export function judgeTargets(cells: readonly CellResult[]): Judgement[] {
  return targetRows.flatMap((row) =>
    (Object.entries(row.lines) as [RouteId, number][]).map(([route, line]) => judge(cells, row, route, line)),
  );
}

/** The rows without a target, for every route measured at 16 concurrent. */
export function judgeInfo(cells: readonly CellResult[]): Judgement[] {
  const measured = cells.filter((c) => c.concurrency === targetConcurrency).map((c) => c.route);
  return infoRows.flatMap((row) => measured.map((route) => judge(cells, row, route, null)));
}

/** For one client and route: its ratio to native fetch per process and in one process, and how they differ. */
export interface ModeComparison {
  readonly route: RouteId;
  readonly client: ClientId;
  readonly perProcess: Comparison;
  readonly inProcess: Comparison;
  /** Per round: (in-process ratio) / (per-process ratio). 1.0 means the two modes agree. */
  readonly ratioOfRatios: { readonly median: number } & Interval;
  /** Per round: the client's own req/s in one process / in its own process; the same for native fetch. */
  readonly clientItself: { readonly median: number } & Interval;
  readonly nativeItself: { readonly median: number } & Interval;
  /** Median CPU per call, µs: the client and native fetch, in each mode. */
  readonly cpuUs: {
    readonly clientPerProcess: number;
    readonly clientInProcess: number;
    readonly nativePerProcess: number;
    readonly nativeInProcess: number;
  };
}

const medianWithInterval = (values: readonly number[]) => ({
  median: median(values),
  ...bootstrapMedianInterval(values),
});

export function compareModes(cells: readonly CellResult[]): ModeComparison[] {
  return cells.flatMap((cell) => {
    const nativePp = slotOf(cell, 'native');
    const nativeIp = slotOf(cell, 'native', 'in-process');
    if (!nativePp || !nativeIp) return [];
    return cell.slots.flatMap((ip) => {
      const pp = slotOf(cell, ip.client);
      if (ip.mode !== 'in-process' || ip.client === 'native' || !pp) return [];
      const perProcess = compare(pp, nativePp);
      const inProcess = compare(ip, nativeIp);
      if (!perProcess || !inProcess) return [];
      const ratioOfRatios = ip.rounds.flatMap((x, i) => {
        const [y, nx, ny] = [pp.rounds[i], nativeIp.rounds[i], nativePp.rounds[i]];
        return y && nx && ny ? [rateOf(x) / rateOf(nx) / (rateOf(y) / rateOf(ny))] : [];
      });
      const medianCpu = (slot: SlotResult) => median(slot.rounds.map(cpuPerCallOf));
      return [
        {
          route: cell.route,
          client: ip.client,
          perProcess,
          inProcess,
          ratioOfRatios: medianWithInterval(ratioOfRatios),
          clientItself: medianWithInterval(pairs(ip, pp, (x, y) => rateOf(x) / rateOf(y))),
          nativeItself: medianWithInterval(pairs(nativeIp, nativePp, (x, y) => rateOf(x) / rateOf(y))),
          cpuUs: {
            clientPerProcess: medianCpu(pp),
            clientInProcess: medianCpu(ip),
            nativePerProcess: medianCpu(nativePp),
            nativeInProcess: medianCpu(nativeIp),
          },
        },
      ];
    });
  });
}

/** The memory runs of one client: one fresh process per repetition. */
export interface MemoryResult {
  readonly client: ClientId;
  readonly reps: readonly MemorySample[];
}

/** What the memory target compares: the JS heap plus off-heap buffers, peak after a GC while reading. */
export const liveBytesOf = (m: MemorySample): number => m.peakHeapUsedBytes + m.peakExternalBytes;

export interface MemoryJudgement {
  readonly what: 'peak RSS' | 'peak heap + external after GC';
  /** Per repetition: native fetch's figure / the client's (>= 1.0: no higher than native's). */
  readonly ratio: number;
  readonly interval: Interval;
  readonly reps: number;
  readonly verdict: Verdict | 'not measured';
}

export function judgeMemory(memory: readonly MemoryResult[]): MemoryJudgement[] {
  const client = memory.find((m) => m.client === memoryTarget.client);
  const native = memory.find((m) => m.client === memoryTarget.against);
  const figures = [
    ['peak RSS', (m: MemorySample) => m.peakRssBytes],
    ['peak heap + external after GC', liveBytesOf],
  ] as const;
  return figures.map(([what, of]) => {
    const ratios =
      client && native
        ? client.reps.flatMap((m, i) => {
            const n = native.reps[i];
            return n ? [of(n) / of(m)] : [];
          })
        : [];
    if (ratios.length === 0)
      return {
        what,
        ratio: Number.NaN,
        interval: { low: Number.NaN, high: Number.NaN },
        reps: 0,
        verdict: 'not measured',
      };
    const interval = bootstrapMedianInterval(ratios);
    return {
      what,
      ratio: median(ratios),
      interval,
      reps: ratios.length,
      verdict: verdictOf(interval.low, interval.high, memoryTarget.line),
    };
  });
}
