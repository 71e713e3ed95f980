/**
 * install() in code: after it, every plain `fetch()` in the process (yours and your dependencies') goes
 * through resilient-fetch; uninstall() puts Node's own fetch back.
 *
 *   node examples/install-in-code.ts
 *
 * It starts a small local server (127.0.0.1, a port the OS picks) that answers after 100 ms, so ten
 * concurrent calls overlap and the per-host pool can be seen at work.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
// In an app: import { createResilientFetch, install, isInstalled, uninstall } from 'resilient-fetch';
import { createResilientFetch, install, isInstalled, uninstall } from '../src/index.ts';

const server = createServer((req, res) => {
  setTimeout(() => res.end(`hello from ${req.url}`), 100);
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

const nodeFetch = globalThis.fetch;
// At most 4 sockets to any one host. `install()` with no argument installs the default `resilientFetch`.
const rfetch = createResilientFetch({ pool: { connections: 4 } });
install(rfetch);
console.log(`installed: ${isInstalled()}; globalThis.fetch === rfetch: ${globalThis.fetch === rfetch}`);

// Ordinary fetch calls, written as for Node's fetch.
const calls = Array.from({ length: 10 }, (_, i) => fetch(`${origin}/item/${i}`).then((r) => r.text()));
await new Promise((resolve) => setTimeout(resolve, 50));
const pool = rfetch.stats().pools[origin];
console.log(
  `while 10 calls run: ${rfetch.stats().inFlight} in flight, pool for ${pool?.host}: ` +
    `${pool?.connected} sockets connected, ${pool?.running} running, ${pool?.pending} waiting for a socket`,
);
const bodies = await Promise.all(calls);
console.log(`10 responses, e.g. ${JSON.stringify(bodies[0])}`);

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
