/**
 * The benchmark's upstream: a keep-alive HTTP/1.1 server on 127.0.0.1, run in its own process by
 * bench/run.ts (`child_process.fork`), so the bench process's CPU time is the clients' alone.
 *
 *   GET /64     -> 64-byte body
 *   GET /65536  -> 64 KiB body
 *
 * IPC protocol with the parent: it sends `{ type: 'ready', port }` once listening; it answers
 * `{ type: 'cpu' }` with `{ type: 'cpu', usage }` (its own process.cpuUsage()), so the parent can tell
 * whether the server was the bottleneck; it exits when the parent disconnects or asks it to stop.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

export type ServerMessage =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'cpu'; readonly usage: NodeJS.CpuUsage };

export type ParentMessage = { readonly type: 'cpu' } | { readonly type: 'stop' };

export const bodySizes = [64, 65_536] as const;

const bodies = new Map<string, Buffer>(bodySizes.map((size) => [`/${size}`, Buffer.alloc(size, 'x')]));

function handle(req: IncomingMessage, res: ServerResponse): void {
  const body = req.method === 'GET' ? bodies.get(req.url ?? '') : undefined;
  if (!body) {
    res.writeHead(404, { 'content-length': 0 }).end();
    return;
  }
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  res.end(body);
}

function send(message: ServerMessage): void {
  process.send?.(message);
}

function start(): void {
  const server = createServer({ keepAlive: true, noDelay: true, requestTimeout: 0 }, handle);
  // Sockets stay open for the whole run: a long idle timeout and no per-socket request cap.
  server.keepAliveTimeout = 120_000;
  server.maxRequestsPerSocket = 0;

  const stop = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('message', (message: ParentMessage) => {
    if (message.type === 'cpu') send({ type: 'cpu', usage: process.cpuUsage() });
    else if (message.type === 'stop') stop();
  });
  process.on('disconnect', stop);

  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('server has no TCP address');
    send({ type: 'ready', port: address.port });
  });
}

// Run only as a forked child; importing this module (for its types and sizes) starts nothing.
if (import.meta.main && process.send) start();
