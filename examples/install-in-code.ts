/**
 * install() in code: after it, every plain `fetch()` in the process (yours and your dependencies') goes
 * through resilient-fetch; uninstall() puts Node's own fetch back.
 *
 *   node examples/install-in-code.ts
 *
 * It starts a small local server (127.0.0.1, a port the OS picks) that answers after 100 ms, so ten
 * concurrent calls overlap and the per-host pool can be seen at work.
 *
 * The pool is looked at once the server has received the first 4 requests, not after a fixed delay: the
 * calls start asynchronously (each first goes through its host's circuit breaker and retry policy), and
 * on a busy machine connecting can take longer than any delay one would pick.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
// In an app: import { createResilientFetch, install, isInstalled, uninstall } from 'resilient-fetch';
import { createResilientFetch, install, isInstalled, uninstall } from '../src/index.ts';

// Resolved when the server has received `connections` requests: every socket of the pool is then busy.
const connections = 4;
let received = 0;
let onPoolBusy = () => {};
const poolIsBusy = new Promise<void>((resolve) => {
  onPoolBusy = resolve;
});
const server = createServer((req, res) => {
  if (++received === connections) onPoolBusy();
  setTimeout(() => res.end(`hello from ${req.url}`), 100);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const nodeFetch = globalThis.fetch;
// At most 4 sockets to any one host. `install()` with no argument installs the default `resilientFetch`.
const rfetch = createResilientFetch({ pool: { connections } });
install(rfetch);
console.log(`installed: ${isInstalled()}; globalThis.fetch === rfetch: ${globalThis.fetch === rfetch}`);

// Ordinary fetch calls, written as for Node's fetch.
const calls = Array.from({ length: 10 }, (_, i) => fetch(`${origin}/item/${i}`).then((r) => r.text()));
await poolIsBusy;
const stats = rfetch.stats();
const pool = stats.pools[origin];
console.log(
  `while 10 calls run: ${stats.inFlight} in flight, pool for ${pool?.host}: ` +
    `${pool?.connected} sockets connected, ${pool?.running} running, ${pool?.pending} waiting for a socket`,
);
const bodies = await Promise.all(calls);
console.log(`10 responses, e.g. ${JSON.stringify(bodies[0])}`);
// The host's policies (retries, circuit breaker, timeouts) ran around each call; nothing failed here.
for (const [host, { circuit, retriesDenied }] of Object.entries(rfetch.stats().hosts)) {
  console.log(`host ${host}: circuit ${circuit}, ${retriesDenied} retries denied`);
}

uninstall();
console.log(
  `uninstalled: installed ${isInstalled()}; Node's fetch is back: ${globalThis.fetch === nodeFetch}`,
);
const response = await fetch(`${origin}/after-uninstall`);
console.log(
  `fetch after uninstall (Node's own): ${response.status} ${JSON.stringify(await response.text())}`,
);

// Graceful shutdown: the instance closes its pools, the server its sockets; the process then exits by itself.
await rfetch.close();
server.close();
server.closeAllConnections();
console.log(`rfetch: ${rfetch.stats().state}`);
