/**
 * The client shape of bench:ab (bench/measure.ts's `runCell`), and the check that native fetch is the one
 * Node ships. `npm run bench`'s clients are in bench/route-clients.ts.
 *
 * Load this module only after Node's built-in fetch has made its first call (bench/worker.ts and
 * bench/ab.ts do so): undici 8, when it loads first, installs its own Agent (wrapped in
 * Dispatcher1Wrapper) as the global dispatcher of Node's fetch, and "native fetch" would then run on
 * undici 8's pools.
 */
import { Agent, Dispatcher1Wrapper } from 'undici';

/** A client of bench:ab (bench/measure.ts's `runCell`): a GET that resolves with the body's length. */
export interface Client {
  /** Name used in the tables. */
  readonly name: ClientName;
  readonly id: string;
  /** GET `url`, read the whole body, and resolve with its length in bytes. */
  get(url: string): Promise<number>;
  close(): Promise<void>;
  /** Called before each run (warm-up or round), outside the measured window. */
  readonly beforeRun?: (() => void) | undefined;
  /** Called after each run, outside the measured window. */
  readonly afterRun?: (() => Promise<void>) | undefined;
}
export type ClientName = string;

/**
 * Throws unless Node's fetch still runs on the undici bundled with Node: the baseline must be the fetch
 * an application gets without this library. Returns the global dispatcher's class name.
 */
export function assertNativeBaseline(): string {
  const global = (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')];
  if (global instanceof Dispatcher1Wrapper || global instanceof Agent) {
    throw new Error(
      'native fetch would run on npm undici 8: call fetch() once before loading bench/clients.ts',
    );
  }
  return (global as object | undefined)?.constructor.name ?? 'none';
}
