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

interface HostRow {
  calls: number;
  networkErrors: number;
  http5xx: number;
}

/** The table rows (`host calls net-err 5xx success% ...`) of a block of the demo's output. */
function parseRows(block: string): Map<string, HostRow> {
  const rows = new Map<string, HostRow>();
  for (const match of block.matchAll(/^(\w+) +(\d+) +(\d+) +(\d+) +[\d.]+%/gm)) {
    const [, name = '', calls, networkErrors, http5xx] = match;
    rows.set(name, { calls: Number(calls), networkErrors: Number(networkErrors), http5xx: Number(http5xx) });
  }
  return rows;
}

/** What the upstream says it served, from the summary's "Served by the upstream" lines. */
function parseServed(summary: string): Map<string, { resets: number; unavailable: number }> {
  const served = new Map<string, { resets: number; unavailable: number }>();
  const pattern = /^ +(\w+) +\d+ requests: .*?(\d+) x 503 Retry-After, (\d+) socket resets/gm;
  for (const [, name = '', unavailable, resets] of summary.matchAll(pattern)) {
    served.set(name, { resets: Number(resets), unavailable: Number(unavailable) });
  }
  return served;
}

describe('examples', { concurrency: true }, () => {
  it('demo.ts: runs a live view for --seconds, shuts down gracefully and exits by itself', async () => {
    const result = await runNode(['examples/demo.ts', '--seconds', '3', '--concurrency', '2'], {
      killAfterMs: 15_000,
    });
    // 3 s of load, the drain of a very slow call at most (1.2 s), and start-up.
    assertExitedByItself(result, 12_000);

    const [live = '', summary] = result.stdout.split(/^Summary: /m);
    assert.ok(summary, `no final summary in:\n${result.stdout}`);
    assert.match(summary, /^load ran \d+\.\d s; \d+ requests were in flight; close\(\) took/);
    assert.match(summary, /rfetch after close\(\): state closed, 0 in flight, 0 pools open/);

    // Piped output gets a new block each second, each with a line per host.
    const frames = live.split(/^resilient-fetch demo /m).slice(1);
    assert.ok(frames.length >= 2, `expected a live block per second, got ${frames.length}:\n${live}`);
    for (const frame of frames) assert.deepEqual([...parseRows(frame).keys()], [...hosts]);

    const rows = parseRows(summary);
    const served = parseServed(summary);
    for (const host of hosts) {
      const row = rows.get(host);
      assert.ok(row && row.calls > 0, `${host}: no calls in the summary:\n${summary}`);
      // The demo's split of failures matches what the upstream did: each 503 is a 5xx, each reset a
      // network error (no retries yet, so every fault reaches the caller).
      assert.equal(row.http5xx, served.get(host)?.unavailable, `${host} 5xx vs 503s served:\n${summary}`);
      assert.equal(
        row.networkErrors,
        served.get(host)?.resets,
        `${host} network errors vs resets:\n${summary}`,
      );
    }
    assert.equal(
      rows.get('all')?.calls,
      hosts.reduce((n, host) => n + (rows.get(host)?.calls ?? 0), 0),
    );
  });

  it('demo.ts: Ctrl-C (SIGINT) stops the load, prints the summary and exits by itself', {
    skip: process.platform === 'win32' ? 'POSIX signals' : false,
  }, async () => {
    let signalledAt = 0;
    const result = await runNode(['examples/demo.ts', '--seconds', '0', '--concurrency', '2'], {
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
    // Exits once the requests in flight are done: the slowest takes about 1.2 s.
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
    // 10 concurrent calls on a pool capped at 4 connections: at most 4 sockets, the rest wait.
    const pool = /(\d+) in flight, pool for 127\.0\.0\.1:\d+: (\d+) sockets connected/.exec(out);
    assert.ok(pool, `no pool line in:\n${out}`);
    assert.equal(Number(pool[1]), 10);
    assert.ok(Number(pool[2]) >= 1 && Number(pool[2]) <= 4, `sockets: ${pool[2]}`);
    assert.match(out, /^uninstalled: installed false; Node's fetch is back: true$/m);
    assert.match(out, /^fetch after uninstall \(Node's own\): 200 /m);
    assert.match(out, /^rfetch: closed$/m);
  });
});
