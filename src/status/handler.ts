/**
 * `statusHandler(rfetch, options)`: a `(req, res, next?)` handler for node:http that answers
 * `GET|HEAD <base>/health` and passes every other path to `next` (Express-style middleware), or answers
 * it 404 when there is no `next`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type HealthSource, healthReport, hostReports, isDown } from './health-json.ts';
import {
  checkHealthSource,
  type ResolvedStatusOptions,
  resolveStatusOptions,
  type StatusHandlerOptions,
} from './options.ts';

/** A node:http request listener that is also Express-style middleware. */
export type StatusHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  next?: (error?: unknown) => void,
) => void;

const allowed = 'GET, HEAD';

function sendJson(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': Buffer.byteLength(text),
  });
  res.end(req.method === 'HEAD' ? undefined : text);
}

/** `?host=<key>`: that host alone, 503 when it is FAILED or TIMEOUT, 404 when the instance has no such host. */
function answerOneHost(req: IncomingMessage, res: ServerResponse, source: HealthSource, name: string): void {
  const key = name.toLowerCase();
  const host = hostReports(source).find((h) => h.host === key);
  if (!host) {
    sendJson(req, res, 404, {
      error: `unknown host ${JSON.stringify(name)} (hosts are named hostname:port)`,
      host: name,
    });
    return;
  }
  sendJson(req, res, isDown(host.status) ? 503 : 200, host);
}

function answerHealth(
  req: IncomingMessage,
  res: ServerResponse,
  source: HealthSource,
  query: string,
  options: ResolvedStatusOptions,
): void {
  const host = new URLSearchParams(query).get('host');
  if (host !== null) {
    answerOneHost(req, res, source, host);
    return;
  }
  const report = healthReport(source, options.required);
  sendJson(req, res, report.status === 'down' ? 503 : 200, report);
}

/** The handler of `GET <base>/health`; validates its options at once (TypeError/RangeError naming them). */
export function statusHandler(rfetch: HealthSource, options?: StatusHandlerOptions): StatusHandler {
  checkHealthSource(rfetch);
  const resolved = resolveStatusOptions(options);
  return (req, res, next) => {
    const url = req.url ?? '/';
    const at = url.indexOf('?');
    const path = at === -1 ? url : url.slice(0, at);
    if (path !== resolved.healthPath) {
      if (typeof next === 'function') next();
      else sendJson(req, res, 404, { error: 'not found' });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(req, res, 405, { error: `method ${req.method} not allowed` }, { allow: allowed });
      return;
    }
    try {
      answerHealth(req, res, rfetch, at === -1 ? '' : url.slice(at + 1), resolved);
    } catch (error) {
      if (typeof next === 'function') next(error);
      else sendJson(req, res, 500, { error: 'internal error' });
    }
  };
}
