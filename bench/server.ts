/**
 * The benchmark's upstream: a keep-alive HTTP/1.1 server on 127.0.0.1 shaped like a real JSON API, run
 * in its own process (`child_process.fork`, by bench/upstream.ts), so a client process's CPU time is the
 * client's alone.
 *
 *   GET  /64, /4096, /65536   JSON bodies of exactly that many bytes, with content-length
 *   GET  /1048576             a 1 MiB JSON body sent chunked, in 64 KiB writes (no content-length)
 *   POST /json                reads and parses the JSON body, answers 201 `{ id, received, items }`
 *   GET  /sse?events=N&intervalMs=M   text/event-stream: N events of ~110 bytes, one flushed write each,
 *                             due M ms apart (the first at once), then the end of the response
 *
 * Every response carries the headers an API behind a typical framework sends: date, content-type,
 * content-length or transfer-encoding, server, x-request-id (a fresh UUID each), cache-control, etag,
 * vary, x-content-type-options, x-ratelimit-limit, x-ratelimit-remaining, plus connection and keep-alive.
 *
 * IPC protocol with the parent: it sends `{ type: 'ready', port }` once listening; it answers
 * `{ type: 'cpu' }` with `{ type: 'cpu', usage }` (its own process.cpuUsage()), so the parent can tell
 * whether the server was the bottleneck; it exits when the parent disconnects or asks it to stop.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import { getPath, type PostReply, postPath, routes } from './routes.ts';

export type ServerMessage =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'cpu'; readonly usage: NodeJS.CpuUsage };

export type ParentMessage = { readonly type: 'cpu' } | { readonly type: 'stop' };

const chunkSize = 65_536;

/** A JSON document of exactly `size` bytes: `{"data":"xxxx..."}`. */
function jsonOfSize(size: number): Buffer {
  const frame = '{"data":""}'.length;
  return Buffer.from(`{"data":"${'x'.repeat(Math.max(0, size - frame))}"}`.slice(0, size));
}

interface Body {
  readonly bytes: Buffer;
  readonly etag: string;
  readonly contentLength: boolean;
}

const bodies = new Map<string, Body>(
  Object.values(routes).flatMap((route) => {
    if (route.kind !== 'get') return [];
    const bytes = jsonOfSize(route.size);
    const etag = `W/"${createHash('sha1').update(bytes).digest('hex').slice(0, 27)}"`;
    return [[getPath(route.size), { bytes, etag, contentLength: route.contentLength }]];
  }),
);

let remaining = 5_000;

/** The headers every API response carries (Node adds date, connection and keep-alive). */
function apiHeaders(contentType: string): OutgoingHttpHeaders {
  remaining = remaining > 0 ? remaining - 1 : 5_000;
  return {
    'content-type': contentType,
    server: 'bench-upstream/1.0',
    'x-request-id': randomUUID(),
    'cache-control': 'private, no-cache, max-age=0',
    vary: 'Accept-Encoding, Origin',
    'x-content-type-options': 'nosniff',
    'x-ratelimit-limit': '5000',
    'x-ratelimit-remaining': String(remaining),
  };
}

function serveBody(res: ServerResponse, body: Body): void {
  const headers = apiHeaders('application/json; charset=utf-8');
  headers.etag = body.etag;
  if (body.contentLength) {
    headers['content-length'] = body.bytes.length;
    res.writeHead(200, headers).end(body.bytes);
    return;
  }
  res.writeHead(200, headers);
  for (let at = 0; at < body.bytes.length; at += chunkSize)
    res.write(body.bytes.subarray(at, at + chunkSize));
  res.end();
}

function servePost(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    let items = -1;
    try {
      items = (JSON.parse(text) as { items?: unknown[] }).items?.length ?? -1;
    } catch {}
    const reply: PostReply = { id: randomUUID(), received: Buffer.byteLength(text), items };
    const bytes = Buffer.from(JSON.stringify(reply));
    const headers = apiHeaders('application/json; charset=utf-8');
    headers['content-length'] = bytes.length;
    headers.location = `/json/${reply.id}`;
    res.writeHead(items >= 0 ? 201 : 400, headers).end(bytes);
  });
}

const payload = 'x'.repeat(40);

/** One event of about 100 bytes. */
const eventOf = (seq: number): string =>
  `id: ${seq}\nevent: tick\ndata: {"seq":${seq},"ts":${Date.now()},"payload":"${payload}"}\n\n`;

/**
 * Event `seq` is due `seq * intervalMs` after the first: the pace is held against the clock, not re-armed
 * from each write (Node's 1 ms timers fire late, and a stream paced write-to-write would run at whatever
 * rate the machine's load allows). A late event is written as soon as the loop is free, still one write
 * per event.
 */
function serveSse(url: URL, req: IncomingMessage, res: ServerResponse): void {
  const events = Number(url.searchParams.get('events') ?? 1_000);
  const intervalMs = Number(url.searchParams.get('intervalMs') ?? 1);
  const headers = apiHeaders('text/event-stream; charset=utf-8');
  headers['cache-control'] = 'no-cache';
  headers['x-accel-buffering'] = 'no';
  res.writeHead(200, headers);
  const t0 = performance.now();
  let seq = 0;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const next = () => {
    if (closed) return;
    res.write(eventOf(++seq));
    if (seq >= events) {
      res.end();
      return;
    }
    const wait = t0 + seq * intervalMs - performance.now();
    if (wait > 0) timer = setTimeout(next, wait);
    else setImmediate(next);
  };
  req.on('close', () => {
    closed = true;
    clearTimeout(timer);
  });
  next();
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '/';
  const body = req.method === 'GET' ? bodies.get(path) : undefined;
  if (body) serveBody(res, body);
  else if (req.method === 'POST' && path === postPath) servePost(req, res);
  else if (req.method === 'GET' && path.startsWith('/sse')) serveSse(new URL(path, 'http://x'), req, res);
  else res.writeHead(404, { 'content-length': 0 }).end();
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
