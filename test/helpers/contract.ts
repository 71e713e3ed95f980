/**
 * The contract suite's machinery (test/transport/contract.test.ts runs it, test/transport/contract/ holds
 * the cases): the servers every case talks to, the case shape, and the observation helpers that turn what
 * a fetch did into plain data, with the values that legitimately differ between two runs normalised.
 */
import assert from 'node:assert/strict';
import type { ContractServer, TlsServer } from './contract-server.ts';
import { settle } from './settle.ts';

/** The servers every case talks to. The suite sets them (useServers) before the first case runs. */
export let server: ContractServer;
/** A second origin (another port), for cross-origin redirects. */
export let other: ContractServer;
/** An HTTPS server whose certificate is self-signed. */
export let tls: TlsServer;
/** A port nothing listens on (bound once, then closed). */
export let closedPort: number;

/** Sets what the cases read as `server`, `other`, `tls` and `closedPort` (live bindings of this module). */
export function useServers(servers: {
  server: ContractServer;
  other: ContractServer;
  tls: TlsServer;
  closedPort: number;
}): void {
  ({ server, other, tls, closedPort } = servers);
}

// ---------------------------------------------------------------------------------------------------
// Observation helpers: everything a case returns is plain data.

export type Run<T> = (f: typeof fetch, base: string) => Promise<T>;

export interface Case {
  readonly name: string;
  readonly run: Run<unknown>;
  readonly check: (native: never) => void;
  readonly todo?: string;
}

/** One row of the table. `check` receives the (normalised) native observation. */
export function defineCase<T>(name: string, run: Run<T>, check: (native: T) => void, todo?: string): Case {
  return todo === undefined ? { name, run, check } : { name, run, check, todo };
}

export const encoder = new TextEncoder();
export const decoder = new TextDecoder();
export const bytes = (text: string): Uint8Array => encoder.encode(text);

export interface ErrorObservation {
  readonly kind: string;
  readonly value?: string;
  readonly className?: string;
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly errno?: unknown;
  readonly syscall?: unknown;
  readonly address?: unknown;
  readonly port?: unknown;
  readonly ownKeys?: string[];
  readonly isError?: boolean;
  readonly isTypeError?: boolean;
  readonly isDOMException?: boolean;
  readonly cause?: ErrorObservation | null;
}

/** What code written for fetch can see of a rejection: class, name, message, code and cause chain. */
export function describeError(error: unknown, depth = 0): ErrorObservation {
  if (typeof error !== 'object' || error === null) return { kind: typeof error, value: String(error) };
  const e = error as Record<string, unknown>;
  const pick = (key: string) => (key in e ? { [key]: e[key] } : {});
  return {
    kind: 'object',
    className: (error as { constructor?: { name?: string } }).constructor?.name ?? '(none)',
    name: e.name,
    message: e.message,
    ...pick('code'),
    ...pick('errno'),
    ...pick('syscall'),
    ...pick('address'),
    ...pick('port'),
    ownKeys: Object.keys(e).sort(),
    isError: error instanceof Error,
    isTypeError: error instanceof TypeError,
    isDOMException: error instanceof DOMException,
    cause: 'cause' in e && depth < 3 ? describeError(e.cause, depth + 1) : null,
  };
}

/** How a call that must fail failed (or, if it did not, the status it resolved with). */
export async function rejection(
  promise: Promise<Response>,
): Promise<{ rejected: boolean; error: ErrorObservation }> {
  const out = await settle(promise);
  if (out.status === 'fulfilled') {
    await out.value.body?.cancel();
    return { rejected: false, error: { kind: 'resolved', value: String(out.value.status) } };
  }
  return { rejected: true, error: describeError(out.reason) };
}

/** A synchronous throw would break `.then()` chains written for fetch, so it is recorded apart. */
export function callShape(call: () => Promise<Response>): Promise<Response> | { thrown: unknown } {
  try {
    return call();
  } catch (thrown) {
    return { thrown };
  }
}

export async function expectRejection(call: () => Promise<Response>) {
  const returned = callShape(call);
  if (!(returned instanceof Promise)) {
    return { returnedPromise: false, rejected: true, error: describeError(returned.thrown) };
  }
  return { returnedPromise: true, ...(await rejection(returned)) };
}

/** The response as code can see it, without the body. */
export function describeResponse(res: Response) {
  return {
    isResponse: res instanceof Response,
    protoIsResponse: Object.getPrototypeOf(res) === Response.prototype,
    headersIsHeaders: res.headers instanceof Headers,
    bodyIsNull: res.body === null,
    bodyIsReadableStream: res.body instanceof ReadableStream,
    status: res.status,
    statusText: res.statusText,
    ok: res.ok,
    url: res.url,
    redirected: res.redirected,
    type: res.type,
    // `date` is the only header whose value legitimately differs between two runs.
    headers: [...res.headers].filter(([name]) => name !== 'date'),
  };
}

/** What the server received under `base`, one entry per request. */
export function seenBy(base: string) {
  return server.seen(base).map((r) => ({
    method: r.method,
    url: r.url,
    headers: pairs(r.rawHeaders),
    body: r.body.toString('latin1'),
    bodyComplete: r.complete,
  }));
}

export function pairs(raw: readonly string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}

export const headerOf = (headers: Array<[string, string]> | undefined, name: string): string | undefined =>
  headers?.find(([n]) => n.toLowerCase() === name)?.[1];

export function getReader(res: Response): ReadableStreamDefaultReader<Uint8Array> {
  if (!res.body) throw new Error('response has no body');
  return res.body.getReader();
}

/** Reads until the decoded text contains `marker` (or the stream ends). */
export async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  marker: string,
): Promise<string> {
  let text = '';
  while (!text.includes(marker)) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  return text;
}

export async function readAll(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<string> {
  let text = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return text + decoder.decode();
    text += decoder.decode(value, { stream: true });
  }
}

/**
 * Replaces what differs legitimately between the native and the resilientFetch run (the server's
 * host:port and the run prefix `/r/<n>`) and checks the observation is plain data.
 */
export function normalise(value: unknown, base: string): unknown {
  const run = /\/r\/(\d+)$/.exec(base)?.[1] ?? '';
  const runPattern = new RegExp(`/r/${run}(?=[/?#]|$)`, 'g');
  const hostPort = `127.0.0.1:${server.port}`;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') {
      return v
        .split(hostPort)
        .join('<host>')
        .split(`127.0.0.1:${other.port}`)
        .join('<other-host>')
        .replace(runPattern, '/r/<run>');
    }
    if (v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(walk);
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) {
      throw new TypeError(`observation holds a non-plain object (${proto?.constructor?.name}): return data`);
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
  };
  return walk(value);
}

// ---------------------------------------------------------------------------------------------------
// Shared case shapes.

/** Sends `init` to /echo and returns the response, its text and what the server received. */
export async function echo(f: typeof fetch, base: string, init?: RequestInit, path = '/echo') {
  const res = await f(`${base}${path}`, init);
  const text = await res.text();
  return { response: describeResponse(res), text, seen: seenBy(base) };
}

export type EchoObservation = Awaited<ReturnType<typeof echo>>;

/** The one request the server saw, with header lookup by lower-case name. */
export function onlyRequest(o: EchoObservation) {
  assert.equal(o.seen.length, 1, 'the server saw exactly one request');
  const request = o.seen[0];
  assert.ok(request);
  return { ...request, header: (name: string) => headerOf(request.headers, name) };
}

/** Replaces the multipart boundary (random per request) wherever it appears. */
export function withoutBoundary<T>(observation: T, contentType: string | undefined): T {
  const boundary = /boundary=(.+)$/.exec(contentType ?? '')?.[1];
  if (!boundary) return observation;
  return JSON.parse(JSON.stringify(observation).split(boundary).join('<boundary>')) as T;
}
