/**
 * Memory benchmark (issue 7): what importing resilient-fetch costs, and whether calling many distinct
 * hosts and then leaving them idle gives the memory back.
 *
 *   npm run bench:memory                      (builds dist/ first) import cost, then 10,000 hosts
 *   npm run bench:memory -- --hosts 2000
 *
 * 1. Import cost: fresh child processes (the same Node binary, --expose-gc) import either undici alone
 *    or the built resilient-fetch (dist/, as users get it; `npm run build` first), then report RSS and heap after GC. Five of
 *    each, interleaved; medians.
 * 2. Many hosts: one loopback server; `--hosts` distinct host names (`h<n>.test:<port>`) that our DNS
 *    cache's resolver maps to 127.0.0.1 (an injected `dns.lookup`, so nothing leaves the machine and no
 *    resolver is asked). Each host is called once. Then the instance is left idle past its eviction time
 *    (short pool keep-alive, short health and budget windows, short DNS cache TTL), one more call to a known host lets the
 *    amortised sweeps run, and the heap after GC is compared with the heap before the first call.
 *    Bytes per host are printed while the hosts are live and after eviction. RSS is printed beside the
 *    heap: the allocator keeps pages, so RSS does not come back as the heap does (../shared/FACTS.md).
 */
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '10000' },
  },
});

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

function gc(): void {
  const collect = (globalThis as { gc?: () => void }).gc;
  if (!collect) throw new Error('run with --expose-gc (npm run bench:memory does)');
  collect();
  collect();
}

/** A child's script: import one module, collect, print memory as JSON (plain JS: no type stripper loaded). */
const childScript = (specifier: string) => `
  await import(${JSON.stringify(specifier)});
  globalThis.gc(); globalThis.gc();
  const { rss, heapUsed } = process.memoryUsage();
  process.stdout.write(JSON.stringify({ rss, heapUsed }));`;

function importCost(): void {
  const samples: Record<string, { rss: number[]; heap: number[] }> = {
    undici: { rss: [], heap: [] },
    'resilient-fetch': { rss: [], heap: [] },
  };
  for (let i = 0; i < 5; i++) {
    for (const which of ['undici', 'resilient-fetch'] as const) {
      // The built package, as users import it (`npm run build` first).
      const specifier = which === 'undici' ? 'undici' : new URL('../dist/index.js', import.meta.url).href;
      const out = execFileSync(
        process.execPath,
        ['--expose-gc', '--input-type=module', '-e', childScript(specifier)],
        { encoding: 'utf8', cwd: new URL('..', import.meta.url).pathname },
      );
      const { rss, heapUsed } = JSON.parse(out) as { rss: number; heapUsed: number };
      samples[which]?.rss.push(rss);
      samples[which]?.heap.push(heapUsed);
    }
  }
  const u = samples.undici as { rss: number[]; heap: number[] };
  const r = samples['resilient-fetch'] as { rss: number[]; heap: number[] };
  console.log('## Import cost (medians of 5 fresh processes each)');
  console.log(`undici alone:        RSS ${mib(median(u.rss))}, heap ${mib(median(u.heap))}`);
  console.log(`resilient-fetch:     RSS ${mib(median(r.rss))}, heap ${mib(median(r.heap))}`);
  const extra = median(r.rss) - median(u.rss);
  console.log(
    `resilient-fetch adds ${mib(extra)} RSS over undici alone (target <= 10 MiB): ${extra <= 10 * 1024 * 1024 ? 'met' : 'missed'}`,
  );
}

async function manyHosts(count: number): Promise<void> {
  const { createResilientFetch } = await import('../src/index.ts');
  const server = createServer((req, res) => {
    req.resume();
    res.end('ok');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const windowMs = 1_000;
  const rfetch = createResilientFetch({
    pool: { keepAliveTimeoutMs: 500 },
    health: { windowMs },
    retry: { budget: { windowMs } },
    dns: {
      ttlMs: windowMs,
      lookup: (_host, _options, callback) => callback(null, [{ address: '127.0.0.1', family: 4 }]),
    },
  });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  // Warm: one host, so code and caches are loaded before the baseline.
  await (await rfetch(`http://warm.test:${port}/`)).text();
  await sleep(1_500);
  await (await rfetch(`http://warm.test:${port}/`)).text();
  gc();
  const start = process.memoryUsage();
  const began = performance.now();
  const batch = 100;
  for (let i = 0; i < count; i += batch) {
    const calls = [];
    for (let j = i; j < Math.min(count, i + batch); j++)
      calls.push(rfetch(`http://h${j}.test:${port}/`).then((r) => r.text()));
    await Promise.all(calls);
  }
  const callMs = performance.now() - began;
  gc();
  const live = process.memoryUsage();
  const liveHosts = Object.keys(rfetch.stats().hosts).length;
  const livePools = Object.keys(rfetch.stats().pools).length;
  // Idle past every window: sockets closed (keep-alive 0.5 s), pools dropped, host state idle.
  await sleep(Math.max(2_500, windowMs * 2.5));
  // The sweep of idle host state is amortised over calls: one more call lets it run.
  await (await rfetch(`http://warm.test:${port}/`)).text();
  await sleep(200);
  gc();
  const idle = process.memoryUsage();
  const idleHosts = Object.keys(rfetch.stats().hosts).length;
  const idlePools = Object.keys(rfetch.stats().pools).length;
  await rfetch.close();
  server.close();
  const ratio = idle.heapUsed / start.heapUsed;
  console.log(`\n## ${count} distinct hosts, each called once (${(callMs / 1000).toFixed(1)} s), then idle`);
  console.log(`before:         heap ${mib(start.heapUsed)}, RSS ${mib(start.rss)}`);
  console.log(
    `all live:       heap ${mib(live.heapUsed)}, RSS ${mib(live.rss)}; ${liveHosts} hosts with state, ${livePools} pools; ` +
      `${Math.round((live.heapUsed - start.heapUsed) / count)} B heap per live host`,
  );
  console.log(
    `idle, evicted:  heap ${mib(idle.heapUsed)}, RSS ${mib(idle.rss)}; ${idleHosts} hosts with state, ${idlePools} pools; ` +
      `${Math.round((idle.heapUsed - start.heapUsed) / count)} B heap per idle host`,
  );
  console.log(
    `heap after idle / before: ${ratio.toFixed(3)}x (target within 10%): ${ratio <= 1.1 ? 'met' : 'missed'}`,
  );
}

importCost();
await manyHosts(Number(values.hosts));
