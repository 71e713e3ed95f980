/**
 * Helpers for the operations-kit tests: the Debian tools they need (promtool, prometheus, docker-compose),
 * a real Prometheus started on a free loopback port with a temporary storage directory, the example app
 * (examples/ops/app.ts) in a child process, and PromQL/exposition parsing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './child.ts';
import { freePort } from './server.ts';

const run = promisify(execFile);

const aptPackage: Record<string, string> = {
  promtool: 'prometheus',
  prometheus: 'prometheus',
  'docker-compose': 'docker-compose',
};

/** The path of a Debian tool, or an error that names the command installing it. Never a silent skip. */
export async function requireTool(name: 'promtool' | 'prometheus' | 'docker-compose'): Promise<string> {
  try {
    const { stdout } = await run('sh', ['-c', `command -v ${name}`]);
    return stdout.trim();
  } catch {
    throw new Error(
      `${name} is not installed: run \`apt-get install -y --no-install-recommends ${aptPackage[name]}\` ` +
        '(as root), or `bash .ci/run`, which installs it and then runs npm test',
    );
  }
}

export interface ToolResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a tool to completion (bounded), resolving with its exit code and output whatever the code. */
export async function runTool(file: string, args: string[], timeoutMs = 30_000): Promise<ToolResult> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: repoRoot, timeout: timeoutMs });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** Polls `probe` until it returns a value other than undefined; rejects with `what` after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (performance.now() > deadline) {
      const detail = lastError ? ` (last error: ${String(lastError)})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Ends a child: SIGTERM, then SIGKILL if it has not exited after `graceMs`. Resolves once it has exited. */
export async function stopChild(child: ChildProcess | undefined, graceMs = 5_000): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PromAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
}

export interface RunningPrometheus {
  readonly url: string;
  readonly process: ChildProcess;
  /** An instant query; rejects on a PromQL error. */
  query(expr: string): Promise<PromSample[]>;
  /** Values of `label` on the series `match` selects (what Grafana's `label_values()` asks). */
  labelValues(label: string, match: string): Promise<string[]>;
  /** Active (pending or firing) alerts. */
  alerts(): Promise<PromAlert[]>;
  /** Health of the scrape targets, `up`/`down`/`unknown` by scrape URL. */
  targets(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`${url}: ${body.error ?? res.status}`);
  return body.data;
}

/** Starts `prometheus` in the foreground with `config` (YAML) and extra files beside it. */
export async function startPrometheus(
  config: string,
  files: Record<string, string> = {},
): Promise<RunningPrometheus> {
  const binary = await requireTool('prometheus');
  const dir = await mkdtemp(join(tmpdir(), 'rf-prometheus-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  await writeFile(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const child = spawn(
    binary,
    [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4_000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      'Prometheus to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${stderr}`);
        const res = await fetch(`${url}/-/ready`);
        await res.arrayBuffer();
        return res.ok ? true : undefined;
      },
      15_000,
      100,
    );
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url,
    process: child,
    query: async (expr) => {
      const data = await getJson<{ result: PromSample[] }>(
        `${url}/api/v1/query?query=${encodeURIComponent(expr)}`,
      );
      return data.result;
    },
    labelValues: (label, match) =>
      getJson<string[]>(`${url}/api/v1/label/${label}/values?match[]=${encodeURIComponent(match)}`),
    alerts: async () => (await getJson<{ alerts: PromAlert[] }>(`${url}/api/v1/alerts`)).alerts,
    targets: async () => {
      const data = await getJson<{ activeTargets: Array<{ scrapeUrl: string; health: string }> }>(
        `${url}/api/v1/targets`,
      );
      return Object.fromEntries(data.activeTargets.map((t) => [t.scrapeUrl, t.health]));
    },
    stop,
  };
}

export interface RunningApp {
  readonly process: ChildProcess;
  /** The app's Prometheus page, from its ready line. */
  readonly metricsUrl: string;
  output(): string;
  stop(): Promise<void>;
}

/** Starts examples/ops/app.ts with `env` and waits for its `{"event":"ready"}` line. */
export async function startApp(env: NodeJS.ProcessEnv, timeoutMs = 15_000): Promise<RunningApp> {
  const child = spawn(process.execPath, ['examples/ops/app.ts'], {
    cwd: repoRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  try {
    const ready = await waitFor(
      'the example app to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`the app exited (${child.exitCode}): ${out}`);
        const line = out.split('\n').find((l) => l.startsWith('{"event":"ready"'));
        return line === undefined ? undefined : (JSON.parse(line) as { metrics: string | null });
      },
      timeoutMs,
      50,
    );
    assert.ok(ready.metrics, 'the app serves a Prometheus page');
    return { process: child, metricsUrl: ready.metrics, output: () => out, stop: () => stopChild(child) };
  } catch (error) {
    await stopChild(child);
    throw error;
  }
}

/** The sample names on a Prometheus text page (`name{...} value` lines). */
export function exposedNames(page: string): Set<string> {
  const names = new Set<string>();
  for (const line of page.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/.exec(line);
    if (match?.[1]) names.add(match[1]);
  }
  return names;
}

const promqlWords = new Set([
  'sum',
  'max',
  'min',
  'avg',
  'count',
  'by',
  'without',
  'rate',
  'increase',
  'irate',
  'histogram_quantile',
  'and',
  'or',
  'unless',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'bool',
  'offset',
  'label_values',
  'le',
]);

/**
 * The metric names a PromQL expression selects: identifiers followed by `{` or `[`, or standing alone,
 * that are not functions, keywords, label names inside braces or grouping lists.
 */
export function metricNamesIn(expr: string): Set<string> {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""') // string literals
    .replace(/\{[^}]*\}/g, '{}') // label matchers
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '$1()') // label lists
    .replace(/\[[^\]]*\]/g, '[]'); // range durations
  const names = new Set<string>();
  for (const match of stripped.matchAll(/\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(\s*\()?/g)) {
    const [, word, call] = match;
    if (!word || call || promqlWords.has(word) || /^\d/.test(word)) continue;
    names.add(word);
  }
  return names;
}
