/**
 * `npm run bench:summary -- run1.json run2.json run3.json`: the headline of several separate runs of
 * `npm run bench -- --json FILE`, by BENCHMARKS.md's honesty rules: each figure is the median of the runs'
 * medians with the spread (min-max of those medians), and a target is "met" only if every run met it; one
 * that some run met and another did not is "not reliably met".
 */
import { readFileSync } from 'node:fs';
import {
  type CellResult,
  cellOf,
  compareModes,
  judgeMemory,
  judgeTargets,
  liveBytesOf,
  type MemoryResult,
  summariseCell,
  targetConcurrency,
} from './analysis.ts';
import { lineup } from './lineup.ts';
import { judgedRouteLabel, markdownTable } from './report.ts';
import { routeIds, routes } from './routes.ts';
import { median } from './stats.ts';
import type { Verdict } from './targets.ts';

interface Run {
  readonly file: string;
  readonly startedAt: string;
  readonly wallSeconds: number;
  readonly command: string;
  readonly cells: readonly CellResult[];
  readonly memory: readonly MemoryResult[];
}

const runs: Run[] = process.argv
  .slice(2)
  .map((file) => ({ file, ...JSON.parse(readFileSync(file, 'utf8')) }));
if (runs.length === 0) throw new TypeError('bench/summary: give the --json files of one or more runs');

const x = (v: number) => `${v.toFixed(2)}x`;
const spread = (values: readonly number[], f: (v: number) => string = x) =>
  `${f(median(values))} (${f(Math.min(...values))}-${f(Math.max(...values))})`;

/** Across runs: met in all, missed in all, inconclusive in all, or not reliably met. */
function across(verdicts: readonly (Verdict | 'not measured' | null)[]): string {
  const n = verdicts.length;
  const count = (v: string) => verdicts.filter((w) => w === v).length;
  if (count('met') === n) return `met (${n}/${n})`;
  if (count('missed') === n) return `missed (${n}/${n})`;
  if (count('inconclusive') === n) return `inconclusive (${n}/${n})`;
  const parts = [`met ${count('met')}`, `missed ${count('missed')}`, `inconclusive ${count('inconclusive')}`];
  if (count('met') > 0) return `not reliably met (${parts.join(', ')})`;
  return `not met (${parts.join(', ')})`;
}

function targetsTable(): string {
  const perRun = runs.map((r) => judgeTargets(r.cells));
  const first = perRun[0] ?? [];
  const rows = first.map((j, i) => {
    const all = perRun.map((p) => p[i]);
    const medians = all.flatMap((a) => (a?.comparison ? [a.comparison.ratio.median] : []));
    const cpu = all.flatMap((a) => (a?.comparison ? [a.comparison.cpuRatio.median] : []));
    const each = all.map((a) =>
      a?.comparison
        ? `${x(a.comparison.ratio.median)} (${x(a.comparison.interval.low)}-${x(a.comparison.interval.high)}) ${a.verdict}`
        : 'not measured',
    );
    return [
      j.row,
      judgedRouteLabel(j.route),
      j.line === null ? '-' : `>= ${x(j.line)}`,
      medians.length > 0 ? spread(medians) : '-',
      across(all.map((a) => a?.verdict ?? 'not measured')),
      cpu.length > 0 ? spread(cpu) : '-',
      each.join('; '),
    ];
  });
  const header = [
    'target',
    'route',
    'line',
    'median of runs (min-max)',
    'across runs',
    'CPU/call ratio',
    'each run: median (95% CI) verdict',
  ];
  return markdownTable(header, rows, 2);
}

/** req/s vs native and CPU per call, at 16 concurrent, median of the runs. */
function clientsTable(concurrency: number): string {
  const header = ['route', 'client', 'req/s vs native', 'CPU µs/call', 'p50 ms', 'p99 ms'];
  // SSE runs only at 16 streams: its rows belong to the 16-concurrent table.
  const measured = routeIds.filter((route) => route !== 'sse' || concurrency === targetConcurrency);
  const rows = measured.flatMap((route) =>
    (Object.keys(lineup) as (keyof typeof lineup)[]).flatMap((client) => {
      const per = runs.flatMap((r) => {
        const cell = cellOf(r.cells, route, concurrency);
        const s = cell && summariseCell(cell).find((c) => c.client === client && c.mode === 'per-process');
        return s ? [s] : [];
      });
      if (per.length === 0) return [];
      const ratios = per.map((s) => s.vsNative?.ratio.median ?? 1);
      const cpu = per.map((s) => s.cpuPerCallUs.median);
      const p50 = per.flatMap((s) => (s.p50Ms === null ? [] : [s.p50Ms]));
      const p99 = per.flatMap((s) => (s.p99Ms === null ? [] : [s.p99Ms]));
      const ms = (v: number) => v.toFixed(3);
      const us = (v: number) => v.toFixed(0);
      return [
        [
          routes[route].label,
          lineup[client].label,
          spread(ratios),
          spread(cpu, us),
          p50.length > 0 ? spread(p50, ms) : '-',
          p99.length > 0 ? spread(p99, ms) : '-',
        ],
      ];
    }),
  );
  return markdownTable(header, rows, 2);
}

function memoryTable(): string {
  const withMemory = runs.filter((r) => r.memory.length > 0);
  if (withMemory.length === 0) return 'no run measured memory';
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const header = ['client', 'RSS before, MiB', 'peak RSS, MiB', 'peak heap + external after GC, MiB'];
  const clients = withMemory[0]?.memory.map((m) => m.client) ?? [];
  const rows = clients.map((client) => {
    const of = (f: (s: MemoryResult['reps'][number]) => number) =>
      withMemory.map((r) => median(r.memory.find((m) => m.client === client)?.reps.map(f) ?? [Number.NaN]));
    return [
      lineup[client].label,
      spread(
        of((s) => s.rssBeforeBytes),
        mib,
      ),
      spread(
        of((s) => s.peakRssBytes),
        mib,
      ),
      spread(of(liveBytesOf), mib),
    ];
  });
  const judged = withMemory.map((r) => judgeMemory(r.memory));
  const verdicts = (judged[0] ?? []).map((j, i) => {
    const all = judged.map((js) => js[i]);
    const ratios = all.flatMap((a) => (a && !Number.isNaN(a.ratio) ? [a.ratio] : []));
    return `- resilientFetch defaults, ${j.what} no higher than native fetch's (native / resilient >= 1.00x): ${ratios.length > 0 ? spread(ratios) : '-'}; ${across(all.map((a) => a?.verdict ?? 'not measured'))}`;
  });
  return [markdownTable(header, rows, 1), '', ...verdicts].join('\n');
}

function modesTable(): string {
  const perRun = runs.map((r) => compareModes(r.cells));
  const first = perRun[0] ?? [];
  if (first.length === 0) return 'no run had the in-process comparison';
  const header = [
    'route',
    'client',
    'vs native, per process',
    'vs native, in one process',
    'in-process / per-process',
    "native's own req/s, in / per",
  ];
  const rows = first.map((m, i) => {
    const all = perRun.flatMap((p) => (p[i] ? [p[i]] : []));
    return [
      routes[m.route].label,
      lineup[m.client].label,
      spread(all.map((a) => a.perProcess.ratio.median)),
      spread(all.map((a) => a.inProcess.ratio.median)),
      spread(all.map((a) => a.ratioOfRatios.median)),
      spread(all.map((a) => a.nativeItself.median)),
    ];
  });
  return markdownTable(header, rows, 2);
}

console.log(
  [
    `# ${runs.length} runs: ${runs.map((r) => `${r.file} (${r.startedAt}, ${r.wallSeconds.toFixed(0)} s)`).join(', ')}`,
    `command: ${[...new Set(runs.map((r) => r.command))].join(' | ')}`,
    "Every figure: the median of the runs' medians, (min-max) of those medians.",
    '',
    '## Targets (issue 16), 16 concurrent',
    '',
    targetsTable(),
    '',
    `## Clients at ${targetConcurrency} concurrent (each in its own process)`,
    '',
    clientsTable(targetConcurrency),
    '',
    '## Clients at 1 concurrent (latency)',
    '',
    clientsTable(1),
    '',
    '## Clients at 64 concurrent',
    '',
    clientsTable(64),
    '',
    '## Memory, 1 MiB bodies at 16 concurrent',
    '',
    memoryTable(),
    '',
    '## In one process against a process each, 16 concurrent',
    '',
    modesTable(),
  ].join('\n'),
);
