/**
 * An ordinary app that knows nothing about resilient-fetch: it never imports it and just calls the global
 * fetch. Started with the register entry, its fetch calls go through resilient-fetch with no code change.
 *
 *   node --import ./src/register.ts examples/register-app.ts    (in this repository)
 *   node --import resilient-fetch/register app.js              (in an app that depends on resilient-fetch)
 *
 * Run it without `--import` to compare: it then reports Node's own fetch.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const server = createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ path: req.url }));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

// The app's ordinary work.
const results = await Promise.all(
  ['/users', '/orders', '/stock'].map(async (path) => (await fetch(`${origin}${path}`)).json()),
);
console.log(`fetched ${results.length} resources: ${JSON.stringify(results)}`);

// Only to show what happened: resilient-fetch's fetch is named `fetch` (as the global one is), and it
// has close()/stats().
const current = globalThis.fetch as typeof fetch & {
  close?: unknown;
  stats?: () => { pools: object; hosts: Record<string, { circuit: string }> };
};
const swapped = typeof current.close === 'function';
console.log(`globalThis.fetch.name: ${current.name}; typeof fetch.close: ${typeof current.close}`);
console.log(`fetch swapped by resilient-fetch: ${swapped ? 'yes' : 'no'}`);
if (swapped && current.stats) {
  const { pools, hosts } = current.stats();
  console.log(`its pools: ${Object.keys(pools).join(', ')}`);
  // Each host called so far has its own policies: retries, timeouts, a circuit breaker.
  const circuits = Object.entries(hosts).map(([host, { circuit }]) => `${host} ${circuit}`);
  console.log(`its circuits: ${circuits.join(', ')}`);
}

// The app shuts its server down as usual; with no sockets left open the process exits by itself.
server.close();
server.closeAllConnections();
