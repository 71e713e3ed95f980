/**
 * A small real OTLP/HTTP receiver on 127.0.0.1:0: accepts POST /v1/traces and /v1/metrics in OTLP/JSON
 * (what `@opentelemetry/exporter-*-otlp-http` send; gzip accepted), keeps the decoded spans and the names
 * of the metrics received. Protobuf bodies are refused with 415, so a test with the wrong exporter fails
 * loudly instead of passing on an empty list.
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** An OTLP/JSON AnyValue (the subset the SDK emits). */
interface AnyValue {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number;
  arrayValue?: { values?: AnyValue[] };
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}

export interface ReceivedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  /** OTLP span kind: 3 is CLIENT. */
  kind: number;
  attributes: Record<string, unknown>;
  /** OTLP status code: 2 is ERROR. */
  statusCode: number;
  resource: Record<string, unknown>;
  scope: string;
}

export interface OtlpReceiver {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (the OTLP_ENDPOINT form; paths are appended by exporters). */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  /** Names of every metric received (one entry per metric per request). */
  readonly metricNames: string[];
  /** Requests refused (wrong path, method or content type), as `METHOD path content-type`. */
  readonly refused: string[];
  /** Resolves once `predicate` holds over the spans received, rejects after `timeoutMs`. */
  waitFor(predicate: (receiver: OtlpReceiver) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const decodeValue = (value: AnyValue | undefined): unknown => {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(decodeValue);
  return undefined;
};

const attributesOf = (list: KeyValue[] | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, decodeValue(value)]));

interface TracesRequest {
  resourceSpans?: Array<{
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: Array<{
      scope?: { name?: string };
      spans?: Array<{
        name: string;
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        kind?: number;
        attributes?: KeyValue[];
        status?: { code?: number };
      }>;
    }>;
  }>;
}

interface MetricsRequest {
  resourceMetrics?: Array<{ scopeMetrics?: Array<{ metrics?: Array<{ name: string }> }> }>;
}

function decodeSpans(body: TracesRequest): ReceivedSpan[] {
  return (body.resourceSpans ?? []).flatMap((rs) => {
    const resource = attributesOf(rs.resource?.attributes);
    return (rs.scopeSpans ?? []).flatMap((ss) =>
      (ss.spans ?? []).map((span) => ({
        name: span.name,
        traceId: span.traceId,
        spanId: span.spanId,
        parentSpanId: span.parentSpanId || undefined,
        kind: span.kind ?? 0,
        attributes: attributesOf(span.attributes),
        statusCode: span.status?.code ?? 0,
        resource,
        scope: ss.scope?.name ?? '',
      })),
    );
  });
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  return req.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metricNames: string[] = [];
  const refused: string[] = [];
  const server = createServer(async (req, res) => {
    const type = req.headers['content-type'] ?? '';
    const path = req.url ?? '';
    if (
      req.method !== 'POST' ||
      !type.startsWith('application/json') ||
      !/^\/v1\/(traces|metrics)$/.test(path)
    ) {
      refused.push(`${req.method} ${path} ${type}`);
      req.resume();
      res.writeHead(req.method !== 'POST' ? 405 : path.startsWith('/v1/') ? 415 : 404).end();
      return;
    }
    try {
      const body = JSON.parse((await readBody(req)).toString('utf8')) as TracesRequest & MetricsRequest;
      if (path === '/v1/traces') spans.push(...decodeSpans(body));
      else {
        for (const rm of body.resourceMetrics ?? [])
          for (const sm of rm.scopeMetrics ?? []) for (const m of sm.metrics ?? []) metricNames.push(m.name);
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    } catch (error) {
      refused.push(`${req.method} ${path} ${type}: ${String(error)}`);
      res.writeHead(400).end();
    }
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const receiver: OtlpReceiver = {
    url: `http://127.0.0.1:${port}`,
    spans,
    metricNames,
    refused,
    async waitFor(predicate, timeoutMs = 5_000) {
      const deadline = performance.now() + timeoutMs;
      while (!predicate(receiver)) {
        if (performance.now() > deadline) {
          throw new Error(
            `OTLP receiver: condition not met in ${timeoutMs} ms (spans: ${spans.map((s) => s.name).join(', ') || 'none'}; ` +
              `metrics: ${[...new Set(metricNames)].join(', ') || 'none'}; refused: ${refused.join('; ') || 'none'})`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return receiver;
}
