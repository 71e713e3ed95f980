/** The printed report of `npm run bench`: environment, one table per route, verdicts, memory, checks. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import {
  type CellResult,
  type Comparison,
  type Judgement,
  liveBytesOf,
  type MemoryJudgement,
  type MemoryResult,
  type ModeComparison,
  type SlotSummary,
  summariseCell,
  targetConcurrency,
} from './analysis.ts';
import { lineup } from './lineup.ts';
import { type RouteId, routes } from './routes.ts';
import { median, type Spread } from './stats.ts';

const versionedPackages = [
  'undici',
  '@opentelemetry/api',
  '@opentelemetry/sdk-node',
  '@opentelemetry/sdk-trace',
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/exporter-trace-otlp-http',
  '@opentelemetry/exporter-metrics-otlp-http',
  '@opentelemetry/exporter-prometheus',
  '@opentelemetry/instrumentation-undici',
] as const;

export interface Environment {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  readonly node: string;
  readonly bundledUndici: string;
  /** Versions installed in node_modules, by package name. */
  readonly packages: Readonly<Record<string, string>>;
  /** `git describe --always --dirty` of the checkout measured, or `unknown` outside a git checkout. */
  readonly revision: string;
  /** The 1, 5 and 15 minute load averages when the run started. */
  readonly loadAverage: readonly number[];
}

function gitRevision(): string {
  try {
    const cwd = new URL('..', import.meta.url);
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function installedVersion(name: string): string {
  try {
    const path = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

/** The CPU model as /proc/cpuinfo names it (os.cpus() reads the same), else what os reports. */
function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line) return line.split(':')[1]?.trim() ?? 'unknown';
  } catch {}
  return os.cpus()[0]?.model.trim() ?? 'unknown';
}

export function describeEnvironment(): Environment {
  return {
    cpu: cpuModel(),
    cores: os.availableParallelism(),
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    bundledUndici: process.versions.undici ?? 'unknown',
    packages: Object.fromEntries(versionedPackages.map((name) => [name, installedVersion(name)])),
    revision: gitRevision(),
    loadAverage: os.loadavg().map((l) => Math.round(l * 100) / 100),
  };
}

export function formatEnvironment(env: Environment): string {
  const versions = Object.entries(env.packages)
    .map(([name, version]) => `${name.replace('@opentelemetry/', 'otel/')} ${version}`)
    .join(', ');
  return [
    `machine: ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB RAM, ${env.platform}; load average at start ${env.loadAverage.join(' ')}`,
    `node ${env.node}, bundled undici ${env.bundledUndici} (native fetch); resilient-fetch ${env.revision}`,
    `packages: ${versions}`,
  ].join('\n');
}

const x = (value: number): string => `${value.toFixed(2)}x`;
const fixed = (value: number | null, digits: number): string =>
  value === null ? '-' : value.toFixed(digits);
const range = (s: Spread, digits: number): string =>
  `${s.median.toFixed(digits)} (${s.p25.toFixed(digits)}-${s.p75.toFixed(digits)})`;
const withInterval = (median: number, low: number, high: number): string =>
  `${x(median)} (${x(low)}-${x(high)})`;
const ratioText = (c: Comparison | null): string =>
  c ? withInterval(c.ratio.median, c.interval.low, c.interval.high) : '1.00x';
const cpuText = (c: Comparison | null): string =>
  c ? withInterval(c.cpuRatio.median, c.cpuInterval.low, c.cpuInterval.high) : '1.00x';

/** A Markdown table with padded columns, so it reads the same in a terminal and in a .md file. */
export function markdownTable(header: readonly string[], rows: readonly string[][], leftColumns = 2): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const pad = (c: string, i: number) =>
    i < leftColumns ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0);
  const line = (cells: readonly string[]) => `| ${cells.map(pad).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < leftColumns ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

function requestRow(concurrency: number, s: SlotSummary): string[] {
  return [
    String(concurrency),
    lineup[s.client].label,
    range(s.rate, 0),
    ratioText(s.vsNative),
    range(s.cpuPerCallUs, 0),
    cpuText(s.vsNative),
    `${s.serverCpuPercent.toFixed(0)}%`,
    fixed(s.p50Ms, 3),
    fixed(s.p99Ms, 3),
  ];
}

function streamRow(s: SlotSummary): string[] {
  return [
    String(routes.sse.streams),
    lineup[s.client].label,
    range(s.elapsedMs, 0),
    ratioText(s.vsNative),
    range(s.cpuPerCallUs, 0),
    cpuText(s.vsNative),
    `${s.serverCpuPercent.toFixed(0)}%`,
  ];
}

/** One table per route, each client in a process of its own. */
export function formatCells(cells: readonly CellResult[]): string {
  const routeIds = [...new Set(cells.map((c) => c.route))];
  return routeIds
    .map((route) => {
      const own = cells.filter((c) => c.route === route);
      const summaries = own.map((c) => ({
        cell: c,
        rows: summariseCell(c).filter((s) => s.mode === 'per-process'),
      }));
      if (route === 'sse') {
        const header = [
          'streams',
          'client',
          'time to last event, ms',
          'speed vs native (95% CI)',
          'CPU µs/stream',
          'CPU vs native (95% CI)',
          'server CPU',
        ];
        const rows = summaries.flatMap(({ rows }) => rows.map(streamRow));
        return `### ${routes.sse.label} (speed: native's time to the last event / the client's)\n\n${markdownTable(header, rows)}`;
      }
      const header = [
        'conc',
        'client',
        'req/s median (p25-p75)',
        'req/s vs native (95% CI)',
        'CPU µs/req',
        'CPU vs native (95% CI)',
        'server CPU',
        'p50 ms',
        'p99 ms',
      ];
      const rows = summaries.flatMap(({ cell, rows }) => rows.map((s) => requestRow(cell.concurrency, s)));
      return `### ${routes[route].label}\n\n${markdownTable(header, rows)}`;
    })
    .join('\n\n');
}

/** A verdict row's route; SSE rows are judged on CPU per stream (see `judge` in analysis.ts). */
export const judgedRouteLabel = (route: RouteId): string =>
  route === 'sse' ? `${routes[route].label}, CPU per stream` : routes[route].label;

/** The verdict table: one line per target, the interval, the CPU ratio beside. */
export function formatJudgements(judgements: readonly Judgement[]): string {
  const header = [
    'target',
    'route',
    'line',
    'median (95% CI)',
    'verdict',
    'CPU/call ratio (95% CI)',
    'rounds',
  ];
  const rows = judgements.map((j) => [
    j.row,
    judgedRouteLabel(j.route),
    j.line === null ? '-' : `>= ${x(j.line)}`,
    j.comparison ? ratioText(j.comparison) : '-',
    j.verdict ?? '-',
    j.comparison ? cpuText(j.comparison) : '-',
    String(j.comparison?.rounds ?? 0),
  ]);
  return markdownTable(header, rows, 2);
}

export function formatModes(modes: readonly ModeComparison[]): string {
  if (modes.length === 0)
    return 'In-process comparison: not run (--no-in-process, or native fetch not selected).';
  const header = [
    'route',
    'client',
    'vs native, per process',
    'vs native, in one process',
    'in-process / per-process',
    "client's own req/s, in / per",
    "native's own req/s, in / per",
    'CPU µs/req client per / in',
    'native per / in',
  ];
  const iv = (v: { median: number; low: number; high: number }) => withInterval(v.median, v.low, v.high);
  const rows = modes.map((m) => [
    routes[m.route].label,
    lineup[m.client].label,
    ratioText(m.perProcess),
    ratioText(m.inProcess),
    iv(m.ratioOfRatios),
    iv(m.clientItself),
    iv(m.nativeItself),
    `${m.cpuUs.clientPerProcess.toFixed(0)} / ${m.cpuUs.clientInProcess.toFixed(0)}`,
    `${m.cpuUs.nativePerProcess.toFixed(0)} / ${m.cpuUs.nativeInProcess.toFixed(0)}`,
  ]);
  return markdownTable(header, rows, 2);
}

const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(1);

export function formatMemory(
  memory: readonly MemoryResult[],
  judgements: readonly MemoryJudgement[],
): string {
  if (memory.length === 0) return 'Memory: not run (--no-memory).';
  const header = [
    'client',
    'RSS before first request, MiB',
    'peak RSS, MiB',
    'peak heapUsed after GC, MiB',
    'peak external after GC, MiB',
    'heap + external, MiB',
    'requests',
    'processes',
  ];
  const med = (m: MemoryResult, of: (s: MemoryResult['reps'][number]) => number) => median(m.reps.map(of));
  const rows = memory.map((m) => [
    lineup[m.client].label,
    mib(med(m, (s) => s.rssBeforeBytes)),
    mib(med(m, (s) => s.peakRssBytes)),
    mib(med(m, (s) => s.peakHeapUsedBytes)),
    mib(med(m, (s) => s.peakExternalBytes)),
    mib(med(m, liveBytesOf)),
    med(m, (s) => s.requests).toFixed(0),
    String(m.reps.length),
  ]);
  const verdicts = judgements.map(
    (j) =>
      `- ${lineup.resilient.label}, ${j.what} no higher than native fetch's (native / resilient >= 1.00x): ` +
      `${Number.isNaN(j.ratio) ? '-' : withInterval(j.ratio, j.interval.low, j.interval.high)} over ${j.reps} paired processes: **${j.verdict}**`,
  );
  return [markdownTable(header, rows, 1), '', ...verdicts].join('\n');
}

export const describeTargets = (): string =>
  `Targets are judged at ${targetConcurrency} concurrent: met when the whole 95% interval of the median ` +
  'per-round ratio is at or above the line, missed when it is wholly below, inconclusive when it straddles it.';
