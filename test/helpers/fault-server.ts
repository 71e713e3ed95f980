/**
 * A fault-injection node:http server on 127.0.0.1:0 for policy tests. Each path is scripted per test: the
 * n-th request to a path gets the n-th behaviour of its script (the last one repeats), or whatever a
 * function of the hit number returns. Every request is recorded after its body has been read in full:
 * arrival time, socket id, method, headers, body length and SHA-256, so tests assert what the server saw.
 */
import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What the server does with one request (always after reading its whole body). */
export type Behaviour =
  /** A complete response. `chunked` sends the body without a content-length. */
  | {
      readonly kind: 'respond';
      readonly status?: number;
      readonly headers?: OutgoingHttpHeaders;
      readonly body?: string | Uint8Array;
      readonly chunked?: boolean;
    }
  /** Resets the socket (TCP RST) before any response byte: the client sees ECONNRESET. */
  | { readonly kind: 'reset' }
  /** Ends the socket (FIN) without a response: the client sees "other side closed". */
  | { readonly kind: 'close' }
  /** Never answers. */
  | { readonly kind: 'hang' }
  /** Waits `delayMs`, then behaves as `next`. */
  | { readonly kind: 'slowHeaders'; readonly delayMs: number; readonly next: Behaviour }
  /**
   * Sends the headers with `content-length: declaredLength` and `sentBytes` bytes, then `ending`: `reset` destroys
   * the socket, `truncate` ends it (FIN: the body is short), `hang` sends nothing more and keeps it open.
   */
  | {
      readonly kind: 'partialBody';
      readonly status?: number;
      readonly declaredLength: number;
      readonly sentBytes: number;
      readonly ending: 'reset' | 'truncate' | 'hang';
    }
  /** Sends `count` chunks of `chunk`, one every `everyMs` (`count` Infinity: never ends). */
  | {
      readonly kind: 'drip';
      readonly status?: number;
      readonly chunk: string;
      readonly everyMs: number;
      readonly count: number;
      /** Sends a content-length for the whole body (ignored when `count` is infinite). */
      readonly declareLength?: boolean;
    };

/** A path's script: one behaviour per hit (the last repeats), or a function of the hit number (1-based). */
export type Script = readonly Behaviour[] | ((hit: number) => Behaviour);

/** One request as the server saw it. */
export interface Hit {
  /** 1-based, per path. */
  readonly n: number;
  readonly method: string;
  /** `performance.now()` when the request's headers arrived. */
  readonly at: number;
  /** Which accepted socket carried it (1-based, in accept order). */
  readonly socketId: number;
  readonly headers: IncomingHttpHeaders;
  readonly bodyLength: number;
  /** SHA-256 of the body, hex. */
  readonly bodySha256: string;
}

export interface FaultServerOptions {
  /**
   * Ends (FIN) a keep-alive socket this long after its last response when no new request came, without
   * announcing it in a `Keep-Alive` header: the keep-alive race of servers that close idle sockets early.
   */
  readonly idleCloseMs?: number;
}

export interface FaultServer {
  readonly url: string;
  readonly port: number;
  /** `hostname:port`, the key of per-host options and stats. */
  readonly host: string;
  /** Scripts `path` (replacing its script and forgetting its hits). */
  route(path: string, script: Script): void;
  /** Requests to `path` so far. */
  hits(path: string): number;
  /** What the server saw of each request to `path`, in order. */
  log(path: string): readonly Hit[];
  /** Milliseconds between the arrivals of consecutive requests to `path`. */
  gaps(path: string): number[];
  /** Resolves once `path` has had `count` requests; rejects after `timeoutMs`. */
  waitForHits(path: string, count: number, timeoutMs?: number): Promise<void>;
  /** Sockets accepted so far. */
  readonly connections: number;
  /** Sockets open now. */
  readonly openSockets: number;
  /** Sockets the server ended because they were idle (`idleCloseMs`). */
  readonly idleClosed: number;
  /** Resolves when no socket is open; rejects after `timeoutMs`. */
  socketsClosed(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  /** close(), for `await using server = await startFaultServer()`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');

/** Shorthands for common behaviours. */
export const respond = (
  status = 200,
  body: string | Uint8Array = status === 200 ? 'ok' : `status ${status}`,
  headers: OutgoingHttpHeaders = {},
): Behaviour => ({ kind: 'respond', status, body, headers });

/** `count` responses with `status`, then `last` for every later hit. */
export const burst = (count: number, status: number, last: Behaviour = respond(200)): Behaviour[] => [
  ...Array.from({ length: count }, () => respond(status)),
  last,
];

/** Alternates `odd` (hits 1, 3, ...) and `even` (hits 2, 4, ...). */
export const flapping =
  (odd: Behaviour, even: Behaviour): Script =>
  (hit) =>
    hit % 2 === 1 ? odd : even;

const describeBody = (status: number) => `status ${status}`;

interface PathState {
  script: Script;
  hits: Hit[];
  waiters: Array<{ count: number; resolve: () => void }>;
}

export async function startFaultServer(options: FaultServerOptions = {}): Promise<FaultServer> {
  const paths = new Map<string, PathState>();
  const socketIds = new WeakMap<Socket, number>();
  const idleTimers = new Map<Socket, NodeJS.Timeout>();
  const open = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let connections = 0;
  let idleClosed = 0;
  let onEmpty: Array<() => void> = [];

  const stateOf = (path: string): PathState => {
    let state = paths.get(path);
    if (!state) {
      state = { script: [respond(404, 'no script for this path')], hits: [], waiters: [] };
      paths.set(path, state);
    }
    return state;
  };

  const later = (ms: number, fn: () => void): NodeJS.Timeout => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
    return timer;
  };

  const behave = (behaviour: Behaviour, res: http.ServerResponse): void => {
    const socket = res.socket;
    switch (behaviour.kind) {
      case 'respond': {
        const status = behaviour.status ?? 200;
        const body = behaviour.body ?? describeBody(status);
        res.writeHead(status, behaviour.headers ?? {});
        if (behaviour.chunked) {
          res.write(body);
          res.end();
        } else {
          res.end(body);
        }
        return;
      }
      case 'reset':
        socket?.resetAndDestroy();
        return;
      case 'close':
        socket?.end();
        return;
      case 'hang':
        return;
      case 'slowHeaders':
        later(behaviour.delayMs, () => {
          if (!res.destroyed) behave(behaviour.next, res);
        });
        return;
      case 'partialBody': {
        res.writeHead(behaviour.status ?? 200, { 'content-length': behaviour.declaredLength });
        res.write('x'.repeat(behaviour.sentBytes));
        // Let the bytes leave before the socket goes.
        if (behaviour.ending === 'reset') later(20, () => socket?.resetAndDestroy());
        if (behaviour.ending === 'truncate') later(20, () => socket?.end());
        return;
      }
      case 'drip': {
        const finite = Number.isFinite(behaviour.count);
        const headers: OutgoingHttpHeaders = {};
        if (finite && behaviour.declareLength) {
          headers['content-length'] = Buffer.byteLength(behaviour.chunk) * behaviour.count;
        }
        res.writeHead(behaviour.status ?? 200, headers);
        let sent = 0;
        const interval = setInterval(() => {
          res.write(behaviour.chunk);
          if (++sent >= behaviour.count) {
            clearInterval(interval);
            res.end();
          }
        }, behaviour.everyMs);
        res.on('close', () => clearInterval(interval));
        return;
      }
    }
  };

  const server = http.createServer((req, res) => {
    const at = performance.now();
    const socket = req.socket;
    const idle = idleTimers.get(socket);
    if (idle) {
      clearTimeout(idle);
      idleTimers.delete(socket);
    }
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => {});
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const state = stateOf(path);
      const n = state.hits.length + 1;
      state.hits.push({
        n,
        method: req.method ?? 'GET',
        at,
        socketId: socketIds.get(socket) ?? 0,
        headers: req.headers,
        bodyLength: body.byteLength,
        bodySha256: sha256(body),
      });
      state.waiters = state.waiters.filter((w) => {
        if (n < w.count) return true;
        w.resolve();
        return false;
      });
      const { script } = state;
      const behaviour =
        typeof script === 'function' ? script(n) : (script[Math.min(n, script.length) - 1] ?? respond(500));
      if (options.idleCloseMs !== undefined) {
        res.on('finish', () => {
          const timer = setTimeout(() => {
            idleTimers.delete(socket);
            idleClosed++;
            socket.end();
          }, options.idleCloseMs);
          idleTimers.set(socket, timer);
        });
      }
      behave(behaviour, res);
    });
  });
  // No Keep-Alive hint: the client keeps sockets for its own keep-alive time, as with many real servers.
  if (options.idleCloseMs !== undefined) server.keepAliveTimeout = 0;
  server.on('connection', (socket) => {
    socketIds.set(socket, ++connections);
    open.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => {
      open.delete(socket);
      const idle = idleTimers.get(socket);
      if (idle) clearTimeout(idle);
      idleTimers.delete(socket);
      if (open.size === 0) {
        const ready = onEmpty;
        onEmpty = [];
        for (const resolve of ready) resolve();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const close = (): Promise<void> => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const timer of idleTimers.values()) clearTimeout(timer);
    idleTimers.clear();
    for (const socket of open) socket.destroy();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    host: `127.0.0.1:${port}`,
    route(path, script) {
      const state = stateOf(path);
      state.script = script;
      state.hits = [];
    },
    hits: (path) => stateOf(path).hits.length,
    log: (path) => stateOf(path).hits,
    gaps(path) {
      const hits = stateOf(path).hits;
      return hits.slice(1).map((hit, i) => hit.at - (hits[i]?.at ?? hit.at));
    },
    waitForHits(path, count, timeoutMs = 5_000) {
      const state = stateOf(path);
      if (state.hits.length >= count) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = later(timeoutMs, () =>
          reject(new Error(`${path}: ${state.hits.length} of ${count} hits after ${timeoutMs} ms`)),
        );
        state.waiters.push({
          count,
          resolve: () => {
            clearTimeout(timer);
            timers.delete(timer);
            resolve();
          },
        });
      });
    },
    get connections() {
      return connections;
    },
    get openSockets() {
      return open.size;
    },
    get idleClosed() {
      return idleClosed;
    },
    socketsClosed(timeoutMs = 5_000) {
      if (open.size === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = later(timeoutMs, () => reject(new Error(`${open.size} sockets still open`)));
        onEmpty.push(() => {
          clearTimeout(timer);
          timers.delete(timer);
          resolve();
        });
      });
    },
    close,
    // An arrow, not close.bind(): Node 24's `await using` refuses a bound function as the disposer.
    [Symbol.asyncDispose]: () => close(),
  };
}
