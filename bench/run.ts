/**
 * Benchmark: resilientFetch against Node's native fetch, undici 8's fetch and undici 8's request, over
 * loopback HTTP/1.1 keep-alive, for 64 B and 64 KiB bodies at 1, 16 and 64 concurrent requests.
 *
 *   npm run bench                                   full run (~2.5 min)
 *   npm run bench -- --quick                        short run (~20 s); BENCH_QUICK=1 does the same
 *   npm run bench -- --rounds 40 --json results.json
 *   npm run bench -- --cell 64x16 --client resilient --rounds 100   one cell, native vs resilientFetch
 *   npm run bench -- --otel --rounds 60             telemetry: native fetch vs resilientFetch with an
 *                                                   OpenTelemetry SDK, vs fetch + instrumentation-undici,
 *                                                   vs cockatiel around that (bench/otel.ts), 64 B x 16
 *
 * Options: --rounds N, --duration-ms N (per client per round), --warmup-ms N (per client per cell),
 * --cell SIZExCONCURRENCY (repeatable; SIZE is 64 or 65536), --client ID (repeatable: resilient,
 * undici-fetch, undici-request, and native-undici8 which is not in the default set; native is always
 * run), --json FILE (every figure, per round too), --otel (the telemetry clients instead: resilient-otel,
 * undici-otel, cockatiel-otel, and resilient-noop which is not in the default set; only the 64x16 cell
 * unless --cell says otherwise).
 *
 * The server runs in its own process, so process.cpuUsage() here counts the clients' work alone.
 * Rounds are interleaved (each round runs every client once, the order rotated each round) and medians
 * are reported, because a shared 2-core machine drifts from one second to the next. BENCHMARKS.md
 * explains how to read the output.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import type { Client, ClientId } from './clients.ts';
import { type CellResult, runCell } from './measure.ts';
import type { OtelClientId, OtelSdk } from './otel.ts';
import {
  describeEnvironment,
  formatEnvironment,
  formatSpanCounts,
  formatTables,
  headline,
  type PairedHeadline,
  pairedHeadline,
} from './report.ts';
import { startUpstream, type Upstream } from './upstream.ts';

/** The bodies bench/server.ts serves. */
const bodySizes = [64, 65_536];
const concurrencies = [1, 16, 64];
/**
 * Issue targets: the core (policies off) >= 0.95x native fetch (issue 2); all policies on >= 1.1x (issue 7,
 * stricter than issue 4's 0.9x).
 */
const targets = { bare: 0.95, policies: 1.1 } as const;

interface Cell {
  readonly size: number;
  readonly concurrency: number;
}

interface Config {
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly cells: readonly Cell[];
  readonly clients: readonly string[];
  readonly json: string | undefined;
  readonly quick: boolean;
  readonly otel: boolean;
}

function positiveInt(value: string | undefined, fallback: number, flag: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`${flag} must be a positive integer, received ${value}`);
  }
  return n;
}

function parseCell(value: string): Cell {
  const [size, concurrency] = value.split('x');
  const cell = {
    size: positiveInt(size, Number.NaN, '--cell SIZE'),
    concurrency: positiveInt(concurrency, Number.NaN, '--cell CONCURRENCY'),
  };
  if (!bodySizes.includes(cell.size)) {
    throw new RangeError(`--cell SIZE must be one of ${bodySizes.join(', ')}, received ${value}`);
  }
  return cell;
}

const allCells = (): Cell[] =>
  bodySizes.flatMap((size) => concurrencies.map((concurrency) => ({ size, concurrency })));

function parseConfig(): Config {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      rounds: { type: 'string' },
      'duration-ms': { type: 'string' },
      'warmup-ms': { type: 'string' },
      cell: { type: 'string', multiple: true, default: [] },
      client: { type: 'string', multiple: true, default: [] },
      json: { type: 'string' },
      otel: { type: 'boolean', default: false },
    },
  });
  const quick = values.quick || process.env.BENCH_QUICK === '1';
  return {
    quick,
    rounds: positiveInt(values.rounds, quick ? 4 : 24, '--rounds'),
    durationMs: positiveInt(values['duration-ms'], quick ? 120 : 200, '--duration-ms'),
    warmupMs: positiveInt(values['warmup-ms'], quick ? 100 : 400, '--warmup-ms'),
    cells:
      values.cell.length > 0
        ? values.cell.map(parseCell)
        : values.otel
          ? [{ size: 64, concurrency: 16 }]
          : allCells(),
    clients: values.client,
    json: values.json,
    otel: values.otel,
  };
}

/**
 * Node's fetch picks its global dispatcher when it first runs; if npm undici 8 loaded first, it would
 * pick undici 8's. So fetch runs once (on a data: URL, no network) before the clients module loads.
 */
async function loadClients(ids: readonly string[]): Promise<{ clients: Client[]; nativeDispatcher: string }> {
  await (await fetch('data:,warm')).arrayBuffer();
  const { assertNativeBaseline, clientNames, createClients } = await import('./clients.ts');
  const nativeDispatcher = assertNativeBaseline();
  const known = Object.keys(clientNames);
  for (const id of ids) {
    if (!known.includes(id))
      throw new RangeError(`--client must be one of ${known.join(', ')}, received ${id}`);
  }
  return { clients: createClients(ids as ClientId[]), nativeDispatcher };
}

/**
 * `--otel`: registers the SDK for the whole process, then builds the telemetry clients (after fetch's
 * first call, for the same reason as above, and after the SDK, because the API has no proxy meter).
 */
async function loadOtelClients(
  ids: readonly string[],
): Promise<{ clients: Client[]; nativeDispatcher: string; sdk: OtelSdk }> {
  await (await fetch('data:,warm')).arrayBuffer();
  const { assertNativeBaseline } = await import('./clients.ts');
  const { otelClientNames, registerSdk } = await import('./otel.ts');
  const known = Object.keys(otelClientNames);
  for (const id of ids) {
    if (!known.includes(id))
      throw new RangeError(`with --otel, --client must be one of ${known.join(', ')}, received ${id}`);
  }
  const sdk = registerSdk();
  const clients = sdk.createClients(ids as OtelClientId[]);
  return { clients, nativeDispatcher: assertNativeBaseline(), sdk };
}

async function runMatrix(
  clients: readonly Client[],
  config: Config,
  upstream: Upstream,
): Promise<CellResult[]> {
  const results: CellResult[] = [];
  for (const cell of config.cells) {
    const started = performance.now();
    results.push(await runCell(clients, { ...config, ...cell }, upstream));
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    process.stderr.write(`  done: ${cell.size} B x ${cell.concurrency} concurrent (${seconds} s)\n`);
  }
  return results;
}

function describeMethod(config: Config): string {
  return (
    `${config.rounds} interleaved rounds x ${config.durationMs} ms per client per cell ` +
    `(${config.warmupMs} ms warm-up each); every cell is the median over the rounds and, in brackets, the middle half (p25-p75); ` +
    'ratios are per round, against native fetch in the same round; ' +
    'latency is pooled over all rounds at concurrency 1'
  );
}

/** `--otel`: the table, the three ratios issue 5 and issue 7 ask for, span counts and a scrape. */
async function mainOtel(config: Config): Promise<void> {
  const env = describeEnvironment();
  const { clients, nativeDispatcher, sdk } = await loadOtelClients(config.clients);
  const { otelClientNames, otelTargets } = await import('./otel.ts');
  const upstream = await startUpstream();
  const perCell = (clients.length * (config.warmupMs + config.rounds * config.durationMs)) / 1000;
  process.stderr.write(
    `bench --otel: ${config.cells.length} cell(s), ~${perCell.toFixed(0)} s each, upstream at ${upstream.origin}\n`,
  );
  try {
    const startedAt = new Date().toISOString();
    const cells = await runMatrix(clients, config, upstream);
    const resilient = otelClientNames['resilient-otel'];
    const heads: PairedHeadline[] = [
      pairedHeadline(cells, resilient, 'native fetch', otelTargets.vsNative, '>='),
      pairedHeadline(
        cells,
        resilient,
        otelClientNames['undici-otel'],
        otelTargets.vsUndiciInstrumentation,
        '>',
      ),
      pairedHeadline(cells, resilient, otelClientNames['cockatiel-otel'], otelTargets.vsCockatiel, '>='),
    ];
    const spans = sdk.spanCounts();
    const scrape = await sdk.scrape();
    console.log(
      [
        `# resilient-fetch telemetry benchmark (--otel), ${startedAt}`,
        formatEnvironment(env),
        `native fetch dispatcher: ${nativeDispatcher} (Node's bundled undici); ${describeMethod(config)}`,
        'one SDK registered for the whole run (always-on sampler, BatchSpanProcessor to a counting exporter, ' +
          'PrometheusExporter as a pull reader, W3C propagator, AsyncLocalStorage context); ' +
          'instrumentation-undici enabled only around the runs of the clients that name it',
        '',
        formatTables(cells),
        '',
        ...heads.flatMap((head) => head.lines),
        '',
        formatSpanCounts(spans),
        '',
        'Prometheus scrape at the end (duration histogram counts, warm-up included):',
        ...scrape.map((line) => `  ${line}`),
      ].join('\n'),
    );
    const leaked = spans.find((s) => s.client === 'native fetch' && Object.keys(s.spans).length > 0);
    if (leaked)
      process.stderr.write('WARNING: the native fetch baseline produced spans: it was instrumented\n');
    if (config.json) {
      const data = {
        startedAt,
        env,
        nativeDispatcher,
        config,
        targets: otelTargets,
        headlines: heads,
        spans,
        scrape,
        cells,
      };
      writeFileSync(config.json, `${JSON.stringify(data, null, 2)}\n`);
      process.stderr.write(`wrote ${config.json}\n`);
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await upstream.stop();
    await sdk.shutdown();
  }
}

async function main(): Promise<void> {
  const config = parseConfig();
  if (!globalThis.gc)
    process.stderr.write('note: run with --expose-gc (npm run bench does) to collect between runs\n');
  if (config.otel) return mainOtel(config);
  const env = describeEnvironment();
  const { clients, nativeDispatcher } = await loadClients(config.clients);
  const upstream = await startUpstream();
  const perCell = (clients.length * (config.warmupMs + config.rounds * config.durationMs)) / 1000;
  process.stderr.write(
    `bench: ${config.cells.length} cells, ~${perCell.toFixed(0)} s each, upstream at ${upstream.origin}\n`,
  );
  try {
    const startedAt = new Date().toISOString();
    const cells = await runMatrix(clients, config, upstream);
    const heads = [
      headline(cells, targets.policies, 'resilientFetch', 'resilientFetch (retry + breaker + deadline on)'),
      headline(cells, targets.bare, 'resilientFetch, policies off'),
    ];
    console.log(
      [
        `# resilient-fetch benchmark, ${startedAt}`,
        formatEnvironment(env),
        `native fetch dispatcher: ${nativeDispatcher} (Node's bundled undici); ${describeMethod(config)}`,
        '',
        formatTables(cells),
        '',
        ...heads.flatMap((head) => [head.line, ...(head.spread ? [head.spread] : [])]),
      ].join('\n'),
    );
    if (config.json) {
      const data = { startedAt, env, nativeDispatcher, config, targets, headlines: heads, cells };
      writeFileSync(config.json, `${JSON.stringify(data, null, 2)}\n`);
      process.stderr.write(`wrote ${config.json}\n`);
    }
  } finally {
    await Promise.all(clients.map((client) => client.close()));
    await upstream.stop();
  }
}

await main();
