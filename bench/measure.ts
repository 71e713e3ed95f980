/**
 * One cell of the matrix (a body size and a concurrency): a warm-up per client, then interleaved rounds
 * in which every client runs for the same duration, the order rotated each round so that no client is
 * always first or last after another's garbage.
 */
import type { Client, ClientName } from './clients.ts';
import { bootstrapMedianInterval, median, percentile, type Spread, spreadOf } from './stats.ts';
import type { Upstream } from './upstream.ts';

export interface CellConfig {
  readonly size: number;
  readonly concurrency: number;
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

/** One client's run in one round (latencies recorded at concurrency 1 only). */
export interface Sample extends LoadSample {
  /** Server-process CPU time during the run, in microseconds. */
  readonly serverCpuUs: number;
}

export interface ClientSummary {
  readonly client: ClientName;
  /** Requests per second over the rounds. */
  readonly rps: Spread;
  /** Per-round ratio of this client's req/s to native fetch's req/s in the same round. */
  readonly ratio: Spread;
  /** 95 % bootstrap confidence interval of `ratio.median`. */
  readonly ratioInterval: { readonly low: number; readonly high: number };
  /** Bench-process CPU µs per request over the rounds. */
  readonly cpuUsPerRequest: Spread;
  /**
   * Per-round ratio of native fetch's CPU µs per request to this client's, in the same round: the
   * throughput ratio a client bound by its one JavaScript thread would show on an idle machine. CPU time
   * does not count the time another process holds the core, so it drifts less than req/s (though on a
   * shared VM it still moves with cache and host contention).
   */
  readonly cpuRatio: Spread;
  /** Median over the rounds of the server's CPU use, as a percentage of one core. */
  readonly serverCpuPercent: number;
  /** Latency percentiles pooled over every measured request of every round (concurrency 1 only). */
  readonly p50Ms: number | null;
  readonly p99Ms: number | null;
  /** The rounds as measured (latencies left out), for the JSON output. */
  readonly rounds: readonly Omit<Sample, 'latenciesMs'>[];
}

export interface CellResult extends Omit<CellConfig, 'warmupMs'> {
  readonly clients: readonly ClientSummary[];
}

/** What a timed load reports: requests done, wall time, this process's CPU time, latencies if asked. */
export interface LoadSample {
  readonly requests: number;
  readonly elapsedMs: number;
  /** This process's CPU time (user + system, all threads) during the load, in microseconds. */
  readonly cpuUs: number;
  readonly latenciesMs: readonly number[];
}

export interface LoadShape {
  readonly concurrency: number;
  readonly durationMs: number;
  /** Record each call's latency (the benchmark does at concurrency 1 only). */
  readonly withLatency: boolean;
}

/**
 * `concurrency` loops, each starting its next call as soon as the last one settled, until `durationMs`
 * have passed; calls in flight at the deadline are waited for and counted, and the wall time runs until
 * the last of them ends. `call` must throw if what it read is wrong (status, size), so that a broken
 * client cannot look fast.
 */
export async function runLoad(shape: LoadShape, call: () => Promise<void>): Promise<LoadSample> {
  const latenciesMs: number[] = [];
  let requests = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + shape.durationMs;
  const loop = async () => {
    while (performance.now() < deadline) {
      const start = performance.now();
      await call();
      if (shape.withLatency) latenciesMs.push(performance.now() - start);
      requests++;
    }
  };
  await Promise.all(Array.from({ length: shape.concurrency }, loop));
  const elapsedMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { requests, elapsedMs, cpuUs: cpu.user + cpu.system, latenciesMs };
}

async function measure(
  client: Client,
  url: string,
  config: CellConfig,
  durationMs: number,
  upstream: Upstream,
): Promise<Sample> {
  client.beforeRun?.();
  globalThis.gc?.();
  const serverCpu0 = await upstream.cpuUs();
  const load = await runLoad(
    { concurrency: config.concurrency, durationMs, withLatency: config.concurrency === 1 },
    async () => {
      const bytes = await client.get(url);
      if (bytes !== config.size) throw new Error(`${client.name}: read ${bytes} bytes of ${config.size}`);
    },
  );
  const serverCpuUs = (await upstream.cpuUs()) - serverCpu0;
  await client.afterRun?.();
  return { ...load, serverCpuUs };
}

const rotate = <T>(items: readonly T[], by: number): T[] => {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
};

const rpsOf = (sample: Sample): number => sample.requests / (sample.elapsedMs / 1000);
const cpuPerRequestOf = (sample: Sample): number => sample.cpuUs / sample.requests;

/** `ratio(sample, base)` for each round, pairing each round's sample with the baseline's. */
function pairedRatios(
  samples: readonly Sample[],
  baseline: readonly Sample[],
  ratio: (sample: Sample, base: Sample) => number,
): number[] {
  return samples.map((sample, i) => {
    const base = baseline[i];
    return base ? ratio(sample, base) : Number.NaN;
  });
}

function summarise(
  client: ClientName,
  samples: readonly Sample[],
  baseline: readonly Sample[],
): ClientSummary {
  const latencies = samples.flatMap((sample) => sample.latenciesMs);
  const ratios = pairedRatios(samples, baseline, (s, b) => rpsOf(s) / rpsOf(b));
  return {
    client,
    rps: spreadOf(samples.map(rpsOf)),
    ratio: spreadOf(ratios),
    ratioInterval: bootstrapMedianInterval(ratios),
    cpuUsPerRequest: spreadOf(samples.map(cpuPerRequestOf)),
    cpuRatio: spreadOf(pairedRatios(samples, baseline, (s, b) => cpuPerRequestOf(b) / cpuPerRequestOf(s))),
    serverCpuPercent: median(samples.map((s) => (s.serverCpuUs / (s.elapsedMs * 1000)) * 100)),
    p50Ms: latencies.length > 0 ? percentile(latencies, 50) : null,
    p99Ms: latencies.length > 0 ? percentile(latencies, 99) : null,
    rounds: samples.map(({ latenciesMs: _, ...rest }) => rest),
  };
}

/** Runs one cell. `clients[0]` is the baseline every ratio is taken against. */
export async function runCell(
  clients: readonly Client[],
  config: CellConfig,
  upstream: Upstream,
): Promise<CellResult> {
  const url = `${upstream.origin}/${config.size}`;
  for (const client of clients) await measure(client, url, config, config.warmupMs, upstream);

  const samples = new Map<ClientName, Sample[]>(clients.map((c) => [c.name, []]));
  for (let round = 0; round < config.rounds; round++) {
    for (const client of rotate(clients, round)) {
      samples.get(client.name)?.push(await measure(client, url, config, config.durationMs, upstream));
    }
  }

  const baseline = samples.get(clients[0]?.name ?? 'native fetch') ?? [];
  const { warmupMs: _, ...cell } = config;
  return {
    ...cell,
    clients: clients.map((c) => summarise(c.name, samples.get(c.name) ?? [], baseline)),
  };
}
