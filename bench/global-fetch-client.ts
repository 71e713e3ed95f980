/**
 * Clients that GET with a fetch (the global one as it is, or a resilientFetch) and read the body. No
 * undici import here: bench/clients.ts must load after Node's fetch made its first call, and
 * bench/otel.ts and bench/ab.ts build these before.
 */
import type { Client, ClientName } from './clients.ts';

/** Throws unless `status` is the one expected: a client that gets errors must not look fast. */
export function checkStatus(status: number, name: ClientName, expected = 200): void {
  if (status !== expected) throw new Error(`${name}: status ${status}, expected ${expected}`);
}

/** A client that GETs with `get` (a fetch) and reads the whole body. */
export function fetchClient(
  name: ClientName,
  id: Client['id'],
  get: (url: string) => Promise<{ readonly status: number; arrayBuffer(): Promise<ArrayBuffer> }>,
  close: () => Promise<void> = async () => {},
): Client {
  return {
    name,
    id,
    async get(url) {
      const res = await get(url);
      checkStatus(res.status, name);
      return (await res.arrayBuffer()).byteLength;
    },
    close,
  };
}

/** GET with the global fetch and read the whole body; nothing to close (the dispatcher is Node's). */
export function globalFetchClient(name: ClientName, id: Client['id']): Client {
  return fetchClient(name, id, (url) => fetch(url));
}
