/**
 * A real HTTP/1.1 server on 127.0.0.1:0 for the fetch contract tests. Every request path starts with a
 * run prefix (`/r/<n>`): one prefix per run of a case, so a run reads exactly the requests it made.
 * The server records what it received (method, url, raw headers, raw body bytes) and answers by route:
 *
 *   /echo                 200, `echo:<METHOD> <url>`
 *   /status?code=&text=   that status and reason phrase (no body for 204/304)
 *   /etag                 200 with an ETag, 304 when `if-none-match` matches
 *   /head                 200 `hello world` with content-length (HEAD: headers only)
 *   /redirect?status=&to= a redirect to `to` (`@abs:<path>` makes it absolute on this server)
 *   /loop                 302 to itself, forever
 *   /encoded?enc=         the text `encodedText` compressed with gzip, br or deflate
 *   /cookies              three Set-Cookie headers
 *   /big                  `bigSize` bytes, written in 16 KiB chunks
 *   /slow                 `first-chunk;` then waits for `release()` (or 2 s), then `second-chunk`
 *   /hang                 never answers
 *   /headers-then-hang    headers and `partial;`, then nothing more
 *   /destroy-before-headers  destroys the socket once the request is read
 *   /destroy-mid-body     content-length 20, 10 bytes sent, then the socket is destroyed
 *   /odd-headers          repeated, empty, raw-cased and non-ASCII (latin1) response header values
 *   /early-hints          a 103 Early Hints, then 200
 *   /raw?kind=            the bytes of `rawResponses[kind]` written on the socket, which is then ended
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';

export interface SeenRequest {
  readonly method: string;
  /** The path and query after the run prefix. */
  readonly url: string;
  /** Header names and values exactly as they arrived, in order: `[name, value, name, value, ...]`. */
  readonly rawHeaders: readonly string[];
  /** The body bytes received so far. */
  body: Buffer;
  /** True once the request body ended. */
  complete: boolean;
  /** True once the server finished its response. */
  responded: boolean;
}

export interface ContractServer {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  readonly port: number;
  /** A fresh base URL (`<origin>/r/<n>`) whose requests are recorded apart from all others. */
  newBase(): string;
  /** The requests received under `base`, in arrival order. */
  seen(base: string): readonly SeenRequest[];
  /** Resolves true once `count` requests arrived under `base`, false after `timeoutMs`. */
  waitForRequests(base: string, count: number, timeoutMs?: number): Promise<boolean>;
  /** Resolves true once the first request under `base` carried `bytes` body bytes, false after `timeoutMs`. */
  waitForBody(base: string, bytes: number, timeoutMs?: number): Promise<boolean>;
  /** Lets a `/slow` response under `base` send its second chunk. */
  release(base: string): void;
  close(): Promise<void>;
}

/** Hand-written responses, some malformed, written straight on the socket by `/raw`. */
export const rawResponses = {
  'until-close': 'HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: text/plain\r\n\r\nbody until close',
  'http-1.0': 'HTTP/1.0 200 Fine\r\n\r\nold protocol',
  'bad-status': 'HTTP/1.1 abc OK\r\n\r\n',
  'bad-header-name': 'HTTP/1.1 200 OK\r\nbad header: x\r\ncontent-length: 2\r\n\r\nok',
  'nul-in-header-value': 'HTTP/1.1 200 OK\r\nx-a: a\x00b\r\ncontent-length: 2\r\n\r\nok',
  'not-http': 'not http at all\r\n\r\n',
  'two-content-lengths': 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nok',
  'bad-chunk': 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n',
  'bad-gzip': 'HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: 4\r\n\r\nnope',
} as const;

export type RawResponseKind = keyof typeof rawResponses;

export const encodedText = 'compressed body: '.repeat(20);
export const bigSize = 256 * 1024;

/** The byte at index `i` of the `/big` body. */
export const bigByte = (i: number): number => (i * 31 + 7) % 251;

const prefixPattern = /^\/r\/(\d+)(\/.*)?$/;

export async function startContractServer(): Promise<ContractServer> {
  const runs = new Map<string, SeenRequest[]>();
  const releases = new Map<string, () => void>();
  const released = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let listeners: Array<() => void> = [];
  let runCounter = 0;

  const notify = () => {
    const current = listeners;
    listeners = [];
    for (const listener of current) listener();
  };

  const later = (ms: number, fn: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  const waitUntil = (predicate: () => boolean, timeoutMs: number): Promise<boolean> =>
    new Promise((resolve) => {
      if (predicate()) return resolve(true);
      const timer = setTimeout(() => {
        timers.delete(timer);
        listeners = listeners.filter((l) => l !== check);
        resolve(false);
      }, timeoutMs);
      timers.add(timer);
      const check = () => {
        if (predicate()) {
          clearTimeout(timer);
          timers.delete(timer);
          resolve(true);
        } else listeners.push(check);
      };
      listeners.push(check);
    });

  const runOf = (base: string): string => {
    const match = prefixPattern.exec(new URL(base).pathname);
    if (!match?.[1]) throw new Error(`not a contract base URL: ${base}`);
    return match[1];
  };

  const server: Server = createServer((req, res) => {
    const match = prefixPattern.exec(req.url?.split('?')[0] ?? '');
    const run = match?.[1] ?? 'none';
    const url = (req.url ?? '').slice(run === 'none' ? 0 : `/r/${run}`.length) || '/';
    const record: SeenRequest = {
      method: req.method ?? '',
      url,
      rawHeaders: [...req.rawHeaders],
      body: Buffer.alloc(0),
      complete: false,
      responded: false,
    };
    const list = runs.get(run) ?? [];
    list.push(record);
    runs.set(run, list);
    res.on('finish', () => {
      record.responded = true;
      notify();
    });
    req.on('data', (chunk: Buffer) => {
      record.body = Buffer.concat([record.body, chunk]);
      notify();
    });
    req.on('error', () => {});
    res.on('error', () => {});
    notify();
    const done = new Promise<void>((resolve) => {
      req.on('end', () => {
        record.complete = true;
        notify();
        resolve();
      });
      req.on('close', resolve);
    });
    route(req, res, run, url, done);
  });

  function route(req: IncomingMessage, res: ServerResponse, run: string, url: string, done: Promise<void>) {
    const parsed = new URL(url, 'http://x');
    const q = parsed.searchParams;
    const host = req.headers.host ?? '';
    switch (parsed.pathname) {
      case '/echo':
        void done.then(() => {
          res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'x-server': 'contract' });
          res.end(`echo:${req.method} ${url}`);
        });
        return;
      case '/status': {
        const code = Number(q.get('code') ?? '200');
        void done.then(() => {
          res.writeHead(code, q.get('text') ?? undefined, { 'x-status': String(code) });
          res.end(code === 204 || code === 304 ? undefined : `status ${code}`);
        });
        return;
      }
      case '/etag':
        void done.then(() => {
          if (req.headers['if-none-match'] === '"v1"') {
            res.writeHead(304, { etag: '"v1"' });
            res.end();
          } else {
            res.writeHead(200, { etag: '"v1"', 'content-type': 'text/plain' });
            res.end('fresh');
          }
        });
        return;
      case '/head':
        void done.then(() => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '11' });
          res.end(req.method === 'HEAD' ? undefined : 'hello world');
        });
        return;
      case '/redirect': {
        const to = q.get('to') ?? '/echo';
        const location = to.startsWith('@abs:') ? `http://${host}/r/${run}${to.slice(5)}` : to;
        void done.then(() => {
          res.writeHead(Number(q.get('status') ?? '302'), { location, 'content-type': 'text/plain' });
          res.end('redirecting');
        });
        return;
      }
      case '/loop':
        void done.then(() => {
          res.writeHead(302, { location: `/r/${run}/loop?n=${(runs.get(run) ?? []).length}` });
          res.end();
        });
        return;
      case '/encoded': {
        const enc = q.get('enc') ?? 'gzip';
        const input = Buffer.from(encodedText);
        const body =
          enc === 'br' ? brotliCompressSync(input) : enc === 'deflate' ? deflateSync(input) : gzipSync(input);
        void done.then(() => {
          res.writeHead(200, {
            'content-type': 'text/plain',
            'content-encoding': enc,
            'content-length': String(body.length),
          });
          res.end(body);
        });
        return;
      }
      case '/cookies':
        void done.then(() => {
          res.setHeader('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly', 'c=3; Max-Age=60']);
          res.setHeader('content-type', 'text/plain');
          res.end('cookies');
        });
        return;
      case '/big':
        void done.then(() => {
          const body = Buffer.alloc(bigSize);
          for (let i = 0; i < bigSize; i++) body[i] = bigByte(i);
          res.writeHead(200, {
            'content-type': 'application/octet-stream',
            'content-length': String(bigSize),
          });
          for (let offset = 0; offset < bigSize; offset += 16 * 1024) {
            res.write(body.subarray(offset, offset + 16 * 1024));
          }
          res.end();
        });
        return;
      case '/slow':
        void done.then(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('first-chunk;');
          const finish = () => {
            releases.delete(run);
            if (!res.destroyed) res.end('second-chunk');
          };
          if (released.has(run)) finish();
          else {
            releases.set(run, finish);
            later(2000, finish);
          }
        });
        return;
      case '/hang':
        return;
      case '/headers-then-hang':
        void done.then(() => {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.write('partial;');
        });
        return;
      case '/destroy-before-headers':
        void done.then(() => req.socket.destroy());
        return;
      case '/destroy-mid-body':
        void done.then(() => {
          res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '20' });
          res.write('0123456789');
          later(20, () => req.socket.destroy());
        });
        return;
      case '/odd-headers':
        void done.then(() => {
          res.writeHead(200, [
            'x-multi',
            'a',
            'X-Multi',
            'b',
            'x-empty',
            '',
            'X-Raw-Case',
            'v',
            'x-latin1',
            Buffer.from('café').toString('latin1'),
            'content-type',
            'text/plain',
          ]);
          res.end('odd');
        });
        return;
      case '/early-hints':
        void done.then(() => {
          res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('after hints');
        });
        return;
      case '/raw': {
        const raw = rawResponses[(q.get('kind') ?? '') as RawResponseKind];
        void done.then(() => req.socket.end(raw ?? 'HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n'));
        return;
      }
      default:
        res.writeHead(404);
        res.end('not found');
    }
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;

  return {
    origin,
    port,
    newBase: () => `${origin}/r/${++runCounter}`,
    seen: (base) => runs.get(runOf(base)) ?? [],
    waitForRequests: (base, count, timeoutMs = 2000) =>
      waitUntil(() => (runs.get(runOf(base)) ?? []).length >= count, timeoutMs),
    waitForBody: (base, bytes, timeoutMs = 2000) =>
      waitUntil(() => (runs.get(runOf(base))?.[0]?.body.length ?? 0) >= bytes, timeoutMs),
    release(base) {
      const run = runOf(base);
      released.add(run);
      releases.get(run)?.();
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      notify();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

/**
 * A self-signed certificate for 127.0.0.1 (EC P-256, valid until 2126), made for these tests only:
 * `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 36500
 *  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1`
 */
const selfSigned = {
  key: `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgCJoztZYkfODDJuxV
m6vdaKnkjECm9E3ns2+Zbgl5tEKhRANCAAQGd1IaRlM+EQ4A2oUOlFZcJaLUWuLN
2oUzaCWocjurkEUAgdCifV57xPXwbyNw4TaIEp1RGVWaLzfKHgRQlHEZ
-----END PRIVATE KEY-----
`,
  cert: `-----BEGIN CERTIFICATE-----
MIIBkTCCATagAwIBAgIUHJeHiEIqIPvMN8mpe/MAnpc3MzMwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJMTI3LjAuMC4xMCAXDTI2MTEyNzE2NDk1MFoYDzIxMjYxMTAz
MTY0OTUwWjAUMRIwEAYDVQQDDAkxMjcuMC4wLjEwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAAQGd1IaRlM+EQ4A2oUOlFZcJaLUWuLN2oUzaCWocjurkEUAgdCifV57
xPXwbyNw4TaIEp1RGVWaLzfKHgRQlHEZo2QwYjAdBgNVHQ4EFgQU4mlSpuWZGyJT
+3Yb6Ai1u+78+6kwHwYDVR0jBBgwFoAU4mlSpuWZGyJT+3Yb6Ai1u+78+6kwDwYD
VR0TAQH/BAUwAwEB/zAPBgNVHREECDAGhwR/AAABMAoGCCqGSM49BAMCA0kAMEYC
IQDdnDfExWUXbUYzu63JJFcA8Zd8VCVI0td3FPzY6I3SJQIhAOM4JHJMp5+ie10E
+Jz7Zsarn8c+N1EzGN0udsGnx8VT
-----END CERTIFICATE-----
`,
};

export interface TlsServer {
  /** `https://127.0.0.1:<port>` */
  readonly origin: string;
  /** Requests that got past the TLS handshake. */
  readonly requests: () => number;
  close(): Promise<void>;
}

/** An HTTPS server on 127.0.0.1:0 with a self-signed certificate, answering `secure`. */
export async function startTlsServer(): Promise<TlsServer> {
  let requests = 0;
  const server = createHttpsServer(selfSigned, (_req, res) => {
    requests++;
    res.end('secure');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://127.0.0.1:${port}`,
    requests: () => requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
