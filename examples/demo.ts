/**
 * The resilient-fetch demo: a steady, bounded load against three flaky local upstreams, with a live view of
 * each host's health as the library judges it, and of the per-host policies at work (retries, attempt
 * timeouts, the circuit breaker).
 *
 *   node examples/demo.ts                    # 30 s; payments goes down from 8 s to 12 s
 *   node examples/demo.ts --seconds 0        # until Ctrl-C
 *   node examples/demo.ts --no-outage        # no outage: only the upstreams' everyday faults
 *   node examples/demo.ts --seconds 10 --outage-at 2 --outage-for 5 --concurrency 8 --pause-ms 50 --seed 7
 *   node examples/demo.ts --health-window 10 # judge health over the last 10 s instead of 5 s
 *
 * It starts examples/flaky-upstream.ts in-process (servers on 127.0.0.1, ports the OS picks), creates one
 * resilientFetch with settings sized for a demo (see `resilienceOptions()`), and runs `--concurrency`
 * loops per upstream host, each making one call at a time. In the middle of the run the payments host goes
 * fully down for a few seconds (every request answered 503): its calls fail after their retries, five
 * failed calls in a row open its circuit, calls then fail fast without touching the network, after 3 s
 * one probe call goes through, and once the host is back the probe succeeds and the circuit closes.
 *
 * Once a second it prints one line per host. First, from `rfetch.health(host)`, over the health window
 * (the last `--health-window` seconds): the host's health status (HEALTHY, DEGRADED, TIMEOUT, FAILED,
 * UNKNOWN), its success rate, the calls counted, the calls that failed after their retries by kind
 * (network error, 5xx, timeout), and latency p50/p99 (to the final response headers). Then this demo's
 * own counts since the start, which the library does not keep: calls made, calls that failed fast (refused
 * by the open circuit; health does not count them) and retries (requests the upstream received minus calls
 * sent). Last, from `rfetch.stats()`: the state of the host's circuit, the retries its budget denied, and
 * the connected sockets. Health changes (from `rfetch.onHealthChange`), circuit transitions and the outage
 * are listed under the table as they happen. In a terminal the view redraws in place; piped, it prints a
 * new block each second.
 *
 * Ctrl-C (or the end of `--seconds`) stops the load and shuts down gracefully: `rfetch.close()` lets the
 * calls in flight finish (their retries included), bodies included, then the pools close; a second Ctrl-C
 * calls `rfetch.destroy()` instead. The process then exits by itself, because nothing is left open. The
 * summary then gives the totals of the run (the demo's own count of every call), each host's health at
 * the end (`rfetch.health()`) and the timeline.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs, styleText } from 'node:util';
// In an app: import { createResilientFetch, ... } from 'resilient-fetch';
import {
  type CircuitStateName,
  createResilientFetch,
  type HealthChange,
  type HealthStatus,
  type HostHealth,
  isCircuitOpenError,
  type ResilientFetch,
  type ResilientFetchOptions,
} from '../src/index.ts';
import {
  type FlakyUpstream,
  type HostName,
  hostNames,
  startFlakyUpstream,
  type UpstreamHost,
} from './flaky-upstream.ts';

/** Styles text for stdout: in a terminal only, and not under NO_COLOR (styleText checks both). */
const color = (format: Parameters<typeof styleText>[0], text: string) =>
  styleText(format, text, { stream: process.stdout });

interface DemoOptions {
  /** 0 runs until Ctrl-C. */
  seconds: number;
  /** Concurrent loops per host. */
  concurrency: number;
  /** Pause of each loop between two calls. */
  pauseMs: number;
  seed: number;
  /** Take payments down for `outageForS` seconds, `outageAtS` seconds into the run. */
  outage: boolean;
  outageAtS: number;
  outageForS: number;
  /** The health window, in seconds. */
  healthWindowS: number;
}

const usage = `usage: node examples/demo.ts [--seconds N (30; 0 = until Ctrl-C)] [--concurrency N (4)]
                             [--pause-ms N (100)] [--seed N (1)]
                             [--outage | --no-outage (on)] [--outage-at S (8)] [--outage-for S (4)]
                             [--health-window S (5)]`;

function parseOptions(argv: string[]): DemoOptions {
  const { values } = parseArgs({
    args: argv,
    allowNegative: true,
    options: {
      seconds: { type: 'string', default: '30' },
      concurrency: { type: 'string', default: '4' },
      'pause-ms': { type: 'string', default: '100' },
      seed: { type: 'string', default: '1' },
      outage: { type: 'boolean', default: true },
      'outage-at': { type: 'string', default: '8' },
      'outage-for': { type: 'string', default: '4' },
      'health-window': { type: 'string', default: '5' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    process.exit(0);
  }
  const number = (name: string, text: string, min: number, max: number, integer = true): number => {
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max) {
      throw new RangeError(
        `--${name} must be a number in [${min}, ${max}], received ${JSON.stringify(text)}`,
      );
    }
    if (integer && !Number.isInteger(value)) {
      throw new RangeError(`--${name} must be an integer, received ${JSON.stringify(text)}`);
    }
    return value;
  };
  return {
    seconds: number('seconds', values.seconds, 0, 86_400),
    concurrency: number('concurrency', values.concurrency, 1, 64),
    pauseMs: number('pause-ms', values['pause-ms'], 0, 60_000),
    seed: number('seed', values.seed, 0, 2 ** 31),
    outage: values.outage,
    outageAtS: number('outage-at', values['outage-at'], 0, 86_400, false),
    outageForS: number('outage-for', values['outage-for'], 0.1, 86_400, false),
    // The library counts health in one-second buckets: whole seconds, at least one.
    healthWindowS: number('health-window', values['health-window'], 1, 3_600),
  };
}

// ---------------------------------------------------------------------------------------------------------
// The resilience settings. The library's defaults are sized for production (1 s first backoff, 60 s
// attempts, a circuit that stays open 5 minutes); a demo that lasts 30 s needs everything shorter.

const outageHost: HostName = 'payments';

/**
 * Health over a short window, so the statuses move within seconds of an outage (the default, 60 s, suits
 * a dashboard, not a 30 s demo); 5 calls are enough to judge (the loops make several per second).
 */
const healthMinCalls = 5;

function resilienceOptions(upstream: FlakyUpstream, options: DemoOptions): ResilientFetchOptions {
  const hostOf = (name: HostName) => new URL(upstream.hosts[name].url).host; // `hostname:port`
  return {
    // HEALTHY at >= 95% of calls ok (the default), DEGRADED at >= 80%, FAILED below or while the circuit
    // is not closed; TIMEOUT when timeouts are the main cause of failure.
    health: { windowMs: options.healthWindowS * 1000, minCalls: healthMinCalls },
    pool: { connections: 16 },
    drainTimeoutMs: 10_000,
    // Up to 3 retries after 100 ms, 200 ms, 400 ms (10% jitter); a Retry-After up to 2 s is honoured.
    retry: { baseDelayMs: 100, maxDelayMs: 2_000 },
    // Opens after 5 failed calls in a row (the default); lets a probe through after 3 s instead of 5 min.
    circuitBreaker: { halfOpenAfterMs: 3_000 },
    // 1 s per attempt: speech's very slow answers (1.2 s) time out and are retried.
    timeout: { attemptMs: 1_000, deadlineMs: 5_000 },
    hosts: {
      // An LLM may think for a while before its first byte: long attempts, and a deadline to match.
      [hostOf('llm')]: { timeout: { attemptMs: 10_000, deadlineMs: 20_000 } },
    },
  };
}

const policySummary = (windowS: number) =>
  [
    'Policies: up to 3 retries (backoff 100/200/400 ms, Retry-After up to 2 s honoured; payments POSTs',
    '  carry an Idempotency-Key so they are retried too); attempt timeout 1 s (llm 10 s); deadline 5 s',
    '  (llm 20 s); a circuit opens after 5 failed calls in a row and lets one probe through after 3 s.',
    `Health: rfetch.health(host) over the last ${windowS} s: success rate, calls, failed calls (after their`,
    '  retries) and latency (to the response headers). HEALTHY at >= 95% ok, DEGRADED at >= 80%, TIMEOUT',
    '  when timeouts lead the failures, FAILED below 80% or while the circuit is not closed, UNKNOWN under',
    `  ${healthMinCalls} calls. Since start: the demo's own counts; "fast": failed fast by the open circuit (health`,
    '  does not count those: they say nothing new about the host).',
  ].join('\n');

// ---------------------------------------------------------------------------------------------------------
// Outcomes, as this demo records them.

/**
 * How a call ended (after its retries). `ok`: a response below 500 (the upstream sends no 4xx; a 4xx
 * would be an answer too, as the circuit breaker sees it). The rest are failures: `network` (fetch
 * rejected, or the body failed), `http5xx` (the last attempt's response was a 5xx), `timeout` (the attempt
 * timeout or the deadline: a DOMException named TimeoutError), `circuitOpen` (CircuitOpenError: rejected
 * at once, nothing was sent).
 */
type Outcome = 'ok' | 'network' | 'http5xx' | 'timeout' | 'circuitOpen';
const failureKinds = ['network', 'http5xx', 'timeout', 'circuitOpen'] as const;

/** Latencies kept per host for the percentiles: the most recent calls, so memory stays bounded. */
const latencyWindow = 10_000;

type Phase = 'before' | 'during' | 'after';

interface HostTally {
  readonly host: UpstreamHost;
  /** Calls started (the finished ones are `calls`). */
  started: number;
  calls: number;
  counts: Record<Outcome, number>;
  /** Outcomes by the outage phase the call started in (kept for the outage host only). */
  byPhase: Record<Phase, Record<Outcome, number>>;
  /** A ring of the last `latencyWindow` latencies (ms). */
  latencies: number[];
  next: number;
  maxMs: number;
}

const zeroCounts = (): Record<Outcome, number> => ({
  ok: 0,
  network: 0,
  http5xx: 0,
  timeout: 0,
  circuitOpen: 0,
});

function createTally(host: UpstreamHost): HostTally {
  return {
    host,
    started: 0,
    calls: 0,
    counts: zeroCounts(),
    byPhase: { before: zeroCounts(), during: zeroCounts(), after: zeroCounts() },
    latencies: [],
    next: 0,
    maxMs: 0,
  };
}

function recordOutcome(tally: HostTally, outcome: Outcome, ms: number, phase: Phase): void {
  tally.calls++;
  tally.counts[outcome]++;
  tally.byPhase[phase][outcome]++;
  tally.latencies[tally.next] = ms;
  tally.next = (tally.next + 1) % latencyWindow;
  tally.maxMs = Math.max(tally.maxMs, ms);
}

const sumOf = (counts: Record<Outcome, number>) => Object.values(counts).reduce((n, c) => n + c, 0);

function classify(error: unknown): Outcome {
  if (isCircuitOpenError(error)) return 'circuitOpen';
  if (error instanceof DOMException && error.name === 'TimeoutError') return 'timeout';
  return 'network';
}

/**
 * Retries, counted from both ends: every call that was sent reaches the upstream once, and once more per
 * retry; a call the open circuit rejected sends nothing. Exact once no call is in flight.
 */
const retriesOf = (tally: HostTally): number =>
  Math.max(0, tally.host.served.requests - (tally.started - tally.counts.circuitOpen));

// ---------------------------------------------------------------------------------------------------------
// Events: health changes (pushed by `rfetch.onHealthChange`), circuit transitions (polled from
// `rfetch.stats()` as calls start and end, and before each health change) and the outage.

interface DemoEvent {
  readonly atS: number;
  readonly host: HostName;
  readonly text: string;
}

interface EventLog {
  readonly events: DemoEvent[];
  add(host: HostName, text: string): void;
  /** Compares each host's circuit with what was last seen and logs the transitions. */
  checkCircuits(): void;
  /** Stops listening to health changes. */
  unsubscribe(): void;
}

function describeTransition(from: string, to: string): string {
  const why =
    to === 'open' && from === 'closed'
      ? ': 5 failed calls in a row; calls fail fast, a probe in 3 s'
      : to === 'open'
        ? ': the probe failed; another in 3 s'
        : to === 'half-open'
          ? ': one probe call goes through, others fail fast'
          : to === 'closed' && from === 'half-open'
            ? ': the probe succeeded, calls flow again'
            : '';
  return `circuit ${from} → ${to}${why}`;
}

const statusColors: Record<HealthStatus, Parameters<typeof styleText>[0]> = {
  HEALTHY: 'green',
  DEGRADED: 'yellow',
  TIMEOUT: 'magenta',
  FAILED: 'red',
  UNKNOWN: 'dim',
};

/** A status, padded to `width` first (escape codes would throw the padding off), coloured in a terminal. */
const statusText = (status: HealthStatus, width = 0) => color(statusColors[status], status.padEnd(width));

const isCircuitOpen = (circuit: string) =>
  circuit === 'open' || circuit === 'half-open' || circuit === 'isolated';

/** `health HEALTHY → DEGRADED: 86% of 29 calls ok in 5 s (4 x 5xx)`, from the change's own report. */
function describeHealthChange({ from, to, health }: HealthChange, windowS: number): string {
  const head = `health ${statusText(from)} → ${statusText(to)}`;
  if (to === 'FAILED' && isCircuitOpen(health.circuit)) return `${head}: circuit ${health.circuit}`;
  if (to === 'UNKNOWN') {
    return `${head}: ${health.calls} calls in ${windowS} s, too few to judge (< ${healthMinCalls})`;
  }
  const kinds = describeFailures(health);
  const rate = health.successRate === null ? 0 : 100 * health.successRate;
  const failed = kinds.length > 0 ? ` (${kinds.join(', ')})` : '';
  return `${head}: ${rate.toFixed(0)}% of ${health.calls} calls ok in ${windowS} s${failed}`;
}

function createEventLog(
  rfetch: ResilientFetch,
  tallies: HostTally[],
  elapsedS: () => number,
  windowS: number,
): EventLog {
  const events: DemoEvent[] = [];
  const seen = new Map<string, CircuitStateName | 'disabled'>();
  const add = (host: HostName, text: string) => events.push({ atS: elapsedS(), host, text });
  const nameOf = new Map(tallies.map(({ host }) => [new URL(host.url).host, host.name]));
  const checkCircuits = () => {
    const { hosts } = rfetch.stats();
    for (const { host } of tallies) {
      const key = new URL(host.url).host;
      const circuit = hosts[key]?.circuit ?? 'closed';
      const before = seen.get(key) ?? 'closed';
      if (circuit !== before) add(host.name, describeTransition(before, circuit));
      seen.set(key, circuit);
    }
  };
  // Called synchronously when a call ends or a circuit moves: a circuit that has just opened makes the
  // host FAILED, so the circuit transition is logged first, then the health change it caused.
  const unsubscribe = rfetch.onHealthChange((change) => {
    const name = nameOf.get(change.host);
    if (name === undefined) return;
    checkCircuits();
    add(name, describeHealthChange(change, windowS));
  });
  return { events, add, checkCircuits, unsubscribe };
}

interface OutageSchedule {
  /** Where the run is relative to the outage (`before` when there is none). */
  phase(): Phase;
  /** A few words for the header line. */
  status(): string;
  cancel(): void;
}

/** Takes `outageHost` down at `atS` for `forS` seconds (times from the start of the load). */
function scheduleOutage(upstream: FlakyUpstream, options: DemoOptions, log: EventLog): OutageSchedule {
  if (!options.outage) return { phase: () => 'before', status: () => '', cancel: () => {} };
  let phase: Phase = 'before';
  let endTimer: NodeJS.Timeout | undefined;
  const startTimer = setTimeout(() => {
    upstream.setDown(outageHost, true);
    phase = 'during';
    log.add(outageHost, `DOWN: every request is answered 503 for ${options.outageForS} s`);
    endTimer = setTimeout(() => {
      upstream.setDown(outageHost, false);
      phase = 'after';
      log.add(outageHost, 'back up: answers as usual again');
    }, options.outageForS * 1000);
  }, options.outageAtS * 1000);
  const endS = options.outageAtS + options.outageForS;
  return {
    phase: () => phase,
    status() {
      if (phase === 'during') return `${outageHost} DOWN until ${endS} s`;
      if (phase === 'before') return `${outageHost} goes down at ${options.outageAtS} s`;
      return `${outageHost} was down ${options.outageAtS}-${endS} s`;
    },
    cancel() {
      clearTimeout(startTimer);
      clearTimeout(endTimer);
    },
  };
}

// ---------------------------------------------------------------------------------------------------------
// The load.

interface Load {
  readonly rfetch: ResilientFetch;
  readonly log: EventLog;
  readonly outage: OutageSchedule;
  readonly pauseMs: number;
  readonly signal: AbortSignal;
}

/** The request of one call: GETs, except payments, which POSTs with an Idempotency-Key (so it is retried). */
function requestFor(host: UpstreamHost, loop: number, n: number): [URL, RequestInit] {
  switch (host.name) {
    case 'llm':
      return [new URL(`/v1/complete/loop-${loop}`, host.url), {}];
    case 'payments':
      return [
        new URL('/payments', host.url),
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': `loop-${loop}-${n}` },
          body: JSON.stringify({ amount: 100 + n, currency: 'EUR' }),
        },
      ];
    default:
      return [new URL(`/${host.name}/loop-${loop}`, host.url), {}];
  }
}

/** One call, body included. */
async function callOnce(load: Load, tally: HostTally, loop: number, n: number): Promise<void> {
  const started = performance.now();
  const phase = tally.host.name === outageHost ? load.outage.phase() : 'before';
  tally.started++;
  let outcome: Outcome;
  try {
    const pending = load.rfetch(...requestFor(tally.host, loop, n));
    // The breaker admits a call synchronously: a probe has just moved the circuit to half-open.
    load.log.checkCircuits();
    const response = await pending;
    await response.arrayBuffer();
    outcome = response.status >= 500 ? 'http5xx' : 'ok';
  } catch (error) {
    outcome = classify(error);
  }
  recordOutcome(tally, outcome, performance.now() - started, phase);
  load.log.checkCircuits();
}

/** One loop of the load: a call, a pause, until the load's signal aborts. The call in progress is finished. */
async function runLoop(load: Load, tally: HostTally, loop: number): Promise<void> {
  for (let n = 0; !load.signal.aborted; n++) {
    await callOnce(load, tally, loop, n);
    if (load.pauseMs > 0) await sleep(load.pauseMs, undefined, { signal: load.signal }).catch(() => {});
  }
}

// ---------------------------------------------------------------------------------------------------------
// The view.

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

/**
 * A table: column names, widths, alignment (the first column and `left` ones are left-aligned) and labels
 * centred over column ranges (`[first, last, label]`) on a line above the names. Cells that are coloured
 * must be padded to their width before (escape codes would throw the padding off).
 */
interface Table {
  readonly columns: readonly string[];
  readonly widths: readonly number[];
  readonly left?: readonly number[];
  readonly spans: ReadonlyArray<readonly [number, number, string]>;
}

function row(table: Table, cells: readonly string[]): string {
  return cells
    .map((cell, i) => {
      const width = table.widths[i] ?? 8;
      return i === 0 || table.left?.includes(i) ? cell.padEnd(width) : cell.padStart(width);
    })
    .join(' ')
    .trimEnd();
}

/** The two header lines of a table: the span labels, then the column names. */
function header(table: Table): string[] {
  const start = (i: number) => table.widths.slice(0, i).reduce((n, w) => n + w + 1, 0);
  let line = '';
  for (const [first, last, label] of table.spans) {
    const from = start(first);
    const width = start(last + 1) - 1 - from;
    const padded = label.padStart(Math.floor((width + label.length) / 2)).padEnd(width);
    line = `${line.padEnd(from)}${padded}`;
  }
  return [color('dim', line.trimEnd()), color('dim', row(table, table.columns))];
}

/**
 * The live table: the library's health report over its window, then what only the demo knows (since the
 * start: calls made, calls failed fast, retries as the upstream saw them), then `rfetch.stats()`.
 */
function liveTable(windowS: number): Table {
  return {
    columns: [
      'host',
      'health',
      'success',
      'calls',
      'net',
      '5xx',
      't/o',
      'p50',
      'p99',
      'calls',
      'fast',
      'retries',
      'circuit',
      'denied',
      'sockets',
    ],
    widths: [9, 8, 7, 5, 4, 4, 4, 5, 5, 6, 5, 7, 9, 6, 7],
    left: [1],
    spans: [
      [1, 3, `health, last ${windowS} s`],
      [4, 6, 'failed'],
      [7, 8, 'latency ms'],
      [9, 11, 'since start'],
      [12, 14, 'rfetch.stats()'],
    ],
  };
}

/** The totals table of the summary: the demo's own count of every call of the run, body included. */
const totalsTable: Table = {
  columns: ['host', 'calls', 'net', '5xx', 't/o', 'fast', 'success', 'p50', 'p99', 'max', 'retries'],
  widths: [9, 6, 4, 4, 4, 5, 7, 5, 5, 5, 7],
  spans: [
    [2, 5, 'failed, after retries'],
    [7, 9, 'latency ms'],
  ],
};

const circuitColors: Record<string, Parameters<typeof styleText>[0]> = {
  closed: 'green',
  open: 'red',
  'half-open': 'yellow',
  isolated: 'red',
};

/** A success rate (a ratio, or null without calls) padded to `width`, coloured by the health ratios. */
function rateText(ratio: number | null, width: number): string {
  if (ratio === null) return color('dim', '-'.padStart(width));
  const text = `${(100 * ratio).toFixed(1)}%`.padStart(width);
  return color(ratio >= 0.95 ? 'green' : ratio >= 0.8 ? 'yellow' : 'red', text);
}

/** The cells of a live row: `health` is `rfetch.health(host)`, `policy` from `rfetch.stats().hosts`. */
function liveCells(
  table: Table,
  tally: HostTally,
  health: HostHealth,
  policy: { circuit: string; retriesDenied: number } | undefined,
  sockets: number,
): string[] {
  const width = (i: number) => table.widths[i] ?? 8;
  const circuit = policy?.circuit ?? '-';
  const circuitText = circuit.padStart(width(12));
  const { network, status_5xx, status_429, timeout } = health.failures;
  return [
    tally.host.name,
    statusText(health.status, width(1)),
    rateText(health.successRate, width(2)),
    String(health.calls),
    String(network),
    // The upstream sends no 429; a 429 would count as the host failing, as a 5xx does.
    String(status_5xx + status_429),
    String(timeout),
    health.latencyMs ? health.latencyMs.p50.toFixed(0) : '-',
    health.latencyMs ? health.latencyMs.p99.toFixed(0) : '-',
    String(tally.calls),
    String(tally.counts.circuitOpen),
    String(retriesOf(tally)),
    circuitColors[circuit] ? color(circuitColors[circuit], circuitText) : circuitText,
    policy === undefined ? '-' : String(policy.retriesDenied),
    String(sockets),
  ];
}

/** The cells of a totals row, over `tallies` (one host, or all of them). */
function totalCells(name: string, tallies: HostTally[]): string[] {
  const calls = tallies.reduce((n, t) => n + t.calls, 0);
  const sum = (outcome: Outcome) => tallies.reduce((n, t) => n + t.counts[outcome], 0);
  const sorted = tallies.flatMap((t) => t.latencies).sort((a, b) => a - b);
  return [
    name,
    String(calls),
    ...failureKinds.map((kind) => String(sum(kind))),
    rateText(calls === 0 ? null : sum('ok') / calls, totalsTable.widths[6] ?? 7),
    percentile(sorted, 50).toFixed(0),
    percentile(sorted, 99).toFixed(0),
    Math.max(0, ...tallies.map((t) => t.maxMs)).toFixed(0),
    String(tallies.reduce((n, t) => n + retriesOf(t), 0)),
  ];
}

function formatEvent(event: DemoEvent): string {
  return `  ${event.atS.toFixed(1).padStart(5)} s  ${event.host.padEnd(9)} ${event.text}`;
}

interface Frame {
  readonly tallies: HostTally[];
  readonly log: EventLog;
  readonly outage: OutageSchedule;
  readonly seconds: number;
  readonly table: Table;
}

/** The lines of one frame of the live view; `events` are the event lines to show under the table. */
function renderFrame(rfetch: ResilientFetch, frame: Frame, elapsedS: number, events: DemoEvent[]): string[] {
  const stats = rfetch.stats();
  const of = frame.seconds > 0 ? ` of ${frame.seconds}` : '';
  const outage = frame.outage.status();
  const lines = [
    color(
      'bold',
      `resilient-fetch demo  ${elapsedS.toFixed(0)} s${of}  rfetch ${stats.state}, ` +
        `${stats.inFlight} awaiting a response${outage ? `  [${outage}]` : ''}`,
    ),
    ...header(frame.table),
  ];
  for (const tally of frame.tallies) {
    const health = rfetch.health(tally.host.url);
    const policy = stats.hosts[health.host];
    const sockets = stats.pools[tally.host.url]?.connected ?? 0;
    lines.push(row(frame.table, liveCells(frame.table, tally, health, policy, sockets)));
  }
  for (const event of events) lines.push(formatEvent(event));
  return lines;
}

/** Draws frames: in a terminal over the previous frame (ANSI cursor moves), else as a new block. */
function createView(rfetch: ResilientFetch, frame: Frame): (elapsedS: number) => void {
  const isTTY = process.stdout.isTTY === true;
  let drawn = 0;
  let shownEvents = 0;
  return (elapsedS) => {
    const { events } = frame.log;
    // A terminal keeps the last few events under the table; piped output prints each event once.
    const recent = isTTY ? events.slice(-10) : events.slice(shownEvents);
    shownEvents = events.length;
    const lines = renderFrame(rfetch, frame, elapsedS, recent);
    let out = '';
    if (isTTY) {
      // Back to the first line of the previous frame, rewrite each line, clear what is left below. Line
      // wrapping is off while drawing, so a terminal narrower than a line clips it and the count holds.
      out += '\x1b[?7l';
      if (drawn > 0) out += `\x1b[${drawn}F`;
      for (const line of lines) out += `\x1b[2K${line}\n`;
      out += '\x1b[0J\x1b[?7h';
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

function describeCounts(counts: Record<Outcome, number>): string {
  const calls = sumOf(counts);
  const share = calls === 0 ? '' : ` (${((100 * counts.ok) / calls).toFixed(0)}%)`;
  const failed = [
    counts.network && `${counts.network} network`,
    counts.http5xx && `${counts.http5xx} 5xx after retries`,
    counts.timeout && `${counts.timeout} timed out`,
    counts.circuitOpen && `${counts.circuitOpen} failed fast (circuit open)`,
  ].filter(Boolean);
  return `${calls} calls, ${counts.ok} ok${share}${failed.length > 0 ? `, ${failed.join(', ')}` : ''}`;
}

/** The failures of a health window by kind, the empty ones left out: `['3 network', '2 x 5xx']`. */
function describeFailures(health: HostHealth): string[] {
  const { network, timeout, status_5xx, status_429 } = health.failures;
  return [
    network && `${network} network`,
    status_5xx && `${status_5xx} x 5xx`,
    status_429 && `${status_429} x 429`,
    timeout && `${timeout} timed out`,
  ].filter((kind): kind is string => typeof kind === 'string');
}

/** `HEALTHY   98.6% of 146 calls ok (2 x 5xx), p50 8 / p99 31 ms, 12 retries, circuit closed, 0 denied`. */
function describeHealth(health: HostHealth, denied: number | undefined): string {
  const kinds = describeFailures(health);
  const rate = health.successRate === null ? '-' : `${(100 * health.successRate).toFixed(1)}%`;
  const latency = health.latencyMs
    ? `, p50 ${health.latencyMs.p50.toFixed(0)} / p99 ${health.latencyMs.p99.toFixed(0)} ms`
    : '';
  return (
    `${statusText(health.status, 8)} ${rate.padStart(6)} of ${health.calls} calls ok` +
    `${kinds.length > 0 ? ` (${kinds.join(', ')})` : ''}${latency}, ${health.retries} retries, ` +
    `circuit ${health.circuit}, ${denied ?? 0} denied`
  );
}

function printSummary(rfetch: ResilientFetch, frame: Frame, options: DemoOptions, times: RunTimes): void {
  const { tallies, log } = frame;
  const stats = rfetch.stats();
  const openPools = Object.keys(stats.pools).length;
  console.log('');
  const drain = `${times.inFlightAtStop} requests were in flight; close() took ${times.drainS.toFixed(1)} s`;
  console.log(color('bold', `Summary: load ran ${times.loadS.toFixed(1)} s; ${drain}`));
  console.log("Totals of the run (the demo's own count of every call; latency until the body is read):");
  for (const line of header(totalsTable)) console.log(line);
  for (const tally of tallies) console.log(row(totalsTable, totalCells(tally.host.name, [tally])));
  console.log(row(totalsTable, totalCells('all', tallies)));

  // Every host called, as the library reports it: the no-argument form of health().
  console.log('');
  console.log(`Health at the end (rfetch.health(), the last ${options.healthWindowS} s):`);
  const nameOf = new Map(tallies.map(({ host }) => [new URL(host.url).host, host.name]));
  for (const health of rfetch.health()) {
    const name = nameOf.get(health.host) ?? health.host;
    console.log(`  ${name.padEnd(9)} ${describeHealth(health, stats.hosts[health.host]?.retriesDenied)}`);
  }

  console.log('');
  console.log('Timeline:');
  if (log.events.length === 0) console.log('  (no events: no health change, every circuit stayed closed)');
  for (const event of log.events) console.log(formatEvent(event));

  const outageTally = tallies.find((t) => t.host.name === outageHost);
  if (options.outage && outageTally) {
    const endS = options.outageAtS + options.outageForS;
    const { before, during, after } = outageTally.byPhase;
    console.log('');
    console.log(`${outageHost} calls, by when they started:`);
    const duringLabel = `during it (${options.outageAtS}-${endS} s)`;
    const width = duringLabel.length;
    console.log(`  ${'before the outage'.padEnd(width)}  ${describeCounts(before)}`);
    console.log(`  ${duringLabel}  ${describeCounts(during)}`);
    console.log(`  ${'after it'.padEnd(width)}  ${describeCounts(after)}`);
  }

  console.log('');
  console.log('Served by the upstream (retries = requests - calls sent; a call failed fast sends nothing):');
  for (const tally of tallies) {
    const s = tally.host.served;
    const down = s.down > 0 ? `, ${s.down} x 503 while down` : '';
    console.log(
      `  ${tally.host.name.padEnd(9)} ${s.requests} requests for ${tally.calls - tally.counts.circuitOpen} ` +
        `calls sent: ${s.ok} ok (${s.streamed} streamed), ${s.unavailable} x 503 Retry-After, ` +
        `${s.resets} socket resets, ${s.slow} very slow${down}`,
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
    console.log(`${why}: load stopped; rfetch.close() lets the calls in flight finish...`);
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
  // One instance for the whole app; each upstream host gets its own undici pool and policies on first use.
  const rfetch = createResilientFetch(resilienceOptions(upstream, options));
  const tallies = hostNames.map((name: HostName) => createTally(upstream.hosts[name]));
  for (const { host } of tallies) console.log(`upstream ${host.name.padEnd(9)} ${host.url}`);
  console.log(policySummary(options.healthWindowS));
  const outageText = options.outage
    ? `${outageHost} goes down (503 to everything) at ${options.outageAtS} s for ${options.outageForS} s.`
    : 'No outage (--no-outage).';
  console.log(
    `${options.concurrency} loops per host, ${options.pauseMs} ms pause between calls. ${outageText} ` +
      'Ctrl-C stops.\n',
  );

  const started = performance.now();
  const elapsedS = () => (performance.now() - started) / 1000;
  // Subscribed before the first call, so the timeline starts with every host's UNKNOWN → HEALTHY.
  const log = createEventLog(rfetch, tallies, elapsedS, options.healthWindowS);
  const outage = scheduleOutage(upstream, options, log);
  const table = liveTable(options.healthWindowS);
  const frame: Frame = { tallies, log, outage, seconds: options.seconds, table };
  const draw = createView(rfetch, frame);
  const drawFrame = () => {
    log.checkCircuits();
    draw(elapsedS());
  };
  // One clock: a frame each second; at the last second, the stop (which draws the final frame).
  let ticks = 0;
  const ticker = setInterval(() => {
    ticks++;
    if (options.seconds > 0 && ticks >= options.seconds) stopper.stop('Time is up');
    else drawFrame();
  }, 1000);
  const stopper = createStopper(rfetch, elapsedS, () => {
    clearInterval(ticker);
    outage.cancel();
    drawFrame();
  });
  const onSignal = (signal: NodeJS.Signals) => stopper.stop(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const load: Load = { rfetch, log, outage, pauseMs: options.pauseMs, signal: stopper.signal };
  const loops = tallies.flatMap((tally) =>
    Array.from({ length: options.concurrency }, (_, i) => runLoop(load, tally, i)),
  );
  try {
    await Promise.all(loops);
    await stopper.closed();
  } finally {
    clearInterval(ticker);
    outage.cancel();
    await rfetch.close();
    await upstream.close();
    log.unsubscribe();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  log.checkCircuits();
  printSummary(rfetch, frame, options, stopper.times);
}

let options: DemoOptions | undefined;
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`${error instanceof Error ? error.message : error}\n${usage}`);
  process.exitCode = 2;
}
if (options) await run(options);
