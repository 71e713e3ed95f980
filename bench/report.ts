/** The benchmark's printed report: environment, one Markdown table per body size, the headline. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { CellResult, ClientSummary } from './measure.ts';
import type { SpanCount } from './otel.ts';
import { bootstrapMedianInterval, type Spread, spreadOf } from './stats.ts';

export interface Environment {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly platform: string;
  readonly node: string;
  readonly bundledUndici: string;
  readonly npmUndici: string;
  /** `git describe --always --dirty` of the checkout measured, or `unknown` outside a git checkout. */
  readonly revision: string;
}

function gitRevision(): string {
  try {
    const cwd = new URL('..', import.meta.url);
    return execFileSync('git', ['describe', '--always', '--dirty'], { cwd, encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

export function describeEnvironment(): Environment {
  const packageJson = new URL('../node_modules/undici/package.json', import.meta.url);
  const { version } = JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string };
  return {
    cpu: os.cpus()[0]?.model.trim() ?? 'unknown',
    cores: os.cpus().length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    bundledUndici: process.versions.undici ?? 'unknown',
    npmUndici: version,
    revision: gitRevision(),
  };
}

export function formatEnvironment(env: Environment): string {
  return [
    `machine: ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB RAM, ${env.platform}`,
    `node ${env.node}, bundled undici ${env.bundledUndici} (native fetch), npm undici ${env.npmUndici}, resilient-fetch ${env.revision}`,
  ].join('\n');
}

const sizeLabel = (size: number): string => (size >= 1024 ? `${size / 1024} KiB` : `${size} B`);
const fixed = (value: number | null, digits: number): string =>
  value === null ? '-' : value.toFixed(digits);

/** `median (p25-p75)`: the middle half of the rounds. */
const range = (s: Spread, digits: number, unit = ''): string =>
  `${s.median.toFixed(digits)}${unit} (${s.p25.toFixed(digits)}-${s.p75.toFixed(digits)})`;

function row(cell: CellResult, s: ClientSummary): string[] {
  return [
    String(cell.concurrency),
    s.client,
    range(s.rps, 0),
    range(s.ratio, 2, 'x'),
    range(s.cpuUsPerRequest, 0),
    range(s.cpuRatio, 2, 'x'),
    `${s.serverCpuPercent.toFixed(0)}%`,
    fixed(s.p50Ms, 3),
    fixed(s.p99Ms, 3),
  ];
}

const header = [
  'conc',
  'client',
  'req/s median (p25-p75)',
  'req/s vs native',
  'CPU µs/req',
  'CPU vs native',
  'server CPU',
  'p50 ms',
  'p99 ms',
];

/** A Markdown table with padded columns, so it reads the same in a terminal and in a .md file. */
function markdownTable(rows: readonly string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

export function formatTables(cells: readonly CellResult[]): string {
  const sizes = [...new Set(cells.map((c) => c.size))];
  return sizes
    .map((size) => {
      const rows = cells.filter((c) => c.size === size).flatMap((c) => c.clients.map((s) => row(c, s)));
      return `### ${sizeLabel(size)} body\n\n${markdownTable(rows)}`;
    })
    .join('\n\n');
}

export interface Headline {
  readonly line: string;
  readonly spread: string;
  readonly ratio: number | null;
  readonly cpuRatio: number | null;
}

/**
 * Met only when the whole 95 % interval of the median ratio clears the target (`>=`, or strictly above
 * it for `>`).
 */
function verdict(low: number, high: number, target: number, op: '>=' | '>' = '>='): string {
  if (op === '>=' ? low >= target : low > target) return 'target met';
  if (op === '>=' ? high < target : high <= target) return 'target missed';
  return 'inconclusive: the interval straddles the target';
}

/** One client vs native fetch at 16 concurrent on 64 B, with its per-round spread. */
export function headline(
  cells: readonly CellResult[],
  target: number,
  client: string = 'resilientFetch',
  label: string = client,
): Headline {
  const cell = cells.find((c) => c.size === 64 && c.concurrency === 16);
  const summary = cell?.clients.find((s) => s.client === client);
  if (!cell || !summary) {
    const line = `${label} vs native fetch at 16 concurrent, 64 B: not measured`;
    return { line, spread: '', ratio: null, cpuRatio: null };
  }
  const { ratio, ratioInterval: ci, cpuRatio } = summary;
  const x = (value: number) => `${value.toFixed(2)}x`;
  return {
    line: `${label} vs native fetch at 16 concurrent, 64 B: ${x(ratio.median)} (target >= ${x(target)})`,
    spread: [
      `  req/s ratio: median of ${cell.rounds} per-round ratios; 95% CI of the median ${x(ci.low)}-${x(ci.high)} ` +
        `(${verdict(ci.low, ci.high, target)}); middle half ${x(ratio.p25)}-${x(ratio.p75)}; ` +
        `min ${x(ratio.min)}, max ${x(ratio.max)}`,
      `  CPU per request, native / ${client}: ${range(cpuRatio, 2, 'x')}`,
    ].join('\n'),
    ratio: ratio.median,
    cpuRatio: cpuRatio.median,
  };
}

export interface PairedHeadline {
  readonly client: string;
  readonly against: string;
  readonly target: string;
  /** Median of the per-round req/s ratios client / against, with its 95 % bootstrap interval. */
  readonly ratio: number | null;
  readonly interval: { readonly low: number; readonly high: number } | null;
  /** Median of the per-round CPU-per-request ratios against / client (read like a throughput ratio). */
  readonly cpuRatio: number | null;
  readonly verdict: string;
  readonly lines: readonly string[];
}

/**
 * `client` against any other client of the 64 B x 16 cell (not only the baseline): each round's req/s
 * ratio of the two, paired within the round as the table's ratios are, its median and 95 % interval,
 * and the CPU per request of both.
 */
export function pairedHeadline(
  cells: readonly CellResult[],
  client: string,
  against: string,
  target: number,
  op: '>=' | '>',
): PairedHeadline {
  const cell = cells.find((c) => c.size === 64 && c.concurrency === 16);
  const a = cell?.clients.find((s) => s.client === client);
  const b = cell?.clients.find((s) => s.client === against);
  const x = (value: number) => `${value.toFixed(2)}x`;
  const targetText = `${op} ${x(target)}`;
  if (!cell || !a || !b) {
    const line = `${client} vs ${against} at 16 concurrent, 64 B: not measured`;
    return {
      client,
      against,
      target: targetText,
      ratio: null,
      interval: null,
      cpuRatio: null,
      verdict: 'not measured',
      lines: [line],
    };
  }
  const rps = (r: ClientSummary['rounds'][number]) => r.requests / (r.elapsedMs / 1000);
  const cpu = (r: ClientSummary['rounds'][number]) => r.cpuUs / r.requests;
  const pairs = a.rounds.flatMap((r, i) => {
    const other = b.rounds[i];
    return other ? [{ rps: rps(r) / rps(other), cpu: cpu(other) / cpu(r) }] : [];
  });
  const ratio = spreadOf(pairs.map((p) => p.rps));
  const cpuRatio = spreadOf(pairs.map((p) => p.cpu));
  const ci = bootstrapMedianInterval(pairs.map((p) => p.rps));
  const result = verdict(ci.low, ci.high, target, op);
  return {
    client,
    against,
    target: targetText,
    ratio: ratio.median,
    interval: ci,
    cpuRatio: cpuRatio.median,
    verdict: result,
    lines: [
      `${client} vs ${against} at 16 concurrent, 64 B: ${x(ratio.median)} (target ${targetText})`,
      `  req/s ratio: median of ${pairs.length} per-round ratios; 95% CI of the median ${x(ci.low)}-${x(ci.high)} ` +
        `(${result}); middle half ${x(ratio.p25)}-${x(ratio.p75)}; min ${x(ratio.min)}, max ${x(ratio.max)}`,
      `  CPU per request: ${a.cpuUsPerRequest.median.toFixed(0)} µs vs ${b.cpuUsPerRequest.median.toFixed(0)} µs; ` +
        `per-round ratio ${against} / ${client}: ${range(cpuRatio, 2, 'x')}`,
    ],
  };
}

/** Spans exported per client (all runs, warm-up included) by instrumentation scope, per request. */
export function formatSpanCounts(counts: readonly SpanCount[]): string {
  const lines = counts.map(({ client, requests, spans }) => {
    const total = Object.values(spans).reduce((sum, n) => sum + n, 0);
    const scopes = Object.entries(spans)
      .map(([scope, n]) => `${scope} ${n}`)
      .join(', ');
    const perRequest = requests > 0 ? (total / requests).toFixed(3) : '-';
    return `  ${client}: ${requests} requests, ${total} spans (${perRequest} per request)${scopes ? `: ${scopes}` : ''}`;
  });
  return ['Spans exported per client (warm-up included):', ...lines].join('\n');
}
