/**
 * The coordinator of `npm run bench`: forks the client processes (bench/worker.ts), keeps them alive,
 * and runs the cells. In every round of a cell it tells each client in turn (the order rotated each round)
 * to run for the same time against the same route, and records the client's own CPU time, the upstream's
 * and the receiver's. Memory is measured apart, in a fresh process per client and repetition.
 */
import { createServer } from 'node:net';
import type { CellResult, MemoryResult, Mode, RoundSample, SlotResult } from './analysis.ts';
import { type Child, forkChild } from './child.ts';
import type { LibrarySource } from './library.ts';
import { type ClientId, lineup } from './lineup.ts';
import type { ReceiverMessage, ReceiverOrder, ServiceCounts } from './receiver.ts';
import type { RouteId, SseShape } from './routes.ts';
import { percentile } from './stats.ts';
import type { Upstream } from './upstream.ts';
import type { MemorySample, WorkerOrder, WorkerReply, WorkerSettings } from './worker.ts';

const workerPath = new URL('./worker.ts', import.meta.url);

export interface Receiver {
  readonly url: string;
  cpuUs(): Promise<number>;
  counts(): Promise<Extract<ReceiverMessage, { type: 'counts' }>>;
  scrape(service: string, url: string, everyMs: number): void;
  stop(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const child = await forkChild<ReceiverOrder, ReceiverMessage>(new URL('./receiver.ts', import.meta.url), {
    name: 'telemetry receiver',
    ready: 'ready',
  });
  const { port } = child.ready as Extract<ReceiverMessage, { type: 'ready' }>;
  return {
    url: `http://127.0.0.1:${port}`,
    async cpuUs() {
      const { usage } = await child.request({ type: 'cpu' }, 'cpu');
      return usage.user + usage.system;
    },
    counts: () => child.request({ type: 'counts' }, 'counts'),
    scrape: (service, url, everyMs) => child.process.send({ type: 'scrape', service, url, everyMs }),
    stop: () => child.stop({ type: 'stop' }),
  };
}

/** A port free right now on 127.0.0.1, for the Prometheus exporter (which cannot take port 0). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('freePort: no TCP address');
  return address.port;
}

export type Worker = Child<WorkerOrder, Exclude<WorkerReply, { type: 'error' }>>;

export interface Services {
  readonly upstream: Upstream;
  readonly receiver: Receiver;
}

/** Forks a client process holding `clients`; the Prometheus client gets a port and a scraper. */
export async function startWorker(
  clients: readonly ClientId[],
  services: Services,
  library: LibrarySource = 'src',
): Promise<Worker> {
  const prometheus = clients.some((id) => lineup[id].sdk === 'prometheus');
  const promPort = prometheus ? await freePort() : undefined;
  const settings: WorkerSettings = {
    clients,
    origin: services.upstream.origin,
    otlpUrl: services.receiver.url,
    promPort,
    library,
  };
  const worker: Worker = await forkChild(workerPath, {
    name: `client process ${clients.join('+')}`,
    args: [JSON.stringify(settings)],
    execArgv: ['--expose-gc'],
    ready: 'ready',
  });
  if (promPort !== undefined) {
    services.receiver.scrape(`bench-${clients[0]}`, `http://127.0.0.1:${promPort}/metrics`, 1_000);
  }
  return worker;
}

/** One client in one process: a column of the rounds. */
export interface Slot {
  readonly client: ClientId;
  readonly mode: Mode;
  readonly worker: Worker;
}

export interface CellPlan {
  readonly route: RouteId;
  readonly concurrency: number;
  readonly rounds: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly sse: SseShape;
  readonly slots: readonly Slot[];
}

const rotate = <T>(items: readonly T[], by: number): T[] => {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
};

/** How long a run may take before the bench gives up on it (a hung client must not hang the bench). */
const runTimeoutMs = (plan: CellPlan, durationMs: number): number =>
  plan.route === 'sse' ? plan.sse.events * plan.sse.intervalMs * 5 + 30_000 : durationMs + 60_000;

interface Measured {
  readonly sample: RoundSample;
  readonly latenciesMs: readonly number[];
}

async function runSlot(
  slot: Slot,
  plan: CellPlan,
  durationMs: number,
  services: Services,
): Promise<Measured> {
  const server0 = await services.upstream.cpuUs();
  const receiver0 = await services.receiver.cpuUs();
  const { sample } = await slot.worker.request(
    {
      type: 'run',
      client: slot.client,
      route: plan.route,
      concurrency: plan.concurrency,
      durationMs,
      sse: plan.sse,
    },
    'ran',
    runTimeoutMs(plan, durationMs),
  );
  const serverCpuUs = (await services.upstream.cpuUs()) - server0;
  const receiverCpuUs = (await services.receiver.cpuUs()) - receiver0;
  const { latenciesMs, ...rest } = sample;
  const round: RoundSample = {
    requests: rest.requests,
    elapsedMs: rest.elapsedMs,
    cpuUs: rest.cpuUs,
    flushCpuUs: rest.flushCpuUs,
    serverCpuUs,
    receiverCpuUs,
    ...(plan.route === 'sse' ? { streamMs: latenciesMs.map((ms) => Math.round(ms * 10) / 10) } : {}),
  };
  return { sample: round, latenciesMs: plan.route === 'sse' ? [] : latenciesMs };
}

/** Warm-up for every slot, then the interleaved rounds. */
export async function runCell(plan: CellPlan, services: Services): Promise<CellResult> {
  for (const slot of plan.slots) await runSlot(slot, plan, plan.warmupMs, services);
  const rounds = plan.slots.map(() => [] as RoundSample[]);
  const latencies = plan.slots.map(() => [] as number[]);
  for (let round = 0; round < plan.rounds; round++) {
    for (const index of rotate(
      plan.slots.map((_, i) => i),
      round,
    )) {
      const slot = plan.slots[index] as Slot;
      const measured = await runSlot(slot, plan, plan.durationMs, services);
      rounds[index]?.push(measured.sample);
      for (const ms of measured.latenciesMs) latencies[index]?.push(ms);
    }
  }
  const slots: SlotResult[] = plan.slots.map((slot, i) => {
    const pooled = latencies[i] ?? [];
    return {
      client: slot.client,
      mode: slot.mode,
      rounds: rounds[i] ?? [],
      p50Ms: pooled.length > 0 ? percentile(pooled, 50) : null,
      p99Ms: pooled.length > 0 ? percentile(pooled, 99) : null,
    };
  });
  return { route: plan.route, concurrency: plan.concurrency, durationMs: plan.durationMs, slots };
}

/** What the SDK processes exported, against the calls they made: the check that the SDK recorded. */
export interface SdkCheck {
  readonly client: ClientId;
  readonly calls: number;
  readonly counts: ServiceCounts | undefined;
  readonly spansPerCall: number | null;
  readonly warnings: { readonly count: number; readonly first: readonly string[] } | undefined;
}

export async function checkSdks(
  workers: readonly { client: ClientId; worker: Worker }[],
  receiver: Receiver,
): Promise<{ checks: SdkCheck[]; refused: readonly string[] }> {
  const flushed = [];
  for (const { client, worker } of workers) {
    if (lineup[client].sdk === 'none') continue;
    const reply = await worker.request({ type: 'flush' }, 'flushed');
    flushed.push({ client, calls: reply.calls[client] ?? 0, warnings: reply.warnings });
  }
  // The receiver counts a batch when its request ends: give the last exports a moment to land.
  await new Promise((resolve) => setTimeout(resolve, 300));
  const { services, refused } = await receiver.counts();
  const checks = flushed.map(({ client, calls, warnings }) => {
    const counts = services[`bench-${client}`];
    return {
      client,
      calls,
      counts,
      spansPerCall: counts && calls > 0 ? counts.spans / calls : null,
      warnings,
    };
  });
  return { checks, refused };
}

/** How often a memory process forces a GC to read its live heap: ten times per run, at most every 50 ms. */
export const gcEveryMsOf = (durationMs: number): number => Math.max(50, Math.floor(durationMs / 10));

/** Each client in a fresh process per repetition (RSS never comes back), the order rotated. */
export async function runMemory(
  clients: readonly ClientId[],
  options: {
    readonly reps: number;
    readonly durationMs: number;
    readonly concurrency: number;
    readonly library: LibrarySource;
  },
  services: Services,
  progress: (line: string) => void,
): Promise<MemoryResult[]> {
  const reps = new Map<ClientId, MemorySample[]>(clients.map((id) => [id, []]));
  for (let rep = 0; rep < options.reps; rep++) {
    for (const client of rotate(clients, rep)) {
      const worker = await startWorker([client], services, options.library);
      try {
        const { memory } = await worker.request(
          {
            type: 'memory',
            client,
            concurrency: options.concurrency,
            durationMs: options.durationMs,
            gcEveryMs: gcEveryMsOf(options.durationMs),
          },
          'memory',
          options.durationMs + 60_000,
        );
        reps.get(client)?.push(memory);
      } finally {
        await worker.stop({ type: 'stop' });
      }
    }
    progress(`  memory: repetition ${rep + 1} of ${options.reps} done`);
  }
  return clients.map((client) => ({ client, reps: reps.get(client) ?? [] }));
}
