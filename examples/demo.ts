/**
 * The resilient-fetch demo: a steady, bounded load against three flaky local upstreams, with a live view.
 *
 *   node examples/demo.ts                    # 30 s
 *   node examples/demo.ts --seconds 0        # until Ctrl-C
 *   node examples/demo.ts --seconds 10 --concurrency 8 --pause-ms 50 --seed 7
 *
 * It starts examples/flaky-upstream.ts in-process (servers on 127.0.0.1, ports the OS picks), creates one
 * resilientFetch, and runs `--concurrency` loops per upstream host, each making one call at a time. Once a
 * second it prints one line per host: calls, failures (network errors and 5xx responses apart), success
 * rate, latency p50/p99/max (until the body is fully read), requests in flight (waiting for a socket, or
 * sent and not yet fully answered) and connected sockets, both from `rfetch.stats().pools`. In a terminal the view redraws in place; piped, it prints a new block each second.
 *
 * Ctrl-C (or the end of `--seconds`) stops the load and shuts down gracefully: `rfetch.close()` lets the
 * requests in flight finish, bodies included, then the pools close; a second Ctrl-C calls `rfetch.destroy()` instead. The
 * process then exits by itself, because nothing is left open.
 *
 * This version has no retries or circuit breaker yet, so every upstream fault reaches the caller.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, styleText } from 'node:util';
// In an app: import { createResilientFetch, type ResilientFetch } from 'resilient-fetch';
import { createResilientFetch, type ResilientFetch } from '../src/index.ts';
import { type HostName, hostNames, startFlakyUpstream, type UpstreamHost } from './flaky-upstream.ts';

interface DemoOptions {
  /** 0 runs until Ctrl-C. */
  seconds: number;
  /** Concurrent loops per host. */
  concurrency: number;
  /** Pause of each loop between two calls. */
  pauseMs: number;
  seed: number;
}

const usage = `usage: node examples/demo.ts [--seconds N (30; 0 = until Ctrl-C)] [--concurrency N (4)]
                             [--pause-ms N (100)] [--seed N (1)]`;

function parseOptions(argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      seconds: { type: 'string', default: '30' },
      concurrency: { type: 'string', default: '4' },
      'pause-ms': { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const integer = (name: string, text: string, min: number, max: number): number => {
    const value = Number(text);
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(
        `--${name} must be an integer in [${min}, ${max}], received ${JSON.stringify(text)}`,
      );
    }
    return value;
  };
  return {
    seconds: integer('seconds', values.seconds, 0, 86_400),
    concurrency: integer('concurrency', values.concurrency, 1, 64),
    pauseMs: integer('pause-ms', values['pause-ms'], 0, 60_000),
    seed: integer('seed', values.seed, 0, 2 ** 31),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Outcomes, as this demo records them. A later version of the library keeps its own per-host health
// (from the same outcome records as its metrics); the live view will then show that status per host.

type Outcome = 'ok' | 'network' | 'http5xx' | 'other';

/** Latencies kept per host for the percentiles: the most recent calls, so memory stays bounded. */
const latencyWindow = 10_000;

interface HostTally {
  readonly host: UpstreamHost;
  calls: number;
  counts: Record<Outcome, number>;
  /** A ring of the last `latencyWindow` latencies (ms). */
  latencies: number[];
  next: number;
  maxMs: number;
}

function createTally(host: UpstreamHost): HostTally {
  return {
    host,
    calls: 0,
    counts: { ok: 0, network: 0, http5xx: 0, other: 0 },
    latencies: [],
    next: 0,
    maxMs: 0,
  };
}

function recordOutcome(tally: HostTally, outcome: Outcome, ms: number): void {
  tally.calls++;
  tally.counts[outcome]++;
  tally.latencies[tally.next] = ms;
  tally.next = (tally.next + 1) % latencyWindow;
  tally.maxMs = Math.max(tally.maxMs, ms);
}

/** One call, body included. A rejection (from fetch or while reading the body) is a network error. */
async function callOnce(rfetch: ResilientFetch, tally: HostTally, path: string): Promise<void> {
  const started = performance.now();
  let outcome: Outcome;
  try {
    const response = await rfetch(new URL(path, tally.host.url));
    await response.arrayBuffer();
    if (response.ok) outcome = 'ok';
    else outcome = response.status >= 500 ? 'http5xx' : 'other';
  } catch {
    outcome = 'network';
  }
  recordOutcome(tally, outcome, performance.now() - started);
}

/** One loop of the load: a call, a pause, until `signal` aborts. The call in progress is finished. */
async function runLoop(
  rfetch: ResilientFetch,
  tally: HostTally,
  loop: number,
  pauseMs: number,
  signal: AbortSignal,
): Promise<void> {
  const path = `/${tally.host.name === 'llm' ? 'v1/complete' : tally.host.name}/loop-${loop}`;
  while (!signal.aborted) {
    await callOnce(rfetch, tally, path);
    if (pauseMs > 0) await sleep(pauseMs, undefined, { signal }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------
// The view.

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

const color = (format: Parameters<typeof styleText>[0], text: string) =>
  styleText(format, text, { stream: process.stdout });

const columns = ['host', 'calls', 'net err', '5xx', 'success', 'p50 ms', 'p99 ms', 'max ms'] as const;
const widths = [9, 7, 8, 6, 8, 7, 7, 7];
const liveColumns = ['in flight', 'sockets'] as const;
const liveWidth = 10;

function row(cells: readonly string[]): string {
  return cells
    .map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 9) : cell.padStart(widths[i] ?? 10)))
    .join(' ');
}

function tallyCells(name: string, tallies: HostTally[]): string[] {
  const calls = tallies.reduce((n, t) => n + t.calls, 0);
  const sum = (outcome: Outcome) => tallies.reduce((n, t) => n + t.counts[outcome], 0);
  const sorted = tallies.flatMap((t) => t.latencies).sort((a, b) => a - b);
  const success = calls === 0 ? 100 : (100 * sum('ok')) / calls;
  const successText = `${success.toFixed(1)}%`.padStart(widths[4] ?? 8);
  const successColor = success >= 99 ? 'green' : success >= 90 ? 'yellow' : 'red';
  return [
    name,
    String(calls),
    String(sum('network')),
    String(sum('http5xx')),
    color(successColor, successText),
    percentile(sorted, 50).toFixed(0),
    percentile(sorted, 99).toFixed(0),
    Math.max(0, ...tallies.map((t) => t.maxMs)).toFixed(0),
  ];
}

/** The lines of one frame of the live view. */
function renderFrame(
  rfetch: ResilientFetch,
  tallies: HostTally[],
  elapsedS: number,
  seconds: number,
): string[] {
  const stats = rfetch.stats();
  const of = seconds > 0 ? ` of ${seconds}` : '';
  const lines = [
    color(
      'bold',
      `resilient-fetch demo  ${elapsedS.toFixed(0)} s${of}  rfetch ${stats.state}, ${stats.inFlight} awaiting a response`,
    ),
    color('dim', `${row(columns)} ${liveColumns.map((c) => c.padStart(liveWidth)).join(' ')}`),
  ];
  for (const tally of tallies) {
    const pool = stats.pools[tally.host.url];
    const live = [String(pool ? pool.pending + pool.running : 0), String(pool?.connected ?? 0)];
    lines.push(
      `${row(tallyCells(tally.host.name, [tally]))} ${live.map((c) => c.padStart(liveWidth)).join(' ')}`,
    );
  }
  return lines;
}

/** Draws frames: in a terminal over the previous frame (ANSI cursor moves), else as a new block. */
function createView(): (lines: string[]) => void {
  const isTTY = process.stdout.isTTY === true;
  let drawn = 0;
  return (lines) => {
    let out = '';
    if (isTTY) {
      // Back to the first line of the previous frame, then clear and rewrite each line.
      if (drawn > 0) out += `\x1b[${drawn}F`;
      for (const line of lines) out += `\x1b[2K${line}\n`;
      drawn = lines.length;
    } else {
      out = `${lines.join('\n')}\n\n`;
    }
    process.stdout.write(out);
  };
}

/** Requests on the pools: waiting for a socket, or sent and not yet fully answered (body included). */
function requestsInFlight(rfetch: ResilientFetch): number {
  return Object.values(rfetch.stats().pools).reduce((n, pool) => n + pool.pending + pool.running, 0);
}

interface RunTimes {
  loadS: number;
  drainS: number;
  /** Requests in flight (all pools) when the load stopped. */
  inFlightAtStop: number;
}

function printSummary(rfetch: ResilientFetch, tallies: HostTally[], times: RunTimes): void {
  const stats = rfetch.stats();
  const openPools = Object.keys(stats.pools).length;
  console.log('');
  const drain = `${times.inFlightAtStop} requests were in flight; close() took ${times.drainS.toFixed(1)} s`;
  console.log(color('bold', `Summary: load ran ${times.loadS.toFixed(1)} s; ${drain}`));
  console.log(color('dim', row(columns)));
  for (const tally of tallies) console.log(row(tallyCells(tally.host.name, [tally])));
  console.log(row(tallyCells('all', tallies)));
  console.log('');
  console.log('Served by the upstream:');
  for (const { host } of tallies) {
    const s = host.served;
    console.log(
      `  ${host.name.padEnd(9)} ${s.requests} requests: ${s.ok} ok (${s.streamed} streamed), ` +
        `${s.unavailable} x 503 Retry-After, ${s.resets} socket resets, ${s.slow} very slow`,
    );
  }
  console.log(
    `rfetch after close(): state ${stats.state}, ${stats.inFlight} in flight, ${openPools} pools open`,
  );
}

// ---------------------------------------------------------------------------------------------------------

interface Stopper {
  readonly signal: AbortSignal;
  readonly times: RunTimes;
  /** The first call stops the load and starts `rfetch.close()`; a second call `rfetch.destroy()`s. */
  stop(why: string): void;
  /** Resolves once the `close()` started by `stop()` has finished. */
  closed(): Promise<void>;
}

function createStopper(rfetch: ResilientFetch, elapsedS: () => number, onStop: () => void): Stopper {
  const controller = new AbortController();
  const times: RunTimes = { loadS: 0, drainS: 0, inFlightAtStop: 0 };
  let closing: Promise<void> | undefined;
  const stop = (why: string) => {
    if (controller.signal.aborted) {
      console.log('Second signal: rfetch.destroy() ends the requests in flight now.');
      void rfetch.destroy();
      return;
    }
    controller.abort(why);
    onStop();
    console.log(`${why}: load stopped; rfetch.close() lets the requests in flight finish...`);
    times.loadS = elapsedS();
    times.inFlightAtStop = requestsInFlight(rfetch);
    closing = rfetch.close().finally(() => {
      times.drainS = elapsedS() - times.loadS;
    });
  };
  return { signal: controller.signal, times, stop, closed: () => closing ?? rfetch.close() };
}

async function run(options: DemoOptions): Promise<void> {
  const upstream = await startFlakyUpstream({ seed: options.seed });
  // One instance for the whole app; each upstream host gets its own undici pool on first use.
  const rfetch = createResilientFetch({ pool: { connections: 16 }, drainTimeoutMs: 10_000 });
  const tallies = hostNames.map((name: HostName) => createTally(upstream.hosts[name]));
  for (const { host } of tallies) console.log(`upstream ${host.name.padEnd(9)} ${host.url}`);
  console.log(
    `${options.concurrency} loops per host, ${options.pauseMs} ms pause between calls. Ctrl-C stops.\n`,
  );

  const started = performance.now();
  const elapsedS = () => (performance.now() - started) / 1000;
  const draw = createView();
  const drawFrame = () => draw(renderFrame(rfetch, tallies, elapsedS(), options.seconds));
  // One clock: a frame each second; at the last second, the stop (which draws the final frame).
  let ticks = 0;
  const ticker = setInterval(() => {
    ticks++;
    if (options.seconds > 0 && ticks >= options.seconds) stopper.stop('Time is up');
    else drawFrame();
  }, 1000);
  const stopper = createStopper(rfetch, elapsedS, () => {
    clearInterval(ticker);
    drawFrame();
  });
  const onSignal = (signal: NodeJS.Signals) => stopper.stop(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const loops = tallies.flatMap((tally) =>
    Array.from({ length: options.concurrency }, (_, i) =>
      runLoop(rfetch, tally, i, options.pauseMs, stopper.signal),
    ),
  );
  try {
    await Promise.all(loops);
    await stopper.closed();
  } finally {
    clearInterval(ticker);
    await rfetch.close();
    await upstream.close();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  printSummary(rfetch, tallies, stopper.times);
}

let options: DemoOptions | undefined;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`${error instanceof Error ? error.message : error}\n${usage}`);
  process.exitCode = 2;
}
if (options) await run(options);
