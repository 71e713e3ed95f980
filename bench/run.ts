/**
 * `npm run bench`: resilientFetch against Node's fetch over loopback HTTP/1.1 keep-alive, against an
 * upstream shaped like a real API (bench/server.ts), each client in a process of its own, with the
 * OpenTelemetry SDK wired as users wire it; the verdict on each target of issue 16 at the end.
 *
 *   npm run bench                      full run (about 10 minutes on 2 cores; see BENCHMARKS.md)
 *   npm run bench:quick                every route and cell, a few short rounds (~1 min): a check, not figures
 *   npm run bench -- --json out.json   every figure, every round
 *   npm run bench -- --routes 64k --concurrency 16 --clients resilient --rounds 40
 *
 * Processes: the coordinator (this one, idle while clients run), the upstream, a telemetry receiver
 * (OTLP/HTTP sink and Prometheus scraper, bench/receiver.ts), one process per client (bench/worker.ts),
 * and one more holding native fetch, resilientFetch and undici request together for the in-process
 * comparison. Memory is measured apart, in a fresh process per client and repetition.
 *
 * Options:
 *   --rounds N          rounds at 16 concurrent, where targets are judged (20; quick 2)
 *   --side-rounds N     rounds at 1 and 64 concurrent (8; quick 2)
 *   --sse-rounds N      rounds of the SSE cell (12; quick 2)
 *   --duration-ms N     per client per round (250; quick 60)
 *   --warmup-ms N       per client per cell, before the rounds (300; quick 40)
 *   --sse-events N      events per stream (1000; quick 200), due 1 ms apart
 *   --memory-ms N       how long each memory process reads 1 MiB bodies (2000; quick 400)
 *   --memory-reps N     fresh processes per client for memory (3; quick 1)
 *   --clients LIST      comma-separated ids (native, resilient, resilient-sdk, resilient-prom, native-otel,
 *                       undici-request); native always runs, as every ratio is taken against it
 *   --routes LIST       64, 4k, 64k, 1m, post, sse (all)
 *   --concurrency LIST  1, 16, 64 (all; SSE always runs 16 streams, only in the 16 cell)
 *   --no-in-process     skip the in-process comparison;  --no-memory  skip the memory processes
 *   --json FILE         write everything measured, per round too
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import {
  type CellResult,
  compareModes,
  judgeInfo,
  judgeMemory,
  judgeTargets,
  type MemoryResult,
  targetConcurrency,
} from './analysis.ts';
import {
  type CellPlan,
  checkSdks,
  gcEveryMsOf,
  runCell,
  runMemory,
  type SdkCheck,
  type Services,
  type Slot,
  startReceiver,
  startWorker,
  type Worker,
} from './coordinator.ts';
import { type LibrarySource, staleDist } from './library.ts';
import { type ClientId, clientIds, inProcessIds, lineup } from './lineup.ts';
import {
  describeEnvironment,
  describeTargets,
  formatCells,
  formatEnvironment,
  formatJudgements,
  formatMemory,
  formatModes,
} from './report.ts';
import { defaultSse, type RouteId, routeIds, routes } from './routes.ts';
import { metricExportIntervalMs } from './sdk.ts';
import { startUpstream } from './upstream.ts';

interface Config {
  readonly quick: boolean;
  readonly rounds: number;
  readonly sideRounds: number;
  readonly sseRounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly sseEvents: number;
  readonly memoryMs: number;
  readonly memoryReps: number;
  readonly clients: readonly ClientId[];
  readonly routes: readonly RouteId[];
  readonly concurrencies: readonly number[];
  readonly inProcess: boolean;
  readonly memory: boolean;
  readonly json: string | undefined;
}

function positiveInt(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new RangeError(`${flag} must be a positive integer, received ${value}`);
  return n;
}

function listOf<T extends string>(values: readonly string[], known: readonly T[], flag: string): T[] {
  const items = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!known.includes(item as T))
      throw new RangeError(`${flag} takes ${known.join(', ')}; received ${item}`);
  }
  return known.filter((k) => items.includes(k));
}

function parseConfig(): Config {
  const { values } = parseArgs({
    allowNegative: true,
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      'side-rounds': { type: 'string' },
      'sse-rounds': { type: 'string' },
      'duration-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      'sse-events': { type: 'string' },
      'memory-ms': { type: 'string' },
      'memory-reps': { type: 'string' },
      clients: { type: 'string', multiple: true, default: [] },
      routes: { type: 'string', multiple: true, default: [] },
      concurrency: { type: 'string', multiple: true, default: [] },
      'in-process': { type: 'boolean', default: true },
      memory: { type: 'boolean', default: true },
      json: { type: 'string' },
    },
  });
  const quick = values.quick;
  const clients = listOf(values.clients, clientIds, '--clients');
  const concurrencies = listOf(values.concurrency, ['1', '16', '64'], '--concurrency').map(Number);
  const routeList = listOf(values.routes, routeIds, '--routes');
  return {
    quick,
    rounds: positiveInt(values.rounds, quick ? 2 : 20, '--rounds'),
    sideRounds: positiveInt(values['side-rounds'], quick ? 2 : 8, '--side-rounds'),
    sseRounds: positiveInt(values['sse-rounds'], quick ? 2 : 12, '--sse-rounds'),
    durationMs: positiveInt(values['duration-ms'], quick ? 60 : 250, '--duration-ms'),
    warmupMs: positiveInt(values['warmup-ms'], quick ? 40 : 300, '--warmup-ms'),
    sseEvents: positiveInt(values['sse-events'], quick ? 200 : defaultSse.events, '--sse-events'),
    memoryMs: positiveInt(values['memory-ms'], quick ? 400 : 2_000, '--memory-ms'),
    memoryReps: positiveInt(values['memory-reps'], quick ? 1 : 3, '--memory-reps'),
    clients:
      clients.length > 0 ? clientIds.filter((id) => id === 'native' || clients.includes(id)) : clientIds,
    routes: routeList.length > 0 ? routeList : routeIds,
    concurrencies: concurrencies.length > 0 ? concurrencies : [1, 16, 64],
    inProcess: values['in-process'],
    memory: values.memory,
    json: values.json,
  };
}

/** The cells in the order they run, each with its slots: per-process clients, then the in-process ones. */
function planCells(config: Config, perProcess: readonly Slot[], inProcess: readonly Slot[]): CellPlan[] {
  const sse = { events: config.sseEvents, intervalMs: defaultSse.intervalMs };
  return config.routes.flatMap((route) => {
    const levels = route === 'sse' ? [targetConcurrency] : config.concurrencies;
    return levels
      .filter((c) => route !== 'sse' || config.concurrencies.includes(c))
      .map((concurrency) => ({
        route,
        concurrency,
        rounds:
          route === 'sse'
            ? config.sseRounds
            : concurrency === targetConcurrency
              ? config.rounds
              : config.sideRounds,
        durationMs: config.durationMs,
        warmupMs: config.warmupMs,
        sse,
        // The in-process comparison at the request routes only: an SSE round is paced by the server.
        slots:
          concurrency === targetConcurrency && route !== 'sse' ? [...perProcess, ...inProcess] : perProcess,
      }));
  });
}

/** A rough forecast: the runs, an SSE run's length, and per-run overhead (IPC, gc, the flush). */
function forecastSeconds(plans: readonly CellPlan[], config: Config): number {
  const runs = plans.reduce((sum, p) => {
    const each = p.route === 'sse' ? config.sseEvents * 1.1 + 100 : p.durationMs + 45;
    const warm = p.route === 'sse' ? each : p.warmupMs + 40;
    return sum + p.slots.length * (p.rounds * each + warm);
  }, 0);
  const memory = config.memory ? config.clients.length * config.memoryReps * (config.memoryMs + 1_500) : 0;
  return (runs + memory) / 1000 + 5;
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

function describeMethod(config: Config): string {
  return [
    `rounds: ${config.rounds} at ${targetConcurrency} concurrent, ${config.sideRounds} at the other levels, ${config.sseRounds} for SSE; ` +
      `${config.durationMs} ms per client per round, ${config.warmupMs} ms warm-up per client per cell; ` +
      'the order of the clients rotated each round; gc() before each run, outside the window',
    `each client in a process of its own (the tables and verdicts), the upstream and the telemetry receiver in two more; ` +
      `SSE: ${routes.sse.streams} streams at once, ${config.sseEvents} events each, due ${defaultSse.intervalMs} ms apart (paced against the clock)`,
    `SDK: resilient-fetch/otel startTelemetry() (NodeSDK, BatchSpanProcessor, always-on sampling) exporting over OTLP/HTTP ` +
      `to the receiver; metrics pushed every ${metricExportIntervalMs} ms (OTLP) or scraped every ${metricExportIntervalMs} ms (Prometheus); ` +
      "the spans a run leaves in the batch processor are flushed after it, that flush's CPU counted in the run's",
    'figures: medians over the rounds, (p25-p75) the middle half; ratios are per round against native fetch in the same round, ' +
      'with the 95% bootstrap interval of their median; CPU is the client process (all threads) per call; ' +
      'latency pooled over every call at concurrency 1',
  ].join('\n');
}

function formatSdkChecks(checks: readonly SdkCheck[], refused: readonly string[]): string {
  const lines = checks.map(({ client, calls, counts, spansPerCall, warnings }) => {
    const exported = counts
      ? `${counts.spans} spans (${spansPerCall?.toFixed(3)} per call), ${counts.traceExports} trace exports, ` +
        `${counts.metricExports} OTLP metric exports, ${counts.scrapesWithDuration}/${counts.scrapes} scrapes with the duration histogram`
      : 'nothing received';
    const warned =
      warnings && warnings.count > 0
        ? `; SDK warnings: ${warnings.count} (${warnings.first.join(' | ')})`
        : '';
    const low =
      spansPerCall !== null && spansPerCall < 0.99 ? ' WARNING: fewer spans than calls (dropped?)' : '';
    return `- ${lineup[client].label}: ${calls} calls, ${exported}${warned}${low}`;
  });
  if (refused.length > 0) lines.push(`- receiver refused: ${refused.join('; ')}`);
  return lines.length > 0 ? lines.join('\n') : '- no SDK client ran';
}

async function startWorkers(config: Config, services: Services) {
  const perProcess: { client: ClientId; worker: Worker }[] = [];
  for (const client of config.clients)
    perProcess.push({ client, worker: await startWorker([client], services) });
  const shared = config.inProcess ? inProcessIds.filter((id) => config.clients.includes(id)) : [];
  const inProcessWorker = shared.length >= 2 ? await startWorker(shared, services) : undefined;
  const slots = perProcess.map(({ client, worker }): Slot => ({ client, mode: 'per-process', worker }));
  const inProcess = inProcessWorker
    ? shared.map((client): Slot => ({ client, mode: 'in-process', worker: inProcessWorker }))
    : [];
  const all = [...perProcess.map((p) => p.worker), ...(inProcessWorker ? [inProcessWorker] : [])];
  return { perProcess, slots, inProcess, all };
}

async function main(): Promise<void> {
  const config = parseConfig();
  const startedAt = new Date().toISOString();
  const t0 = performance.now();
  const env = describeEnvironment();
  if ((env.loadAverage[0] ?? 0) > 1.5)
    progress(`note: load average ${env.loadAverage.join(' ')}: the machine is busy; figures will be noisier`);
  const upstream = await startUpstream();
  const receiver = await startReceiver();
  const services: Services = { upstream, receiver };
  let workers: Worker[] = [];
  try {
    const fleet = await startWorkers(config, services);
    workers = fleet.all;
    const dispatchers = [
      ...new Set(fleet.all.map((w) => (w.ready as { nativeDispatcher: string }).nativeDispatcher)),
    ];
    const plans = planCells(config, fleet.slots, fleet.inProcess);
    progress(
      `bench: ${plans.length} cells, ${fleet.all.length} client processes, upstream ${upstream.origin}, ` +
        `receiver ${receiver.url}; forecast ~${Math.round(forecastSeconds(plans, config))} s`,
    );
    const cells: CellResult[] = [];
    for (const plan of plans) {
      const started = performance.now();
      cells.push(await runCell(plan, services));
      const label = `${routes[plan.route].label} x ${plan.concurrency}`;
      progress(`  done: ${label} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    }
    const sdk = await checkSdks(fleet.perProcess, receiver);
    await Promise.all(fleet.all.map((w) => w.stop({ type: 'stop' })));
    workers = [];
    // Memory processes load the build, as users do; from src/ their RSS would include the type stripper's.
    const stale = staleDist();
    const memoryLibrary: LibrarySource = stale === undefined ? 'dist' : 'src';
    const memoryNote =
      stale === undefined
        ? 'resilient-fetch loaded from dist/ (built from this checkout), as users load it'
        : `WARNING: ${stale}; resilient-fetch loaded from src/, so its RSS includes ~30 MiB of type stripping`;
    if (stale !== undefined && config.memory) progress(memoryNote);
    const memory: MemoryResult[] = config.memory
      ? await runMemory(
          config.clients,
          { reps: config.memoryReps, durationMs: config.memoryMs, concurrency: 16, library: memoryLibrary },
          services,
          progress,
        )
      : [];
    const wallSeconds = (performance.now() - t0) / 1000;
    const judgements = judgeTargets(cells);
    const info = judgeInfo(cells);
    const modes = compareModes(cells);
    const memoryJudgements = judgeMemory(memory);
    const loadAtEnd = os.loadavg().map((l) => Math.round(l * 100) / 100);
    const command = `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim();
    console.log(
      [
        `# resilient-fetch benchmark, ${startedAt} (${wallSeconds.toFixed(0)} s)${config.quick ? ' -- QUICK: a check that it runs, not figures' : ''}`,
        '',
        `command: ${command}`,
        formatEnvironment(env),
        `load average at the end: ${loadAtEnd.join(' ')}; native fetch's dispatcher: ${dispatchers.join(', ')} (Node's bundled undici)`,
        describeMethod(config),
        '',
        '## Verdicts (issue 16)',
        '',
        describeTargets(),
        '',
        formatJudgements(judgements),
        '',
        `SSE: the upstream paces each stream against the clock (${config.sseEvents} events due ${defaultSse.intervalMs} ms apart), so ` +
          'the time to the last event is about the same for every client that keeps up (a ratio much above 1.00x cannot ' +
          'happen): the SSE lines are judged on CPU per stream instead; the time is in the SSE table.',
        '',
        'Without a line (for reading beside the targets):',
        '',
        formatJudgements(info),
        '',
        '## Memory: reading 1 MiB bodies at 16 concurrent, a fresh process per client and repetition',
        '',
        `${memoryNote}; a GC forced every ${gcEveryMsOf(config.memoryMs)} ms while reading, to read the live heap; peak RSS is getrusage's maxrss`,
        '',
        formatMemory(memory, memoryJudgements),
        '',
        '## In one process against a process each (native fetch, resilientFetch, undici request, 16 concurrent; same rounds)',
        '',
        formatModes(modes),
        '',
        '## SDK check: what the receiver got',
        '',
        formatSdkChecks(sdk.checks, sdk.refused),
        '',
        '## Every cell, each client in a process of its own',
        '',
        formatCells(cells),
      ].join('\n'),
    );
    if (config.json) {
      const data = {
        startedAt,
        wallSeconds,
        command,
        env,
        loadAtEnd,
        config,
        nativeDispatchers: dispatchers,
        judgements,
        info,
        memoryJudgements,
        memoryLibrary,
        modes,
        sdk,
        memory,
        cells,
      };
      writeFileSync(config.json, `${JSON.stringify(data, null, 1)}\n`);
      progress(`wrote ${config.json}`);
    }
  } finally {
    await Promise.all(workers.map((w) => w.stop({ type: 'stop' })));
    await receiver.stop();
    await upstream.stop();
  }
}

await main();
