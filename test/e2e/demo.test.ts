/**
 * The examples, run as a user runs them: each in a child process that must finish and exit by itself.
 *
 *   node --test test/e2e/demo.test.ts
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
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

interface HostRow {
  calls: number;
  network: number;
  http5xx: number;
  timeout: number;
  circuitOpen: number;
  /** Percent, as printed (one decimal). */
  success: number;
  retries: number;
  circuit: string;
  denied: number;
}

const rowPattern = new RegExp(
  String.raw`^(\w+) +(\d+) +(\d+) +(\d+) +(\d+) +(\d+) +([\d.]+)% +\d+ +\d+ +\d+ +(\d+) +(${circuitStates}) +(\d+)`,
  'gm',
);

/** The table rows (`host calls net 5xx t/o open success% p50 p99 max retries circuit denied`) of a block. */
function parseRows(block: string): Map<string, HostRow> {
  const rows = new Map<string, HostRow>();
  for (const match of block.matchAll(rowPattern)) {
    const [, name = '', ...cells] = match;
    const [calls, network, http5xx, timeout, circuitOpen, success, retries, circuit = '', denied] = cells;
    rows.set(name, {
      calls: Number(calls),
      network: Number(network),
      http5xx: Number(http5xx),
      timeout: Number(timeout),
      circuitOpen: Number(circuitOpen),
      success: Number(success),
      retries: Number(retries),
      circuit,
      denied: Number(denied),
    });
  }
  return rows;
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
  it('demo.ts: retries absorb the everyday faults; during an outage the payments circuit opens, fails fast and closes again', async () => {
    // The outage runs from 1 s to 4 s. Five failed calls (each after 3 retries, ~0.8 s) open the circuit
    // at about 2.5 s; the probe goes through 3 s later, after the host is back, and closes it.
    const args = ['examples/demo.ts', '--seconds', '8', '--outage-at', '1', '--outage-for', '3'];
    const result = await runNode(args, { killAfterMs: 20_000 });
    // 8 s of load, then the drain: a call in a Retry-After wait (1 s) or a slow llm answer (1.5 s).
    assertExitedByItself(result, 15_000);

    const [live = '', summary] = result.stdout.split(/^Summary: /m);
    assert.ok(summary, `no final summary in:\n${result.stdout}`);
    const context = `\n--- output\n${result.stdout}`;
    assert.match(summary, /^load ran \d+\.\d s; \d+ requests were in flight; close\(\) took/);
    assert.match(summary, /rfetch after close\(\): state closed, 0 in flight, 0 pools open/);

    // Piped output gets a new block each second, each with a line per host.
    const frames = live.split(/^resilient-fetch demo /m).slice(1);
    assert.ok(frames.length >= 5, `expected a live block per second, got ${frames.length}${context}`);
    for (const frame of frames) assert.deepEqual([...parseRows(frame).keys()], [...hosts], frame);
    // Someone watching sees the payments circuit open (and only that circuit: the others stay closed).
    const openFrames = frames.filter((frame) => parseRows(frame).get('payments')?.circuit === 'open');
    assert.ok(openFrames.length >= 1, `payments never showed an open circuit${context}`);
    for (const frame of frames) {
      for (const [host, row] of parseRows(frame)) {
        if (host !== 'payments') assert.equal(row.circuit, 'closed', `${host} circuit in:\n${frame}`);
      }
    }

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
    assert.equal(timeline.at(-1)?.text.startsWith('circuit half-open → closed'), true, `${context}`);
    for (const event of parseTimeline(summary)) assert.equal(event.host, 'payments', event.text);

    // Calls started after the outage succeed again (some still fail fast until the probe closes it).
    const after = /^ +after it +(\d+) calls, (\d+) ok/m.exec(summary);
    assert.ok(after, `no "after it" line${context}`);
    assert.ok(Number(after[2]) > 0, `no payments call succeeded after the outage${context}`);

    const rows = parseRows(summary);
    const served = parseServed(summary);
    for (const host of hosts) {
      const row = rows.get(host);
      const s = served.get(host);
      assert.ok(row && row.calls > 0, `${host}: no calls in the summary${context}`);
      assert.ok(s, `${host}: no "served" line${context}`);
      assert.equal(row.circuit, 'closed', `${host}: circuit at the end${context}`);
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
    const payments = rows.get('payments');
    assert.ok((served.get('payments')?.down ?? 0) > 0, `no 503 while down${context}`);
    assert.ok(payments && payments.http5xx > 0 && payments.circuitOpen > 0, `payments row${context}`);

    // The "all" row is the sum of the host rows.
    const all = rows.get('all');
    assert.ok(all, `no "all" row${context}`);
    const total = (field: keyof Omit<HostRow, 'circuit'>) =>
      hosts.reduce((n, host) => n + Number(rows.get(host)?.[field] ?? 0), 0);
    for (const field of [
      'calls',
      'network',
      'http5xx',
      'timeout',
      'circuitOpen',
      'retries',
      'denied',
    ] as const) {
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
    assert.match(result.stdout, /globalThis\.fetch\.name: resilientFetch; typeof fetch\.close: function/);
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
