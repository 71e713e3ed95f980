/**
 * The clients of `npm run bench`, as each route calls them: GET a body and read it whole, POST a JSON
 * body and read the JSON reply, GET an event stream and read it to its end. Every call checks its status
 * and what it read (bytes, the server's count, events), so a client that fails cannot look fast.
 *
 * Each client loads only what it uses (a dynamic import): a native fetch process never loads npm undici
 * or resilient-fetch. Build clients only after Node's fetch made its first call (bench/clients.ts says
 * why), and SDK clients after their SDK started (the API has no proxy meter provider).
 */
import { checkStatus } from './global-fetch-client.ts';
import { entryUrl, type IndexModule, type LibrarySource } from './library.ts';
import { type ClientId, lineup } from './lineup.ts';
import { EventCounter, type PostReply } from './routes.ts';

/** What a stream read to its end gave: the events counted, and when the last one was read. */
export interface StreamRead {
  readonly events: number;
  /** `performance.now()` when the chunk holding the `expected`-th event was read (NaN if never). */
  readonly lastEventAt: number;
}

/** One client of `npm run bench`, one method per kind of route. */
export interface RouteClient {
  readonly id: ClientId;
  /** GET `url` and read the whole body; throws unless 200 and exactly `size` bytes. */
  get(url: string, size: number): Promise<void>;
  /** POST `body` as JSON and read the JSON reply; throws unless 201 and the server got `size` bytes. */
  post(url: string, body: string, size: number): Promise<void>;
  /** GET an event stream and read it to its end, counting events. */
  stream(url: string, expected: number): Promise<StreamRead>;
  close(): Promise<void>;
}

const jsonHeaders = { 'content-type': 'application/json' };
const sseHeaders = { accept: 'text/event-stream' };

function checkCount(read: number, expected: number, name: string, what: string): void {
  if (read !== expected) throw new Error(`${name}: ${what} ${read}, expected ${expected}`);
}

/** Reads chunks until the end, counting events; notes when the `expected`-th event arrived. */
async function countEvents(chunks: AsyncIterable<Uint8Array>, expected: number): Promise<StreamRead> {
  const counter = new EventCounter();
  let lastEventAt = Number.NaN;
  for await (const chunk of chunks) {
    counter.add(chunk);
    if (counter.events === expected && Number.isNaN(lastEventAt)) lastEventAt = performance.now();
  }
  return { events: counter.events, lastEventAt };
}

type FetchLike = (url: string, init?: RequestInit) => Promise<Response>;

/** A client that calls a fetch (the global one, or a resilientFetch) the way application code does. */
function fetchRouteClient(id: ClientId, fetchFn: FetchLike, close: () => Promise<void>): RouteClient {
  const name = lineup[id].label;
  return {
    id,
    async get(url, size) {
      const res = await fetchFn(url);
      checkStatus(res.status, name);
      checkCount((await res.arrayBuffer()).byteLength, size, name, 'body bytes');
    },
    async post(url, body, size) {
      const res = await fetchFn(url, { method: 'POST', headers: jsonHeaders, body });
      checkStatus(res.status, name, 201);
      checkCount(((await res.json()) as PostReply).received, size, name, 'bytes the server received');
    },
    async stream(url, expected) {
      const res = await fetchFn(url, { headers: sseHeaders });
      checkStatus(res.status, name);
      if (!res.body) throw new Error(`${name}: an event stream without a body`);
      return countEvents(res.body, expected);
    },
    close,
  };
}

/** undici 8's `request` on its own Agent: the ceiling for an HTTP/1.1 client in Node (no WHATWG objects). */
async function undiciRequestClient(): Promise<RouteClient> {
  const { Agent, request } = await import('undici');
  const id = 'undici-request';
  const name = lineup[id].label;
  const dispatcher = new Agent();
  return {
    id,
    async get(url, size) {
      const { statusCode, body } = await request(url, { dispatcher });
      checkStatus(statusCode, name);
      checkCount((await body.arrayBuffer()).byteLength, size, name, 'body bytes');
    },
    async post(url, json, size) {
      const { statusCode, body } = await request(url, {
        dispatcher,
        method: 'POST',
        headers: jsonHeaders,
        body: json,
      });
      checkStatus(statusCode, name, 201);
      checkCount(((await body.json()) as PostReply).received, size, name, 'bytes the server received');
    },
    async stream(url, expected) {
      const { statusCode, body } = await request(url, { dispatcher, headers: sseHeaders });
      checkStatus(statusCode, name);
      return countEvents(body, expected);
    },
    close: () => dispatcher.close(),
  };
}

/**
 * The client `id`. `native` and `native-otel` are the same code (the global fetch); what differs is the
 * process: `native-otel`'s has the SDK with instrumentation-undici started (bench/sdk.ts). The three
 * resilientFetch clients are `createResilientFetch()` with its defaults, from `source`; the SDK ones
 * record through the SDK their process registered.
 */
export async function createRouteClient(id: ClientId, source: LibrarySource): Promise<RouteClient> {
  switch (id) {
    case 'native':
    case 'native-otel':
      return fetchRouteClient(
        id,
        (url, init) => fetch(url, init),
        async () => {},
      );
    case 'resilient':
    case 'resilient-sdk':
    case 'resilient-prom': {
      const { createResilientFetch } = (await import(entryUrl(source, 'index'))) as IndexModule;
      const rfetch = createResilientFetch();
      return fetchRouteClient(id, rfetch, () => rfetch.close());
    }
    case 'undici-request':
      return undiciRequestClient();
  }
}

/** Whether building `id` loads npm undici (then bench/clients.ts's baseline check can run). */
export const loadsNpmUndici = (id: ClientId): boolean => id !== 'native' && id !== 'native-otel';
