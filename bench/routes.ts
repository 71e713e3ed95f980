/**
 * The routes the upstream (bench/server.ts) serves and the benchmark measures: one table, read by the
 * server, the clients and the report, so a route's path, size and check are written once.
 */

export type RouteId = '64' | '4k' | '64k' | '1m' | 'post' | 'sse';

interface GetRoute {
  readonly kind: 'get';
  readonly label: string;
  /** The body's exact length in bytes: the client checks it. */
  readonly size: number;
  /** Sent with `content-length` (false: chunked, as a framework streaming a large body sends it). */
  readonly contentLength: boolean;
}
interface PostRoute {
  readonly kind: 'post';
  readonly label: string;
  /** The JSON request body's length in bytes; the server answers with the length it received. */
  readonly size: number;
}
interface SseRoute {
  readonly kind: 'sse';
  readonly label: string;
  /** Concurrent streams per run: the 16, whatever the cell's concurrency. */
  readonly streams: number;
}
export type Route = GetRoute | PostRoute | SseRoute;

export const routes = {
  '64': { kind: 'get', label: '64 B', size: 64, contentLength: true },
  '4k': { kind: 'get', label: '4 KiB', size: 4_096, contentLength: true },
  '64k': { kind: 'get', label: '64 KiB', size: 65_536, contentLength: true },
  '1m': { kind: 'get', label: '1 MiB', size: 1_048_576, contentLength: false },
  post: { kind: 'post', label: '16 KiB JSON POST', size: 16_384 },
  sse: { kind: 'sse', label: 'SSE stream', streams: 16 },
} as const satisfies Record<RouteId, Route>;

export const routeIds = Object.keys(routes) as RouteId[];

/** Server-sent events: how many per stream and how far apart (the 1,000 events, 1 ms apart). */
export interface SseShape {
  readonly events: number;
  readonly intervalMs: number;
}
export const defaultSse: SseShape = { events: 1_000, intervalMs: 1 };

/** GET bodies are served at `/<size>` (the paths bench:ab uses: `/64`, `/65536`). */
export const getPath = (size: number): string => `/${size}`;
export const postPath = '/json';
export const ssePath = ({ events, intervalMs }: SseShape): string =>
  `/sse?events=${events}&intervalMs=${intervalMs}`;

/** The URL one call of `route` goes to. */
export function urlOf(origin: string, route: Route, sse: SseShape): string {
  if (route.kind === 'get') return origin + getPath(route.size);
  if (route.kind === 'post') return origin + postPath;
  return origin + ssePath(sse);
}

/**
 * The POST body: a JSON document of exactly `size` bytes, shaped like an API payload (an array of
 * records), so that `JSON.parse` on the server does real work.
 */
export function jsonBody(size: number): string {
  const items: string[] = [];
  let length = '{"items":[],"pad":""}'.length;
  for (let i = 0; ; i++) {
    const item = JSON.stringify({ id: i, name: `item-${i}`, tags: ['a', 'b'], price: i * 1.25 });
    const extra = item.length + (items.length > 0 ? 1 : 0);
    if (length + extra > size) break;
    items.push(item);
    length += extra;
  }
  const body = `{"items":[${items.join(',')}],"pad":"${'x'.repeat(size - length)}"}`;
  if (Buffer.byteLength(body) !== size) throw new Error(`jsonBody: built ${body.length} bytes, not ${size}`);
  return body;
}

/** What the server answers to the POST, and what the client checks. */
export interface PostReply {
  readonly id: string;
  readonly received: number;
  readonly items: number;
}

/** Counts the events (`\n\n`-terminated blocks) in a stream read chunk by chunk (a `\n\n` may be split). */
export class EventCounter {
  events = 0;
  /** The last chunk ended with a newline that may open a `\n\n`. */
  #pending = false;
  add(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    let at = chunk.indexOf(10);
    if (this.#pending && at === 0) {
      this.events++;
      at = chunk.indexOf(10, 1);
    }
    this.#pending = false;
    while (at !== -1) {
      if (at + 1 === chunk.length) {
        this.#pending = true;
        return;
      }
      if (chunk[at + 1] === 10) {
        this.events++;
        at = chunk.indexOf(10, at + 2);
      } else {
        at = chunk.indexOf(10, at + 1);
      }
    }
  }
}
