/** A real node:http server on 127.0.0.1:0 for tests, with socket bookkeeping. */
import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

export interface TestServer {
  readonly url: string;
  readonly port: number;
  readonly server: http.Server;
  /** Sockets accepted so far. */
  readonly connections: number;
  /** Sockets currently open. */
  readonly openSockets: number;
  /** Highest number of sockets open at once. */
  readonly maxOpenSockets: number;
  /** Resolves when every open socket has closed (or after `timeoutMs`, rejecting). */
  socketsClosed(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
  /** close(), for `await using server = await startServer(...)`. */
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startServer(
  handler: http.RequestListener,
  options: http.ServerOptions & { keepAliveTimeout?: number } = {},
): Promise<TestServer> {
  const server = http.createServer(options, handler);
  if (options.keepAliveTimeout !== undefined) server.keepAliveTimeout = options.keepAliveTimeout;
  const open = new Set<Socket>();
  let connections = 0;
  let maxOpen = 0;
  let onEmpty: Array<() => void> = [];
  server.on('connection', (socket) => {
    connections++;
    open.add(socket);
    maxOpen = Math.max(maxOpen, open.size);
    socket.on('close', () => {
      open.delete(socket);
      if (open.size === 0) {
        for (const resolve of onEmpty) resolve();
        onEmpty = [];
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const close = (): Promise<void> => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    get connections() {
      return connections;
    },
    get openSockets() {
      return open.size;
    },
    get maxOpenSockets() {
      return maxOpen;
    },
    socketsClosed(timeoutMs = 5_000) {
      if (open.size === 0) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${open.size} sockets still open`)), timeoutMs);
        onEmpty.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    },
    close,
    // An arrow, not close.bind(): Node 24's `await using` refuses a bound function as the disposer.
    [Symbol.asyncDispose]: () => close(),
  };
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A loopback port free right now (bound on port 0, then closed), for configs that need a number. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Answers a CONNECT on a proxy: tunnels the client's socket to the `host:port` it asked for. */
export function tunnel(req: http.IncomingMessage, socket: Duplex): void {
  const [host, port] = String(req.url).split(':');
  const upstream = net.connect(Number(port), host, () => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    upstream.pipe(socket).pipe(upstream);
  });
  upstream.on('error', () => socket.destroy());
  socket.on('error', () => upstream.destroy());
}
