/**
 * Side-by-side runs in one process, for work on the hot path: two processes run one after the other on
 * a shared machine differ by more than most single changes do.
 *
 *   npm run bench:ab -- --base DIR     this checkout's resilientFetch against another checkout's (DIR, e.g.
 *                                      a `git worktree` of the commit before a change), native fetch beside
 *   npm run bench:ab -- --layers       the stack peeled layer by layer: a minimal dispatch that returns a
 *                                      Response, the same with fetch's request headers, the fast transport
 *                                      alone, resilientFetch with retry and breaker off and no-op telemetry,
 *                                      with its defaults and no-op telemetry, and (with --sdk) recording
 *
 *   git worktree add ../base main && ln -s "$PWD/node_modules" ../base/
 *   npm run bench:ab -- --base ../base --sdk --rounds 40
 *
 * Options: --base DIR (its `src/index.ts` is imported; bare imports resolve from DIR upwards, so give a
 * worktree a `node_modules` link to this one's), --layers, --sdk (register the OpenTelemetry SDK of
 * `npm run bench -- --otel` first, so that every client built with default telemetry records through
 * it), --rounds N (40), --duration-ms N (250 per client per round), --size 64|65536 (64), --concurrency N
 * (16).
 *
 * Prints, per client, the median over the rounds of its req/s ratio to native fetch (paired per round)
 * and of its CPU µs per request; with --base, also the per-round ratio this/base with its 95 % bootstrap
 * interval.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { createNoopMeter, ProxyTracerProvider } from '@opentelemetry/api';
import { createFastTransport } from '../src/fast-transport.ts';
import type { ResilientFetchOptions } from '../src/index.ts';
import type { FetchInit } from '../src/transport.ts';
import { assertNativeBaseline } from './clients.ts';
import { bootstrapMedianInterval, median } from './stats.ts';
import { startUpstream } from './upstream.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    layers: { type: 'boolean', default: false },
    sdk: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '40' },
    'duration-ms': { type: 'string', default: '250' },
    size: { type: 'string', default: '64' },
    concurrency: { type: 'string', default: '16' },
  },
});
const positive = (name: string, text: string): number => {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new TypeError(`bench/ab: --${name} must be a positive integer, got ${text}`);
  return value;
};
if ((values.base === undefined) === !values.layers)
  throw new TypeError('bench/ab: give either --base DIR (a checkout to compare with) or --layers');
const rounds = positive('rounds', values.rounds);
const durationMs = positive('duration-ms', values['duration-ms']);
const concurrency = positive('concurrency', values.concurrency);
if (values.size !== '64' && values.size !== '65536')
  throw new TypeError(`bench/ab: --size must be 64 or 65536, got ${values.size}`);

// As in bench/run.ts: Node's fetch fills its global dispatcher before anything can replace it.
await fetch('data:,');
if (values.sdk) (await import('./otel.ts')).registerSdk();

type Fetch = (url: string) => Promise<Response>;
type Dispatch = { dispatch(options: object, handler: object): boolean };
type Instance = Fetch & { close(): Promise<void> };
interface Module {
  createResilientFetch(options?: ResilientFetchOptions): Instance;
}
const load = async (dir: string): Promise<Module> =>
  (await import(pathToFileURL(resolve(dir, 'src/index.ts')).href)) as Module;
/** The headers Node's fetch sends with a plain GET (besides host and connection). */
const fetchHeaders = {
  accept: '*/*',
  'accept-language': '*',
  'sec-fetch-mode': 'cors',
  'user-agent': 'node',
  'accept-encoding': 'gzip, deflate',
};

const instances: Instance[] = [];
const make = (module: Module, options?: ResilientFetchOptions): Instance => {
  const instance = module.createResilientFetch(options);
  instances.push(instance);
  return instance;
};
const here = await load(new URL('..', import.meta.url).pathname);
const clients: Array<readonly [string, Fetch]> = [['native fetch', (url) => fetch(url)]];
if (values.base !== undefined) {
  clients.push(['base', make(await load(values.base))], ['this checkout', make(here)]);
} else {
  // The API's no-op tracer and meter: what resilientFetch costs with nothing recording.
  const noop = {
    tracerProvider: new ProxyTracerProvider(),
    meterProvider: { getMeter: () => createNoopMeter() },
  };
  assertNativeBaseline(); // the global dispatcher is Node's own Agent: its class is the one we build
  const slot = (globalThis as unknown as Record<symbol, { constructor: new (options: object) => Dispatch }>)[
    Symbol.for('undici.globalDispatcher.1')
  ];
  const agent = new (slot as { constructor: new (options: object) => Dispatch }).constructor({
    connections: 30,
  });
  const transport = createFastTransport(
    () => Promise.reject(new Error('bench/ab: not a fast-route request')),
    () => true,
  );
  clients.push(
    ['minimal dispatch', (url) => minimalDispatch(agent, url, { accept: '*/*' })],
    ['+ fetch headers', (url) => minimalDispatch(agent, url, fetchHeaders)],
    [
      'fast transport',
      (url) => transport({ input: url, init: { dispatcher: agent } as unknown as FetchInit }),
    ],
    ['rf, policies off', make(here, { retry: false, circuitBreaker: false, telemetry: noop })],
    ['rf, defaults', make(here, { telemetry: noop })],
  );
  if (values.sdk) clients.push(['rf + SDK', make(here)]);
}

const upstream = await startUpstream();
const url = `${upstream.origin}/${values.size}`;
const gc = (globalThis as { gc?: () => void }).gc;

async function run(get: Fetch, ms: number): Promise<{ rps: number; cpuUs: number }> {
  const until = performance.now() + ms;
  let requests = 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        const response = await get(url);
        await response.arrayBuffer();
        requests++;
      }
    }),
  );
  const used = process.cpuUsage(cpu);
  return {
    rps: requests / ((performance.now() - started) / 1_000),
    cpuUs: (used.user + used.system) / requests,
  };
}

try {
  for (const [, get] of clients) await run(get, 400); // warm-up
  const vsNative = new Map<string, number[]>(clients.map(([name]) => [name, []]));
  const cpu = new Map<string, number[]>(clients.map(([name]) => [name, []]));
  const thisOverBase: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const shift = round % clients.length;
    const order = [...clients.slice(shift), ...clients.slice(0, shift)];
    const results = new Map<string, { rps: number; cpuUs: number }>();
    for (const [name, get] of order) {
      gc?.();
      results.set(name, await run(get, durationMs));
    }
    const native = results.get('native fetch')?.rps ?? Number.NaN;
    for (const [name] of clients) {
      const result = results.get(name);
      vsNative.get(name)?.push((result?.rps ?? Number.NaN) / native);
      cpu.get(name)?.push(result?.cpuUs ?? Number.NaN);
    }
    if (values.base !== undefined) {
      thisOverBase.push(
        (results.get('this checkout')?.rps ?? Number.NaN) / (results.get('base')?.rps ?? Number.NaN),
      );
    }
  }
  console.log(
    `${values.size} B x ${concurrency}, ${rounds} interleaved rounds x ${durationMs} ms, SDK ${values.sdk ? 'registered' : 'not registered'}`,
  );
  for (const [name] of clients) {
    const ratio = median(vsNative.get(name) ?? []).toFixed(2);
    const us = median(cpu.get(name) ?? []).toFixed(1);
    console.log(`${name.padEnd(18)} req/s vs native ${ratio}x   CPU ${us} µs/request`);
  }
  if (thisOverBase.length > 0) {
    const { low, high } = bootstrapMedianInterval(thisOverBase);
    console.log(
      `this checkout / base: ${median(thisOverBase).toFixed(3)}x (95% CI ${low.toFixed(3)}-${high.toFixed(3)})`,
    );
  }
} finally {
  await Promise.all(instances.map((instance) => instance.close()));
  await upstream.stop();
}

/**
 * The floor of any fetch: one `dispatch()` on Node's own Agent, a byte-stream `Response` built from what
 * undici hands back. No redirects, decoding, errors or aborts: not a fetch, a measure of what is left.
 */
function minimalDispatch(agent: Dispatch, href: string, headers: Record<string, string>): Promise<Response> {
  const url = new URL(href);
  return new Promise((resolve, reject) => {
    let controller: ReadableByteStreamController | undefined;
    agent.dispatch(
      { origin: url.origin, path: url.pathname, method: 'GET', headers },
      {
        onConnect() {},
        onError: reject,
        onHeaders(status: number, raw: Buffer[], _resume: () => void, statusText: string) {
          const body = new ReadableStream(
            {
              type: 'bytes',
              start: (c) => {
                controller = c;
              },
            },
            { highWaterMark: 65_536 },
          );
          const response = new Response(body, { status, statusText });
          for (let i = 0; i < raw.length; i += 2) {
            response.headers.append(
              (raw[i] as Buffer).toString('latin1'),
              (raw[i + 1] as Buffer).toString('latin1'),
            );
          }
          resolve(response);
          return true;
        },
        onData(chunk: Buffer) {
          controller?.enqueue(new Uint8Array(chunk));
          return true;
        },
        onComplete() {
          controller?.close();
        },
      },
    );
  });
}
