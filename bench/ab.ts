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
import type { ResilientFetchOptions } from '../src/index.ts';
import type { FetchInit } from '../src/transport/types.ts';
import type { Client } from './clients.ts';
import { runCell } from './measure.ts';
import { bootstrapMedianInterval, median } from './stats.ts';
import { startUpstream } from './upstream.ts';

/** `bench:ab` client ids -> table names. */
export const abClientNames = {
  base: 'base',
  current: 'this checkout',
  minimal: 'minimal dispatch',
  headers: '+ fetch headers',
  fast: 'fast transport',
  off: 'rf, policies off',
  defaults: 'rf, defaults',
  sdk: 'rf + SDK',
} as const;
export type AbClientId = keyof typeof abClientNames;
export type AbClientName = (typeof abClientNames)[AbClientId];

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
const size = Number(values.size);

// As in bench/run.ts: Node's fetch fills its global dispatcher before npm undici (bench/clients.ts) loads.
await fetch('data:,');
const { assertNativeBaseline } = await import('./clients.ts');
const { fetchClient, globalFetchClient } = await import('./global-fetch-client.ts');
assertNativeBaseline();
if (values.sdk) (await import('./otel.ts')).registerSdk();

type Fetch = (url: string) => Promise<Response>;
type Dispatch = { dispatch(options: object, handler: object): boolean };
type Instance = Fetch & { close(): Promise<void> };
interface Module {
  createResilientFetch(options?: ResilientFetchOptions): Instance;
}
const load = async (dir: string): Promise<Module> =>
  (await import(pathToFileURL(resolve(dir, 'src/index.ts')).href)) as Module;

const client = (id: AbClientId, get: Fetch, close?: () => Promise<void>): Client =>
  fetchClient(abClientNames[id], id, get, close);
const resilient = (id: AbClientId, module: Module, options?: ResilientFetchOptions): Client => {
  const instance = module.createResilientFetch(options);
  return client(id, instance, () => instance.close());
};

/** The headers Node's fetch sends with a plain GET (besides host and connection). */
const fetchHeaders = {
  accept: '*/*',
  'accept-language': '*',
  'sec-fetch-mode': 'cors',
  'user-agent': 'node',
  'accept-encoding': 'gzip, deflate',
};

const here = await load(new URL('..', import.meta.url).pathname);
const clients: Client[] = [globalFetchClient('native fetch', 'native')];
if (values.base !== undefined) {
  clients.push(resilient('base', await load(values.base)), resilient('current', here));
} else {
  const { createFastTransport } = await import('../src/transport/fast/transport.ts');
  // The API's no-op tracer and meter: what resilientFetch costs with nothing recording.
  const noop = {
    tracerProvider: new ProxyTracerProvider(),
    meterProvider: { getMeter: () => createNoopMeter() },
  };
  // The global dispatcher is Node's own Agent (checked above): its class is the one the pools use.
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
    client('minimal', (url) => minimalDispatch(agent, url, { accept: '*/*' })),
    client('headers', (url) => minimalDispatch(agent, url, fetchHeaders)),
    client('fast', (url) =>
      transport({ input: url, init: { dispatcher: agent } as unknown as FetchInit, signal: undefined }),
    ),
    resilient('off', here, { retry: false, circuitBreaker: false, telemetry: noop }),
    resilient('defaults', here, { telemetry: noop }),
  );
  if (values.sdk) clients.push(resilient('sdk', here));
}

const upstream = await startUpstream();
try {
  const cell = await runCell(clients, { size, concurrency, rounds, durationMs, warmupMs: 400 }, upstream);
  console.log(
    `${size} B x ${concurrency}, ${rounds} interleaved rounds x ${durationMs} ms, SDK ${values.sdk ? 'registered' : 'not registered'}`,
  );
  for (const summary of cell.clients) {
    const ratio = summary.ratio.median.toFixed(2);
    const us = summary.cpuUsPerRequest.median.toFixed(1);
    console.log(`${summary.client.padEnd(18)} req/s vs native ${ratio}x   CPU ${us} µs/request`);
  }
  if (values.base !== undefined) {
    const rps = (name: string) =>
      cell.clients.find((c) => c.client === name)?.rounds.map((r) => r.requests / r.elapsedMs) ?? [];
    const base = rps(abClientNames.base);
    const thisOverBase = rps(abClientNames.current).map((value, i) => value / (base[i] ?? Number.NaN));
    const { low, high } = bootstrapMedianInterval(thisOverBase);
    console.log(
      `this checkout / base: ${median(thisOverBase).toFixed(3)}x (95% CI ${low.toFixed(3)}-${high.toFixed(3)})`,
    );
  }
} finally {
  await Promise.all(clients.map((c) => c.close()));
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
