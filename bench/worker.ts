/**
 * A client process of `npm run bench`, forked by bench/run.ts: it builds one client (or, for the
 * in-process comparison, several that share the process) and runs what it is told, one order at a time:
 *
 *   run      one timed run of a client against one route at a concurrency; replies with the requests
 *            made, the wall time, this process's CPU time, latencies at concurrency 1, and for SDK clients
 *            the CPU spent flushing the spans the run left in the batch processor (counted as the run's)
 *   memory   reads 1 MiB bodies at 16 concurrent for a while, collecting garbage every `gcEveryMs` to read
 *            the live heap, and replies with the peak RSS (the kernel's, for the whole process life) and
 *            the largest heap and off-heap (external) memory seen after a GC
 *   flush    flushes spans; replies with the calls each client made and the SDK's warnings
 *   stop     closes the clients and the SDK, then exits
 *
 * `gc()` runs before every run (the process is started with --expose-gc), outside the measured window.
 */
import type { ErrorMessage } from './child.ts';
import type { LibrarySource } from './library.ts';
import { type ClientId, lineup } from './lineup.ts';
import { type LoadSample, runLoad } from './measure.ts';
import type { RouteClient } from './route-clients.ts';
import { jsonBody, type RouteId, routes, type SseShape, urlOf } from './routes.ts';
import type { WorkerSdk } from './sdk.ts';

export interface WorkerSettings {
  readonly clients: readonly ClientId[];
  readonly origin: string;
  readonly otlpUrl: string;
  readonly promPort: number | undefined;
  /** Where resilient-fetch is loaded from: `src` for speed, `dist` for memory (bench/library.ts). */
  readonly library: LibrarySource;
}

export interface RunOrder {
  readonly type: 'run';
  readonly client: ClientId;
  readonly route: RouteId;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly sse: SseShape;
}
export interface MemoryOrder {
  readonly type: 'memory';
  readonly client: ClientId;
  readonly concurrency: number;
  readonly durationMs: number;
  readonly gcEveryMs: number;
}
export type WorkerOrder = RunOrder | MemoryOrder | { readonly type: 'flush' } | { readonly type: 'stop' };

/** One run. For the SSE route, `requests` are streams and `elapsedMs` the time to the last event. */
export interface RunSample extends LoadSample {
  /** CPU time of the span flush after the run (0 without an SDK), in microseconds. */
  readonly flushCpuUs: number;
}

export interface MemorySample {
  readonly requests: number;
  /** RSS when the client was built, before its first request. */
  readonly rssBeforeBytes: number;
  /** The process's peak RSS (getrusage maxrss), its whole life. */
  readonly peakRssBytes: number;
  /** The largest heapUsed / external seen right after a forced GC while bodies were being read. */
  readonly peakHeapUsedBytes: number;
  readonly peakExternalBytes: number;
  /** The same after the load ended and a GC ran. */
  readonly heapUsedAfterBytes: number;
  readonly externalAfterBytes: number;
  readonly gcSamples: number;
}

export type WorkerReply =
  | {
      readonly type: 'ready';
      readonly pid: number;
      readonly nativeDispatcher: string;
      readonly rssBytes: number;
    }
  | { readonly type: 'ran'; readonly sample: RunSample }
  | { readonly type: 'memory'; readonly memory: MemorySample }
  | {
      readonly type: 'flushed';
      readonly calls: Readonly<Partial<Record<ClientId, number>>>;
      readonly warnings: WorkerSdk['warnings'] | undefined;
    }
  | ErrorMessage;

const send = (reply: WorkerReply): void => {
  process.send?.(reply);
};

const collect = (): void => {
  if (!globalThis.gc) throw new Error('bench worker: run with --expose-gc');
  globalThis.gc();
};

interface Setup {
  readonly clients: ReadonlyMap<ClientId, RouteClient>;
  readonly sdk: WorkerSdk | undefined;
  readonly calls: Map<ClientId, number>;
}

async function setUp(settings: WorkerSettings): Promise<Setup & { nativeDispatcher: string }> {
  // Node's fetch picks its global dispatcher on its first call: before npm undici loads (bench/clients.ts).
  await (await fetch('data:,warm')).arrayBuffer();
  const kinds = new Set(settings.clients.map((id) => lineup[id].sdk));
  if (kinds.size > 1 || (kinds.has('none') === false && settings.clients.length > 1)) {
    throw new Error('one SDK client per process, and SDK clients share a process with no other client');
  }
  const [kind] = kinds;
  const { startSdk } = await import('./sdk.ts');
  const [first] = settings.clients;
  const sdk = await startSdk(kind ?? 'none', {
    library: settings.library,
    serviceName: `bench-${first}`,
    otlpUrl: settings.otlpUrl,
    promPort: settings.promPort,
  });
  const { createRouteClient, loadsNpmUndici } = await import('./route-clients.ts');
  const clients = new Map<ClientId, RouteClient>();
  for (const id of settings.clients) clients.set(id, await createRouteClient(id, settings.library));
  return {
    clients,
    sdk,
    calls: new Map(),
    nativeDispatcher: await nativeDispatcherOf(settings.clients.some(loadsNpmUndici)),
  };
}

/**
 * The class of Node's fetch's global dispatcher. Where npm undici is loaded, bench/clients.ts checks it
 * is not undici 8's; where it is not loaded, it cannot be.
 */
async function nativeDispatcherOf(npmUndiciLoaded: boolean): Promise<string> {
  if (npmUndiciLoaded) return (await import('./clients.ts')).assertNativeBaseline();
  const slot = (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')];
  return `${(slot as object | undefined)?.constructor.name ?? 'none'} (npm undici not loaded)`;
}

const postBody = jsonBody(routes.post.size);

/** One call of `route` by `client`, checked. */
function callOf(client: RouteClient, route: RouteId, origin: string, sse: SseShape): () => Promise<void> {
  const shape = routes[route];
  const url = urlOf(origin, shape, sse);
  if (shape.kind === 'get') return () => client.get(url, shape.size);
  if (shape.kind === 'post') return () => client.post(url, postBody, shape.size);
  throw new Error(`callOf: ${route} is a stream route`);
}

/** 16 streams at once, each read to its end; the sample's wall time runs to the last event of all. */
async function runStreams(client: RouteClient, origin: string, sse: SseShape): Promise<LoadSample> {
  const url = urlOf(origin, routes.sse, sse);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const reads = await Promise.all(
    Array.from({ length: routes.sse.streams }, () => client.stream(url, sse.events)),
  );
  const cpu = process.cpuUsage(cpu0);
  for (const read of reads) {
    if (read.events !== sse.events)
      throw new Error(`${lineup[client.id].label}: ${read.events} events, expected ${sse.events}`);
  }
  const latenciesMs = reads.map((read) => read.lastEventAt - t0);
  return {
    requests: reads.length,
    elapsedMs: Math.max(...latenciesMs),
    cpuUs: cpu.user + cpu.system,
    latenciesMs,
  };
}

function clientOf(setup: Setup, id: ClientId): RouteClient {
  const client = setup.clients.get(id);
  if (!client) throw new Error(`bench worker: no client ${id} in this process`);
  return client;
}

async function run(setup: Setup, order: RunOrder, origin: string): Promise<RunSample> {
  const client = clientOf(setup, order.client);
  collect();
  const load =
    order.route === 'sse'
      ? await runStreams(client, origin, order.sse)
      : await runLoad(
          {
            concurrency: order.concurrency,
            durationMs: order.durationMs,
            withLatency: order.concurrency === 1,
          },
          callOf(client, order.route, origin, order.sse),
        );
  const flush0 = process.cpuUsage();
  await setup.sdk?.flushSpans();
  const flush = process.cpuUsage(flush0);
  setup.calls.set(order.client, (setup.calls.get(order.client) ?? 0) + load.requests);
  return { ...load, flushCpuUs: setup.sdk ? flush.user + flush.system : 0 };
}

async function measureMemory(
  setup: Setup,
  order: MemoryOrder,
  origin: string,
  rssBeforeBytes: number,
): Promise<MemorySample> {
  const client = clientOf(setup, order.client);
  let peakHeapUsedBytes = 0;
  let peakExternalBytes = 0;
  let gcSamples = 0;
  const timer = setInterval(() => {
    collect();
    const { heapUsed, external } = process.memoryUsage();
    peakHeapUsedBytes = Math.max(peakHeapUsedBytes, heapUsed);
    peakExternalBytes = Math.max(peakExternalBytes, external);
    gcSamples++;
  }, order.gcEveryMs);
  const load = await runLoad(
    { concurrency: order.concurrency, durationMs: order.durationMs, withLatency: false },
    callOf(client, '1m', origin, { events: 0, intervalMs: 0 }),
  ).finally(() => clearInterval(timer));
  collect();
  const after = process.memoryUsage();
  return {
    requests: load.requests,
    rssBeforeBytes,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    peakHeapUsedBytes,
    peakExternalBytes,
    heapUsedAfterBytes: after.heapUsed,
    externalAfterBytes: after.external,
    gcSamples,
  };
}

async function stop(setup: Setup): Promise<never> {
  await Promise.all([...setup.clients.values()].map((client) => client.close()));
  // A last export that cannot finish must not hold the process.
  await Promise.race([setup.sdk?.shutdown(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
  process.exit(0);
}

async function main(): Promise<void> {
  const settings = JSON.parse(process.argv[2] ?? '{}') as WorkerSettings;
  const setup = await setUp(settings);
  const rssBeforeBytes = process.memoryUsage.rss();
  let queue = Promise.resolve();
  process.on('message', (order: WorkerOrder) => {
    queue = queue.then(async () => {
      try {
        if (order.type === 'run') send({ type: 'ran', sample: await run(setup, order, settings.origin) });
        else if (order.type === 'memory')
          send({
            type: 'memory',
            memory: await measureMemory(setup, order, settings.origin, rssBeforeBytes),
          });
        else if (order.type === 'flush') {
          await setup.sdk?.flushSpans();
          send({ type: 'flushed', calls: Object.fromEntries(setup.calls), warnings: setup.sdk?.warnings });
        } else if (order.type === 'stop') await stop(setup);
      } catch (error) {
        send({
          type: 'error',
          message: error instanceof Error ? (error.stack ?? error.message) : String(error),
        });
      }
    });
  });
  process.on('disconnect', () => void stop(setup));
  send({
    type: 'ready',
    pid: process.pid,
    nativeDispatcher: setup.nativeDispatcher,
    rssBytes: rssBeforeBytes,
  });
}

if (import.meta.main && process.send) {
  main().catch((error: unknown) => {
    send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  });
}
