/**
 * A local, deliberately flaky upstream: three HTTP "hosts" (one node:http server each, on 127.0.0.1 and a
 * port the OS picks) with different personalities, so resilient-fetch can be watched against the kind of
 * trouble real APIs cause.
 *
 *   llm       slow-ish; sometimes 503 with Retry-After; sometimes takes 1.5 s to its first byte; often
 *             streams its body in chunks
 *   payments  fast and mostly fine; sometimes resets the socket before answering (a network error)
 *   speech    usually quick; sometimes very slow (1.2 s)
 *
 * Every rate and latency is an option, and all randomness comes from a seeded generator, so a run can be
 * repeated and nothing is unbounded (the slowest response is `slowMs` plus the latency range).
 *
 * On top of that, `setDown(name, true)` takes one host fully down (every request answered `503` at once,
 * without `Retry-After`, as a load balancer with no healthy backend does) until `setDown(name, false)`.
 *
 * Run it alone (it prints its URLs and serves until Ctrl-C):
 *   node examples/flaky-upstream.ts [--seed 42]
 * or import `startFlakyUpstream()` from it, as examples/demo.ts does.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';

/** How one upstream host behaves. Rates are probabilities per request, in [0, 1]. */
export interface HostBehaviour {
  /** Latency before the response headers: uniform in [minLatencyMs, maxLatencyMs]. */
  minLatencyMs: number;
  maxLatencyMs: number;
  /** Share of requests answered `503 Service Unavailable` with a `Retry-After` header. */
  unavailableRate: number;
  /** The `Retry-After` value (seconds) sent with a 503. */
  retryAfterSeconds: number;
  /** Share of requests whose socket is destroyed before any response: the client sees a network error. */
  resetRate: number;
  /** Share of requests that wait an extra `slowMs` before answering. */
  slowRate: number;
  slowMs: number;
  /** Share of successful responses whose body is streamed in `streamChunks` chunks, `chunkDelayMs` apart. */
  streamRate: number;
  streamChunks: number;
  chunkDelayMs: number;
}

export const hostNames = ['llm', 'payments', 'speech'] as const;
export type HostName = (typeof hostNames)[number];

const ok: HostBehaviour = {
  minLatencyMs: 5,
  maxLatencyMs: 20,
  unavailableRate: 0,
  retryAfterSeconds: 1,
  resetRate: 0,
  slowRate: 0,
  slowMs: 0,
  streamRate: 0,
  streamChunks: 1,
  chunkDelayMs: 0,
};

/** The personalities the upstream starts with; each field can be overridden per host. */
export const defaultBehaviours: Readonly<Record<HostName, Readonly<HostBehaviour>>> = {
  llm: {
    ...ok,
    minLatencyMs: 60,
    maxLatencyMs: 200,
    unavailableRate: 0.08,
    retryAfterSeconds: 1,
    slowRate: 0.03,
    slowMs: 1_500,
    streamRate: 0.4,
    streamChunks: 5,
    chunkDelayMs: 30,
  },
  payments: { ...ok, minLatencyMs: 5, maxLatencyMs: 30, unavailableRate: 0.01, resetRate: 0.05 },
  speech: { ...ok, minLatencyMs: 20, maxLatencyMs: 60, unavailableRate: 0.02, slowRate: 0.05, slowMs: 1_200 },
};

export interface FlakyUpstreamOptions {
  /** Seed of the random generator (each host derives its own stream from it). @default 1 */
  seed?: number;
  /** Per-host overrides of `defaultBehaviours`. */
  hosts?: { [K in HostName]?: Partial<HostBehaviour> };
  /** Fixed ports per host (on 127.0.0.1); a host not listed gets a free port the OS picks. */
  ports?: { [K in HostName]?: number };
}

/** What one host has served so far. */
export interface HostServed {
  requests: number;
  ok: number;
  streamed: number;
  unavailable: number;
  resets: number;
  slow: number;
  /** Requests answered 503 because the host was down (`setDown`). */
  down: number;
}

export interface UpstreamHost {
  readonly name: HostName;
  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly behaviour: Readonly<HostBehaviour>;
  /** Counters from the server's side. */
  readonly served: Readonly<HostServed>;
  /** True while `setDown(name, true)` is in effect. */
  readonly isDown: boolean;
}

export interface FlakyUpstream {
  readonly hosts: Readonly<Record<HostName, UpstreamHost>>;
  /**
   * Takes a host down (`true`: every request gets an immediate `503` without `Retry-After`, counted in
   * `served.down`) or brings it back (`false`: its usual behaviour).
   */
  setDown(name: HostName, down: boolean): void;
  /** Stops the servers: waiting responses are dropped, every socket is closed. Idempotent. */
  close(): Promise<void>;
}

/** mulberry32: a tiny seeded generator in [0, 1). Good enough to make faults repeatable. */
function createRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function resolveBehaviour(name: HostName, override: Partial<HostBehaviour> = {}): HostBehaviour {
  const behaviour = { ...defaultBehaviours[name], ...override };
  for (const [key, value] of Object.entries(behaviour)) {
    const isRate = key.endsWith('Rate');
    if (!Number.isFinite(value) || value < 0 || (isRate && value > 1)) {
      const range = isRate ? 'in [0, 1]' : 'a finite number >= 0';
      throw new RangeError(`flaky-upstream: hosts.${name}.${key} must be ${range}, received ${value}`);
    }
  }
  if (behaviour.maxLatencyMs < behaviour.minLatencyMs) {
    throw new RangeError(`flaky-upstream: hosts.${name}.maxLatencyMs is below minLatencyMs`);
  }
  return behaviour;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** The request handler of one host: picks this request's fate, waits, then answers (or doesn't). */
function createHandler(
  name: HostName,
  b: HostBehaviour,
  random: () => number,
  served: HostServed,
  isDown: () => boolean,
  signal: AbortSignal,
): Handler {
  const chance = (rate: number) => rate > 0 && random() < rate;
  return async (req, res) => {
    served.requests++;
    // Decide everything up front, so the sequence of fates depends only on the seed and request order.
    const latencyMs = b.minLatencyMs + random() * (b.maxLatencyMs - b.minLatencyMs);
    const isSlow = chance(b.slowRate);
    const isReset = chance(b.resetRate);
    const isUnavailable = !isReset && chance(b.unavailableRate);
    const isStreamed = chance(b.streamRate);

    if (isDown()) {
      served.down++;
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `${name} is down: no healthy backend` }));
      return;
    }
    await sleep(latencyMs + (isSlow ? b.slowMs : 0), undefined, { signal });
    if (isSlow) served.slow++;
    if (isReset) {
      served.resets++;
      req.socket.destroy();
      return;
    }
    if (isUnavailable) {
      served.unavailable++;
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': String(b.retryAfterSeconds) });
      res.end(JSON.stringify({ error: `${name} is overloaded, retry later` }));
      return;
    }
    served.ok++;
    res.setHeader('content-type', 'application/json');
    if (!isStreamed) {
      res.end(JSON.stringify({ host: name, path: req.url, latencyMs: Math.round(latencyMs) }));
      return;
    }
    served.streamed++;
    res.writeHead(200); // No content-length: the body goes out chunked.
    for (let i = 0; i < b.streamChunks; i++) {
      res.write(`${JSON.stringify({ host: name, chunk: i })}\n`);
      await sleep(b.chunkDelayMs, undefined, { signal });
    }
    res.end();
  };
}

function listen(server: Server, port = 0): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { address, port } = server.address() as AddressInfo;
      resolve(`http://${address}:${port}`);
    });
  });
}

/** Starts one server per host on 127.0.0.1, each on a free port the OS picks. */
export async function startFlakyUpstream(options: FlakyUpstreamOptions = {}): Promise<FlakyUpstream> {
  const seed = options.seed ?? 1;
  const stopping = new AbortController();
  const servers: Server[] = [];
  const hosts = {} as Record<HostName, UpstreamHost>;
  const down = new Set<HostName>();

  for (const [index, name] of hostNames.entries()) {
    const behaviour = resolveBehaviour(name, options.hosts?.[name]);
    const served: HostServed = {
      requests: 0,
      ok: 0,
      streamed: 0,
      unavailable: 0,
      resets: 0,
      slow: 0,
      down: 0,
    };
    const random = createRandom(seed * 7919 + index);
    const handle = createHandler(name, behaviour, random, served, () => down.has(name), stopping.signal);
    const server = createServer((req, res) => {
      // A rejection here is the abort from close(): the socket is being closed anyway.
      handle(req, res).catch(() => res.destroy());
    });
    servers.push(server);
    const url = await listen(server, options.ports?.[name]);
    hosts[name] = {
      name,
      url,
      behaviour,
      served,
      get isDown() {
        return down.has(name);
      },
    };
  }

  const setDown = (name: HostName, isDown: boolean) => {
    if (!hostNames.includes(name)) throw new TypeError(`flaky-upstream: no host named ${String(name)}`);
    if (isDown) down.add(name);
    else down.delete(name);
  };

  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= (async () => {
      stopping.abort();
      await Promise.all(
        servers.map(
          (server) =>
            new Promise<void>((resolve) => {
              server.close(() => resolve());
              server.closeAllConnections();
            }),
        ),
      );
    })();
    return closed;
  };
  return { hosts, setDown, close };
}

// Run alone: print the URLs and serve until Ctrl-C.
if (import.meta.main) {
  const { values } = parseArgs({ options: { seed: { type: 'string', default: '1' } } });
  const upstream = await startFlakyUpstream({ seed: Number(values.seed) });
  for (const host of Object.values(upstream.hosts)) {
    console.log(`${host.name.padEnd(9)} ${host.url}`);
  }
  console.log('Serving; try `curl -i <url>/anything`. Ctrl-C to stop.');
  process.once('SIGINT', () => {
    void upstream.close().then(() => {
      for (const host of Object.values(upstream.hosts)) {
        console.log(`${host.name.padEnd(9)} served ${JSON.stringify(host.served)}`);
      }
    });
  });
}
