/**
 * Memory over many hosts: 2,000 distinct hosts (2,000 loopback ports) are called, then left idle; their
 * pools and per-host state must be released, and the heap after GC must come back near where it started.
 * The client runs in a child process with --expose-gc, so the heap measured is the library's alone (the
 * servers live in this process).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { runInChild } from '../helpers/child.ts';

const HOSTS = 2_000;
const WARMUP = 50;

describe('memory with 2,000 hosts', () => {
  const listeners: net.Server[] = [];
  const ports: number[] = [];
  // One HTTP server behind 2,050 listening sockets: each port is a host of its own for the client.
  const server = http.createServer((_req, res) => res.end('ok'));
  server.keepAliveTimeout = 10_000; // the client closes its idle sockets first

  before(async () => {
    for (let i = 0; i < HOSTS + WARMUP; i++) {
      const listener = net.createServer((socket) => server.emit('connection', socket));
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
      listeners.push(listener);
      ports.push((listener.address() as net.AddressInfo).port);
    }
  });
  after(async () => {
    server.closeAllConnections();
    await Promise.all(listeners.map((l) => new Promise((resolve) => l.close(resolve))));
  });

  it('releases pools and per-host state after idle; the heap after GC comes back near its start', async () => {
    const src = new URL('../../src/index.ts', import.meta.url).href;
    const script = `
      const { createResilientFetch } = await import(${JSON.stringify(src)});
      const ports = JSON.parse(process.env.RF_PORTS);
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      const options = {
        pool: { keepAliveTimeoutMs: 3_000 },
        // Host state is kept while it is within these windows, and forgotten within 1.5 x after.
        health: { windowMs: 4_000 },
        retry: { budget: { windowMs: 4_000 } },
        // Some hosts through a pattern with pool options of its own (one more Agent), some through a
        // predicate: the override paths are exercised too.
        hosts: [
          { match: ({ port }) => port % 3 === 0, pool: { connections: 2, keepAliveTimeoutMs: 3_000 } },
          { match: ({ port }) => port % 3 === 1, timeout: { attemptMs: 10_000 } },
        ],
      };
      let rfetch = createResilientFetch(options);
      const callAll = (list) =>
        Promise.all(list.map(async (port) => (await rfetch('http://127.0.0.1:' + port + '/')).text()));
      const settle = async () => {
        for (let i = 0; i < 100; i++) {
          const s = rfetch.stats();
          if (Object.keys(s.hosts).length === 0 && Object.keys(s.pools).length === 0) return i;
          await sleep(100);
        }
        return -1;
      };
      const measure = async () => {
        for (let i = 0; i < 4; i++) { globalThis.gc(); await sleep(10); }
        const m = process.memoryUsage();
        return { heap: m.heapUsed, rss: m.rss };
      };
      // Warm-up on other hosts with an instance of its own: code compiled, module state in place.
      await callAll(ports.slice(${HOSTS}));
      await rfetch.close();
      rfetch = createResilientFetch(options);
      const start = await measure();
      const began = performance.now();
      // Only counts are kept: the script itself must hold nothing per host when the heap is measured.
      const ok = (await callAll(ports.slice(0, ${HOSTS}))).filter((b) => b === 'ok').length;
      const calledMs = performance.now() - began;
      const liveHosts = Object.keys(rfetch.stats().hosts).length;
      const livePools = Object.keys(rfetch.stats().pools).length;
      const peak = await measure();
      const waited = await settle();
      const end = await measure();
      const after = rfetch.stats();
      console.log(JSON.stringify({
        ok,
        calledMs: Math.round(calledMs),
        liveHosts,
        livePools,
        hostsAfter: Object.keys(after.hosts).length,
        poolsAfter: Object.keys(after.pools).length,
        queueAfter: after.queue,
        settledAfterMs: waited * 100,
        start, peak, end,
      }));
      await rfetch.close();
    `;
    const result = await runInChild(['--expose-gc', '--input-type=module', '-e', script], {
      env: { RF_PORTS: JSON.stringify(ports) },
      timeoutMs: 20_000,
    });
    assert.equal(result.code, 0, result.stderr);
    const r = JSON.parse(result.stdout);
    const mib = (n: number) => `${(n / 1_048_576).toFixed(1)} MiB`;
    const report =
      `heap ${mib(r.start.heap)} -> ${mib(r.peak.heap)} with ${r.liveHosts} hosts -> ${mib(r.end.heap)} after idle; ` +
      `rss ${mib(r.start.rss)} -> ${mib(r.peak.rss)} -> ${mib(r.end.rss)}; called in ${r.calledMs} ms, ` +
      `released ${r.settledAfterMs} ms after`;
    console.log(report);
    assert.equal(r.ok, HOSTS, 'every call succeeded');
    assert.equal(r.liveHosts, HOSTS, 'one host state per host while they are in use');
    assert.ok(r.livePools > HOSTS / 2, `pools were open (${r.livePools})`);
    assert.equal(r.hostsAfter, 0, 'every idle host state was forgotten');
    assert.equal(r.poolsAfter, 0, 'every idle pool was closed and forgotten');
    assert.deepEqual(r.queueAfter, { active: 0, length: 0, maxInFlight: 100, maxQueue: 10_000 });
    const grew = r.peak.heap - r.start.heap;
    const kept = r.end.heap - r.start.heap;
    assert.ok(grew > 2 * 1_048_576, `the hosts took memory while live (${report})`);
    assert.ok(kept < grew * 0.15, `at most 15% of it is kept after idle (${report})`);
    assert.ok(r.end.heap < r.start.heap * 1.1, `the heap is back within 10% of its start (${report})`);
  });
});
