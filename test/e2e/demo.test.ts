/**
 * The examples, run as a user runs them: each in a child process that must finish and exit by itself.
 *
 *   node --test test/e2e/demo.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { repoRoot } from '../helpers/child.ts';

const hosts = ['llm', 'payments', 'speech'] as const;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** From spawn to exit. */
  ms: number;
}

interface RunOptions {
  /** The child is killed (SIGKILL, which it cannot handle) if it has not exited by then. */
  killAfterMs: number;
  /** Called with all stdout so far, on every chunk. */
  onStdout?: (stdout: string, child: ReturnType<typeof spawn>) => void;
}

/** Runs `node ...args` in the repository root, with output piped (so no TTY and no colours). */
function runNode(args: string[], { killAfterMs, onStdout }: RunOptions): Promise<RunResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1' };
  delete env.FORCE_COLOR;
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: repoRoot,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: killAfterMs,
    killSignal: 'SIGKILL',
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    onStdout?.(stdout, child);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve({ code, signal, stdout, stderr, ms: performance.now() - started });
    });
  });
}

function assertExitedByItself(result: RunResult, withinMs: number): void {
  const output = `\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
  assert.equal(result.signal, null, `killed by ${result.signal} after ${result.ms.toFixed(0)} ms${output}`);
  assert.equal(result.code, 0, `exit code ${result.code}${output}`);
  assert.ok(result.ms < withinMs, `took ${result.ms.toFixed(0)} ms, expected < ${withinMs} ms${output}`);
}

const circuitStates = 'closed|open|half-open|isolated|disabled|-';
const healthStatuses = 'HEALTHY|DEGRADED|TIMEOUT|FAILED|UNKNOWN';

/** A row of the live table: the library's health over its window, the demo's counts, `rfetch.stats()`. */
interface LiveRow {
  status: string;
  /** Percent, as printed (one decimal); null when the window has no calls (`-`). */
  success: number | null;
  calls: number;
  network: number;
  http5xx: number;
  timeout: number;
  /** Since the start. */
  totalCalls: number;
  failedFast: number;
  retries: number;
  circuit: string;
}

const liveRowPattern = new RegExp(
  String.raw`^(\w+) +(${healthStatuses}) +([\d.]+%|-) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+|-) +(\d+|-) +(\d+) +(\d+) +(\d+) +(${circuitStates}) +(\d+|-) +(\d+)$`,
  'gm',
);

/** The live rows (`host health success calls net 5xx t/o p50 p99 | calls fast retries | circuit denied sockets`). */
function parseLiveRows(frame: string): Map<string, LiveRow> {
  const rows = new Map<string, LiveRow>();
  for (const match of frame.matchAll(liveRowPattern)) {
    const [, name = '', status = '', success = '', ...cells] = match;
    const [calls, network, http5xx, timeout, , , totalCalls, failedFast, retries, circuit = ''] = cells;
    rows.set(name, {
      status,
      success: success === '-' ? null : Number.parseFloat(success),
      calls: Number(calls),
      network: Number(network),
      http5xx: Number(http5xx),
      timeout: Number(timeout),
      totalCalls: Number(totalCalls),
      failedFast: Number(failedFast),
      retries: Number(retries),
      circuit,
    });
  }
  return rows;
}

/** A row of the summary's totals table: the demo's own count of the whole run. */
interface HostRow {
  calls: number;
  network: number;
  http5xx: number;
  timeout: number;
  circuitOpen: number;
  /** Percent, as printed (one decimal). */
  success: number;
  retries: number;
}

const rowPattern = /^(\w+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +([\d.]+)% +\d+ +\d+ +\d+ +(\d+)$/gm;

/** The totals rows (`host calls net 5xx t/o fast success% p50 p99 max retries`) of the summary. */
function parseRows(block: string): Map<string, HostRow> {
  const rows = new Map<string, HostRow>();
  for (const match of block.matchAll(rowPattern)) {
    const [, name = '', ...cells] = match;
    const [calls, network, http5xx, timeout, circuitOpen, success, retries] = cells;
    rows.set(name, {
      calls: Number(calls),
      network: Number(network),
      http5xx: Number(http5xx),
      timeout: Number(timeout),
      circuitOpen: Number(circuitOpen),
      success: Number(success),
      retries: Number(retries),
    });
  }
  return rows;
}

/** The summary's "Health at the end" lines: `  payments  HEALTHY  100.0% of 98 calls ok, ..., circuit closed, 0 denied`. */
function parseEndHealth(summary: string): Map<string, { status: string; calls: number; circuit: string }> {
  const pattern = new RegExp(
    String.raw`^  (\w+) +(${healthStatuses}) +(?:[\d.]+%|-) of (\d+) calls ok.*, circuit (${circuitStates}), \d+ denied$`,
    'gm',
  );
  const health = new Map<string, { status: string; calls: number; circuit: string }>();
  for (const [, name = '', status = '', calls, circuit = ''] of summary.matchAll(pattern)) {
    health.set(name, { status, calls: Number(calls), circuit });
  }
  return health;
}

interface Served {
  requests: number;
  callsSent: number;
  unavailable: number;
  resets: number;
  slow: number;
  down: number;
}

/** What the upstream says it served, from the summary's "Served by the upstream" lines. */
function parseServed(summary: string): Map<string, Served> {
  const served = new Map<string, Served>();
  const pattern =
    /^ +(\w+) +(\d+) requests for (\d+) calls sent: .*?(\d+) x 503 Retry-After, (\d+) socket resets, (\d+) very slow(?:, (\d+) x 503 while down)?$/gm;
  for (const [, name = '', requests, callsSent, unavailable, resets, slow, down] of summary.matchAll(
    pattern,
  )) {
    served.set(name, {
      requests: Number(requests),
      callsSent: Number(callsSent),
      unavailable: Number(unavailable),
      resets: Number(resets),
      slow: Number(slow),
      down: Number(down ?? 0),
    });
  }
  return served;
}

/** The summary's timeline: `  12.3 s  payments  circuit closed → open: ...`. */
function parseTimeline(summary: string): { atS: number; host: string; text: string }[] {
  const section = summary.split(/^Timeline:$/m)[1]?.split(/^$/m)[0] ?? '';
  return [...section.matchAll(/^ +([\d.]+) s +(\w+) +(.+)$/gm)].map(([, atS, host = '', text = '']) => ({
    atS: Number(atS),
    host,
    text,
  }));
}

const failedSent = (row: HostRow) => row.network + row.http5xx + row.timeout;

describe('examples', { concurrency: true }, () => {
  it('demo.ts: health and circuit of each host live; during an outage payments goes FAILED (circuit open, fails fast) and back to HEALTHY', async () => {
    // The outage runs from 2 s to 5 s (the first second can be slow on a busy machine: payments is given
    // time to be judged HEALTHY first). Five failed calls (each after 3 retries, ~0.8 s) open the circuit
    // at about 3.5 s; the probe goes through 3 s later, after the host is back, and closes it. Health is
    // judged over the last 3 s: the outage's failures have left the window by about 7.5 s, and payments
    // is HEALTHY again well before the 10 s are up.
    const args = [
      'examples/demo.ts',
      '--seconds',
      '10',
      '--outage-at',
      '2',
      '--outage-for',
      '3',
      '--health-window',
      '3',
    ];
    const result = await runNode(args, { killAfterMs: 22_000 });
    // 10 s of load, then the drain: a call in a Retry-After wait (1 s) or a slow llm answer (1.5 s).
    assertExitedByItself(result, 17_000);

    const [live = '', summary] = result.stdout.split(/^Summary: /m);
    assert.ok(summary, `no final summary in:\n${result.stdout}`);
    const context = `\n--- output\n${result.stdout}`;
    assert.match(summary, /^load ran \d+\.\d s; \d+ requests were in flight; close\(\) took/);
    assert.match(summary, /rfetch after close\(\): state closed, 0 in flight, 0 pools open/);

    // Piped output gets a new block each second, each with a line per host showing its health status.
    const frames = live.split(/^resilient-fetch demo /m).slice(1);
    assert.ok(frames.length >= 7, `expected a live block per second, got ${frames.length}${context}`);
    for (const frame of frames) {
      const rows = parseLiveRows(frame);
      assert.deepEqual([...rows.keys()], [...hosts], `a health line per host in:\n${frame}`);
      for (const [host, row] of rows) {
        // The line adds up: the success rate is the share of the window's calls that did not fail.
        const failed = row.network + row.http5xx + row.timeout;
        assert.ok(failed <= row.calls, `${host} failures in:\n${frame}`);
        if (row.success !== null && row.calls > 0) {
          const expected = (100 * (row.calls - failed)) / row.calls;
          assert.ok(Math.abs(row.success - expected) <= 0.06, `${host} success in:\n${frame}`);
        }
        // The outage is payments' alone: the other hosts keep a closed circuit and are never FAILED.
        if (host !== 'payments') {
          assert.equal(row.circuit, 'closed', `${host} circuit in:\n${frame}`);
          assert.notEqual(row.status, 'FAILED', `${host} health in:\n${frame}`);
        }
      }
    }
    // Someone watching sees payments FAILED while its circuit is open, and calls failing fast.
    const payments = frames.map((frame) => parseLiveRows(frame).get('payments'));
    const failedOpen = payments.filter((row) => row?.status === 'FAILED' && /open/.test(row.circuit));
    assert.ok(failedOpen.length >= 1, `payments never showed FAILED with an open circuit${context}`);
    assert.ok(
      failedOpen.some((row) => (row?.failedFast ?? 0) > 0),
      `no failed-fast calls while open${context}`,
    );
    // ... and by the end, payments is not FAILED any more (HEALTHY once the outage left the window).
    const last = payments.at(-1);
    assert.ok(last && last.status !== 'FAILED' && last.circuit === 'closed', `payments at the end${context}`);

    // The timeline: down, open, back up, half-open, closed, in that order.
    const timeline = parseTimeline(summary).filter((event) => event.host === 'payments');
    const at = (pattern: RegExp) => timeline.findIndex((event) => pattern.test(event.text));
    const down = at(/^DOWN/);
    const opened = at(/^circuit closed → open/);
    const up = at(/^back up/);
    const halfOpen = timeline.findLastIndex((event) => /^circuit open → half-open/.test(event.text));
    const closed = timeline.findLastIndex((event) => /^circuit half-open → closed/.test(event.text));
    assert.ok(down >= 0 && opened > down && up > opened, `payments timeline:${context}`);
    assert.ok(
      halfOpen > up && closed > halfOpen,
      `payments circuit did not close after the outage${context}`,
    );
    const circuitEvents = timeline.filter((event) => event.text.startsWith('circuit '));
    assert.equal(circuitEvents.at(-1)?.text.startsWith('circuit half-open → closed'), true, `${context}`);

    // ... and the health transitions of payments: HEALTHY first, FAILED during the outage (not before
    // it), HEALTHY last. Each names the statuses it moves between, and each starts where the previous ended.
    const health = timeline
      .map((event, index) => ({ index, move: /^health (\w+) → (\w+): /.exec(event.text) }))
      .filter((event) => event.move !== null)
      .map(({ index, move }) => ({ index, from: move?.[1], to: move?.[2] }));
    assert.ok(health.length >= 3, `payments health transitions:${context}`);
    assert.equal(health[0]?.from, 'UNKNOWN', `payments health starts UNKNOWN${context}`);
    for (const [i, change] of health.entries()) {
      assert.match(`${change.from} ${change.to}`, new RegExp(`^(${healthStatuses}) (${healthStatuses})$`));
      if (i > 0) assert.equal(change.from, health[i - 1]?.to, `payments health chain${context}`);
    }
    const firstHealthy = health.findIndex((change) => change.to === 'HEALTHY');
    const firstFailed = health.findIndex((change) => change.to === 'FAILED');
    const lastHealthy = health.findLastIndex((change) => change.to === 'HEALTHY');
    assert.ok(firstHealthy >= 0 && (health[firstHealthy]?.index ?? 0) < down, `HEALTHY before${context}`);
    assert.ok(firstFailed > firstHealthy, `payments never FAILED${context}`);
    const failedAt = health[firstFailed]?.index ?? -1;
    assert.ok(failedAt > down && failedAt < up, `payments FAILED outside the outage${context}`);
    assert.ok(lastHealthy > firstFailed, `payments not HEALTHY again after FAILED${context}`);
    assert.equal(health.at(-1)?.to, 'HEALTHY', `payments health at the end${context}`);
    // The circuit opening is logged before the health change it causes. (The call that opens the
    // circuit is counted first, so its failure ratio may already have made the host FAILED: then the
    // opening causes no further change.)
    const failedByCircuit = timeline.findIndex((event) =>
      /^health \w+ → FAILED: circuit open/.test(event.text),
    );
    if (failedByCircuit >= 0) {
      assert.ok(failedByCircuit > opened, `FAILED (circuit open) after the circuit opened${context}`);
    }
    // The other hosts have health events only, and none of them FAILED.
    for (const event of parseTimeline(summary)) {
      if (event.host === 'payments') continue;
      assert.match(event.text, /^health \w+ → (?!FAILED)\w+: /, `${event.host}: ${event.text}${context}`);
    }

    // Calls started after the outage succeed again (some still fail fast until the probe closes it).
    const after = /^ +after it +(\d+) calls, (\d+) ok/m.exec(summary);
    assert.ok(after, `no "after it" line${context}`);
    assert.ok(Number(after[2]) > 0, `no payments call succeeded after the outage${context}`);

    // Health at the end, from rfetch.health(): every host, circuit closed, payments no longer FAILED.
    const endHealth = parseEndHealth(summary);
    assert.deepEqual([...endHealth.keys()], [...hosts], `health at the end${context}`);
    for (const [host, h] of endHealth) {
      assert.equal(h.circuit, 'closed', `${host}: circuit at the end${context}`);
      assert.notEqual(h.status, 'FAILED', `${host}: health at the end${context}`);
    }

    const rows = parseRows(summary);
    const served = parseServed(summary);
    for (const host of hosts) {
      const row = rows.get(host);
      const s = served.get(host);
      assert.ok(row && row.calls > 0, `${host}: no calls in the summary${context}`);
      assert.ok(s, `${host}: no "served" line${context}`);
      // The row adds up: success is the share of calls that did not fail.
      const failed = failedSent(row) + row.circuitOpen;
      const expected = (100 * (row.calls - failed)) / row.calls;
      assert.ok(Math.abs(row.success - expected) <= 0.06, `${host} success ${row.success}%${context}`);
      // Every call sent reached the upstream once, and once more per retry; failed-fast calls sent nothing.
      assert.equal(s.callsSent, row.calls - row.circuitOpen, `${host} calls sent${context}`);
      assert.equal(row.retries, s.requests - s.callsSent, `${host} retries${context}`);
      // Each failure the demo saw is a fault the upstream injected, and retries absorbed most of them: a
      // call fails only when its last attempt did too. (llm waits out its slow answers; speech's time out.)
      const faults = s.unavailable + s.resets + s.down + (host === 'speech' ? s.slow : 0);
      assert.ok(row.http5xx <= s.unavailable + s.down, `${host} 5xx${context}`);
      assert.ok(row.network <= s.resets, `${host} network errors${context}`);
      assert.ok(row.timeout <= (host === 'speech' ? s.slow : 0), `${host} timeouts${context}`);
      if (faults > 0) {
        assert.ok(row.retries > 0, `${host}: ${faults} faults served but no retries${context}`);
        assert.ok(failedSent(row) < faults, `${host}: retries absorbed no fault${context}`);
      }
    }
    // The outage shows in the payments numbers: 503s while down, failures, and calls failed fast.
    const paymentsTotals = rows.get('payments');
    assert.ok((served.get('payments')?.down ?? 0) > 0, `no 503 while down${context}`);
    assert.ok(
      paymentsTotals && paymentsTotals.http5xx > 0 && paymentsTotals.circuitOpen > 0,
      `payments row${context}`,
    );
    // The last live frame's since-start counts never exceed the final totals.
    assert.ok((last?.totalCalls ?? 0) <= paymentsTotals.calls, `payments calls${context}`);

    // The "all" row is the sum of the host rows.
    const all = rows.get('all');
    assert.ok(all, `no "all" row${context}`);
    const total = (field: keyof HostRow) =>
      hosts.reduce((n, host) => n + Number(rows.get(host)?.[field] ?? 0), 0);
    for (const field of ['calls', 'network', 'http5xx', 'timeout', 'circuitOpen', 'retries'] as const) {
      assert.equal(all[field], total(field), `all.${field}${context}`);
    }
  });

  it('demo.ts: Ctrl-C (SIGINT) stops the load, prints the summary and exits by itself', {
    skip: process.platform === 'win32' ? 'POSIX signals' : false,
  }, async () => {
    let signalledAt = 0;
    const args = ['examples/demo.ts', '--seconds', '0', '--concurrency', '2', '--no-outage'];
    const result = await runNode(args, {
      killAfterMs: 15_000,
      onStdout(stdout, child) {
        if (signalledAt === 0 && /^resilient-fetch demo /m.test(stdout)) {
          signalledAt = performance.now();
          child.kill('SIGINT');
        }
      },
    });
    assertExitedByItself(result, 15_000);
    assert.ok(signalledAt > 0, 'the live view never appeared');
    assert.match(result.stdout, /^SIGINT: load stopped/m);
    assert.match(result.stdout, /^Summary: load ran/m);
    assert.match(result.stdout, /No outage \(--no-outage\)/);
    assert.doesNotMatch(result.stdout, /DOWN/);
    // Exits once the calls in flight are done: the slowest take about 1.5 s (an llm answer that is slow
    // to start) or a Retry-After wait of 1 s and a retry.
    const afterSignalMs = performance.now() - signalledAt;
    assert.ok(afterSignalMs < 5_000, `exited ${afterSignalMs.toFixed(0)} ms after SIGINT`);
  });

  it('register-app.ts: with --import ./src/register.ts, the global fetch is resilient-fetch', async () => {
    const result = await runNode(['--import', './src/register.ts', 'examples/register-app.ts'], {
      killAfterMs: 10_000,
    });
    assertExitedByItself(result, 10_000);
    assert.match(result.stdout, /^fetched 3 resources/m);
    assert.match(result.stdout, /globalThis\.fetch\.name: fetch; typeof fetch\.close: function/);
    assert.match(result.stdout, /^fetch swapped by resilient-fetch: yes$/m);
    assert.match(result.stdout, /^its pools: http:\/\/127\.0\.0\.1:\d+$/m);
    assert.match(result.stdout, /^its circuits: 127\.0\.0\.1:\d+ closed$/m);
  });

  it('register-app.ts: without --import, the global fetch is Node’s own', async () => {
    const result = await runNode(['examples/register-app.ts'], { killAfterMs: 10_000 });
    assertExitedByItself(result, 10_000);
    assert.match(result.stdout, /^fetched 3 resources/m);
    assert.match(result.stdout, /^fetch swapped by resilient-fetch: no$/m);
  });

  it('install-in-code.ts: fetch goes through the installed instance and its pool until uninstall()', async () => {
    const result = await runNode(['examples/install-in-code.ts'], { killAfterMs: 10_000 });
    assertExitedByItself(result, 10_000);
    const out = result.stdout;
    assert.match(out, /^installed: true; globalThis\.fetch === rfetch: true$/m);
    // 10 concurrent calls on a pool capped at 4 connections, looked at once the server has 4 requests:
    // 4 sockets, each running a request, and the 6 others waiting for one.
    assert.match(
      out,
      /^while 10 calls run: 10 in flight, pool for 127\.0\.0\.1:\d+: 4 sockets connected, 4 running, 6 waiting for a socket$/m,
    );
    assert.match(out, /^10 responses, e\.g\. "hello from \/item\/0"$/m);
    assert.match(out, /^host 127\.0\.0\.1:\d+: circuit closed, 0 retries denied$/m);
    assert.match(out, /^uninstalled: installed false; Node's fetch is back: true$/m);
    assert.match(out, /^fetch after uninstall \(Node's own\): 200 /m);
    assert.match(out, /^rfetch: closed$/m);
  });

  it('demo.ts: a bad option prints the usage and exits with code 2', async () => {
    const result = await runNode(['examples/demo.ts', '--outage-for', 'soon'], { killAfterMs: 10_000 });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, /^--outage-for must be a number in \[0\.1, 86400\], received "soon"$/m);
    assert.match(result.stderr, /^usage: node examples\/demo\.ts/m);
  });
});
