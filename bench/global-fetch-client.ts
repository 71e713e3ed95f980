/**
 * A client that calls the global `fetch` as it is (no undici import here: bench/clients.ts must load
 * after Node's fetch made its first call, and bench/otel.ts builds this before).
 */
import type { Client, ClientName } from './clients.ts';
import type { OtelClientId } from './otel.ts';

export function checkStatus(status: number, name: ClientName): void {
  if (status !== 200) throw new Error(`${name}: unexpected status ${status}`);
}

/** GET with the global fetch and read the whole body; nothing to close (the dispatcher is Node's). */
export function globalFetchClient(name: ClientName, id: Client['id'] | OtelClientId): Client {
  return {
    name,
    id,
    async get(url) {
      const res = await fetch(url);
      checkStatus(res.status, name);
      return (await res.arrayBuffer()).byteLength;
    },
    close: async () => {},
  };
}
