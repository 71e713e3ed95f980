/**
 * The telemetry sink of the benchmark, in a process of its own (forked by bench/run.ts), so that what it
 * costs to receive is not counted in any client's CPU:
 *
 * - an OTLP/HTTP receiver on 127.0.0.1 (port 0): POST /v1/traces, /v1/metrics and /v1/logs in OTLP/JSON
 *   (what `@opentelemetry/exporter-*-otlp-http` send) are read, counted per `service.name`, discarded,
 *   and answered `200 {}`; anything else (protobuf, other paths) gets 415/404 and is counted as refused,
 *   so a mis-wired exporter shows in the report instead of looking cheap;
 * - a Prometheus scraper: told a URL, it GETs it every `everyMs` (what a Prometheus server would do, at
 *   the same 1 s interval as the OTLP metric pushes) and counts the pages that hold the HTTP client
 *   duration histogram.
 *
 * Spans are counted without parsing (`"spanId":` occurrences), so the receiver stays cheap on a 2-core
 * machine shared with the clients and the upstream.
 *
 * IPC: sends `{ type: 'ready', port }`; answers `{ type: 'cpu' }`, `{ type: 'counts' }`; starts scraping
 * on `{ type: 'scrape', service, url, everyMs }` (replacing that service's
 * last scraper); exits on `{ type: 'stop' }` or when the parent leaves.
 */
import { createServer, get, type IncomingMessage, type ServerResponse } from 'node:http';

export interface ServiceCounts {
  /** Spans received. */
  spans: number;
  /** OTLP requests received, by signal. */
  traceExports: number;
  metricExports: number;
  /** Prometheus pages scraped, and how many held `http_client_request_duration`. */
  scrapes: number;
  scrapesWithDuration: number;
  scrapeErrors: number;
}

export type ReceiverMessage =
  | { readonly type: 'ready'; readonly port: number }
  | { readonly type: 'cpu'; readonly usage: NodeJS.CpuUsage }
  | {
      readonly type: 'counts';
      readonly services: Readonly<Record<string, ServiceCounts>>;
      readonly refused: readonly string[];
    };

export type ReceiverOrder =
  | { readonly type: 'cpu' }
  | { readonly type: 'counts' }
  | { readonly type: 'scrape'; readonly service: string; readonly url: string; readonly everyMs: number }
  | { readonly type: 'stop' };

const services = new Map<string, ServiceCounts>();
const refused: string[] = [];

const countsOf = (service: string): ServiceCounts => {
  let counts = services.get(service);
  if (!counts) {
    counts = {
      spans: 0,
      traceExports: 0,
      metricExports: 0,
      scrapes: 0,
      scrapesWithDuration: 0,
      scrapeErrors: 0,
    };
    services.set(service, counts);
  }
  return counts;
};

const serviceName = /"key":"service\.name","value":\{"stringValue":"([^"]*)"/;

function occurrences(text: string, needle: string): number {
  let n = 0;
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + needle.length)) n++;
  return n;
}

function receive(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url ?? '';
  const json = (req.headers['content-type'] ?? '').startsWith('application/json');
  const known = path === '/v1/traces' || path === '/v1/metrics' || path === '/v1/logs';
  if (req.method !== 'POST' || !known || !json || req.headers['content-encoding'] !== undefined) {
    if (refused.length < 20)
      refused.push(`${req.method} ${path} ${req.headers['content-type']} ${req.headers['content-encoding']}`);
    req.resume();
    res.writeHead(known ? 415 : 404, { 'content-length': 0 }).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    const counts = countsOf(serviceName.exec(text)?.[1] ?? 'unknown');
    if (path === '/v1/traces') {
      counts.traceExports++;
      counts.spans += occurrences(text, '"spanId":');
    } else if (path === '/v1/metrics') {
      counts.metricExports++;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 }).end('{}');
  });
}

function scrape(service: string, url: string): void {
  const counts = countsOf(service);
  get(url, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      text += chunk;
    });
    res.on('end', () => {
      counts.scrapes++;
      if (res.statusCode === 200 && text.includes('http_client_request_duration'))
        counts.scrapesWithDuration++;
    });
  }).on('error', () => {
    counts.scrapeErrors++;
  });
}

function send(message: ReceiverMessage): void {
  process.send?.(message);
}

function start(): void {
  const server = createServer({ keepAlive: true }, receive);
  server.keepAliveTimeout = 120_000;
  // One scraper per service: a new process of the same client replaces the last one's.
  const scrapers = new Map<string, NodeJS.Timeout>();
  const stop = () => {
    for (const timer of scrapers.values()) clearInterval(timer);
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('message', (order: ReceiverOrder) => {
    if (order.type === 'cpu') send({ type: 'cpu', usage: process.cpuUsage() });
    else if (order.type === 'counts')
      send({ type: 'counts', services: Object.fromEntries(services), refused });
    else if (order.type === 'scrape') {
      clearInterval(scrapers.get(order.service));
      scrapers.set(
        order.service,
        setInterval(() => scrape(order.service, order.url), order.everyMs),
      );
    } else if (order.type === 'stop') stop();
  });
  process.on('disconnect', stop);
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('receiver has no TCP address');
    send({ type: 'ready', port: address.port });
  });
}

if (import.meta.main && process.send) start();
