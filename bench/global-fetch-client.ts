/**
 * Clients that GET with a fetch (the global one as it is, or a resilientFetch) and read the body. No
 * undici import here: bench/clients.ts must load after Node's fetch made its first call, and
 * bench/otel.ts and bench/ab.ts build these before.
 */
import type { Client, ClientName } from './clients.ts';

export function checkStatus(status: number, name: ClientName): void {
  if (status !== 200) throw new Error(`${name}: unexpected status ${status}`);
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
