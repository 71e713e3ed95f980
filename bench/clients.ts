/**
 * The four clients the benchmark compares. Each one makes a GET and reads the whole body as bytes.
 *
 * Load this module only after Node's built-in fetch has made its first call (bench/run.ts does so):
 * undici 8, when it loads first, installs its own Agent (wrapped in Dispatcher1Wrapper) as the global
 * dispatcher of Node's fetch, and "native fetch" would then run on undici 8's pools.
 */
import { Agent, Dispatcher1Wrapper, request, fetch as undiciFetch } from 'undici';
import { createResilientFetch } from '../src/index.ts';
import type { AbClientId, AbClientName } from './ab.ts';
import { checkStatus, fetchClient, globalFetchClient } from './global-fetch-client.ts';
import type { OtelClientId, OtelClientName } from './otel.ts';

export interface Client {
  /** Name used in the tables and the JSON. */
  readonly name: ClientName;
  /** Name accepted by `--client`. */
  readonly id: ClientId | OtelClientId | AbClientId;
  /** GET `url`, read the whole body, and resolve with its length in bytes. */
  get(url: string): Promise<number>;
  close(): Promise<void>;
  /** Called before each run (warm-up or round), outside the measured window (`--otel` clients only). */
  readonly beforeRun?: (() => void) | undefined;
  /** Called after each run, outside the measured window (`--otel` clients only). */
  readonly afterRun?: (() => Promise<void>) | undefined;
}

/** `--client` id -> table name, in table order; native fetch first, as every ratio is taken against it. */
export const clientNames = {
  native: 'native fetch',
  resilient: 'resilientFetch',
  'resilient-bare': 'resilientFetch, policies off',
  'undici-fetch': 'undici fetch',
  'undici-request': 'undici request',
  'native-undici8': 'native fetch on undici 8',
} as const;
export type ClientId = keyof typeof clientNames;
export type ClientName = (typeof clientNames)[ClientId] | OtelClientName | AbClientName;

function createNativeFetchClient(): Client {
  // The global dispatcher belongs to Node; its idle sockets do not keep the process alive.
  return globalFetchClient('native fetch', 'native');
}

/**
 * Not in the default set (`--client native-undici8`): Node's fetch over an undici 8 Agent behind
 * Dispatcher1Wrapper, the transport resilientFetch is built on, without resilientFetch's own layers.
 * Set beside resilientFetch, it tells the cost of that transport from the cost of those layers.
 */
function createNativeFetchOnUndici8Client(): Client {
  const name = 'native fetch on undici 8';
  const agent = new Agent();
  // Node's RequestInit types its `dispatcher` with the bundled undici's types; undici 8's differ.
  const init = { dispatcher: new Dispatcher1Wrapper(agent) } as unknown as RequestInit;
  return fetchClient(
    name,
    'native-undici8',
    (url) => fetch(url, init),
    () => agent.close(),
  );
}

/** The default instance: retry, circuit breaker, attempt timeout and deadline all on. */
function createResilientFetchClient(): Client {
  return resilientClient('resilient', createResilientFetch());
}

/**
 * Retry and breaker off (the attempt timeout and deadline stay: they cannot be turned off). Beside the
 * default client it tells what the policies cost when no fault occurs.
 */
function createBareResilientFetchClient(): Client {
  return resilientClient('resilient-bare', createResilientFetch({ retry: false, circuitBreaker: false }));
}

function resilientClient(
  id: 'resilient' | 'resilient-bare',
  rfetch: ReturnType<typeof createResilientFetch>,
): Client {
  return fetchClient(clientNames[id], id, rfetch, () => rfetch.close());
}

function createUndiciFetchClient(): Client {
  const name = 'undici fetch';
  const dispatcher = new Agent();
  return fetchClient(
    name,
    'undici-fetch',
    (url) => undiciFetch(url, { dispatcher }),
    () => dispatcher.close(),
  );
}

function createUndiciRequestClient(): Client {
  const name = 'undici request';
  const dispatcher = new Agent();
  return {
    name,
    id: 'undici-request',
    async get(url) {
      const { statusCode, body } = await request(url, { dispatcher });
      checkStatus(statusCode, name);
      return (await body.arrayBuffer()).byteLength;
    },
    close: () => dispatcher.close(),
  };
}

const factories: Record<ClientId, () => Client> = {
  native: createNativeFetchClient,
  resilient: createResilientFetchClient,
  'resilient-bare': createBareResilientFetchClient,
  'undici-fetch': createUndiciFetchClient,
  'undici-request': createUndiciRequestClient,
  'native-undici8': createNativeFetchOnUndici8Client,
};

const defaultIds: readonly ClientId[] = [
  'native',
  'resilient',
  'resilient-bare',
  'undici-fetch',
  'undici-request',
];

/** The clients named by `ids` (the default four when empty) in table order, native fetch always first. */
export function createClients(ids: readonly ClientId[]): Client[] {
  const wanted = new Set<ClientId>(['native', ...(ids.length > 0 ? ids : defaultIds)]);
  return (Object.keys(factories) as ClientId[]).filter((id) => wanted.has(id)).map((id) => factories[id]());
}

/**
 * Throws unless Node's fetch still runs on the undici bundled with Node: the baseline must be the fetch
 * an application gets without this library.
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
