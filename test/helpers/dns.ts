/** Resolvers for tests that call hosts by name (`dns.lookup` option): no real DNS is asked. */
import type { LookupAddress, LookupAllOptions } from 'node:dns';

/** Every name resolves to 127.0.0.1: `a.svc.test:PORT` reaches the local server under its own host key. */
export const loopback = (
  _hostname: string,
  _options: LookupAllOptions,
  callback: (error: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void,
) => callback(null, [{ address: '127.0.0.1', family: 4 }]);
