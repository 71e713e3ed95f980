/**
 * `npm run bench:ab -- --base DIR`: this checkout's resilientFetch against another checkout's (DIR, e.g.
 * a `git worktree` of the commit before a change), both loaded in this one process, with native fetch
 * beside them. What an optimisation gains, measured in the same rounds: two processes run one after the
 * other on a shared machine differ by more than most single changes.
 *
 *   git worktree add ../base main && npm run bench:ab -- --base ../base --sdk --rounds 40
 *
 * Options: --base DIR (required; its `src/index.ts` is imported, and its own node_modules are not
 * needed: bare imports resolve from DIR upwards, so a worktree inside this checkout, or one with a
 * `node_modules` link, uses this one's packages), --sdk (register the OpenTelemetry SDK of
 * `npm run bench -- --otel` first, so both record through it), --rounds N (40), --duration-ms N (250 per
 * client per round), --size 64|65536 (64), --concurrency N (16).
 *
 * Prints, per client, the median req/s ratio to native fetch and CPU µs per request over the rounds, and
 * the median of the per-round ratio this/base with its 95 % bootstrap interval.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { bootstrapMedianInterval, median } from './stats.ts';
import { startUpstream } from './upstream.ts';

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
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
if (values.base === undefined)
  throw new TypeError('bench/ab: --base DIR is required (a checkout to compare with)');
const rounds = positive('rounds', values.rounds);
const durationMs = positive('duration-ms', values['duration-ms']);
const concurrency = positive('concurrency', values.concurrency);
if (values.size !== '64' && values.size !== '65536')
  throw new TypeError(`bench/ab: --size must be 64 or 65536, got ${values.size}`);

// As in bench/run.ts: Node's fetch fills its global dispatcher before anything can replace it.
await fetch('data:,');
if (values.sdk) (await import('./otel.ts')).registerSdk();

type Fetch = (url: string) => Promise<Response>;
type Instance = Fetch & { close(): Promise<void> };
const load = async (dir: string): Promise<Instance> => {
  const module = (await import(pathToFileURL(resolve(dir, 'src/index.ts')).href)) as {
    createResilientFetch(): Instance;
  };
  return module.createResilientFetch();
};
const base = await load(values.base);
const current = await load(new URL('..', import.meta.url).pathname);
const clients: ReadonlyArray<readonly [string, Fetch]> = [
  ['native fetch', (url) => fetch(url)],
  ['base', base],
  ['this checkout', current],
];

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
    thisOverBase.push(
      (results.get('this checkout')?.rps ?? Number.NaN) / (results.get('base')?.rps ?? Number.NaN),
    );
  }
  console.log(
    `${values.size} B x ${concurrency}, ${rounds} interleaved rounds x ${durationMs} ms, SDK ${values.sdk ? 'registered' : 'not registered'}`,
  );
  for (const [name] of clients) {
    const ratio = median(vsNative.get(name) ?? []).toFixed(2);
    const us = median(cpu.get(name) ?? []).toFixed(1);
    console.log(`${name.padEnd(14)} req/s vs native ${ratio}x   CPU ${us} µs/request`);
  }
  const { low, high } = bootstrapMedianInterval(thisOverBase);
  console.log(
    `this checkout / base: ${median(thisOverBase).toFixed(3)}x (95% CI ${low.toFixed(3)}-${high.toFixed(3)})`,
  );
} finally {
  await Promise.all([base.close(), current.close()]);
  await upstream.stop();
}
