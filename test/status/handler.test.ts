/**
 * `resilient-fetch/status`: the health endpoint mounted on a real node:http server, fed by a real
 * resilientFetch that called real upstreams (one healthy, one answering 500, one called too little).
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch, type ResilientFetch } from '../../src/index.ts';
import { type StatusHandler, statusHandler } from '../../src/status.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const minCalls = 4;
let rfetch: ResilientFetch;
let healthy: TestServer;
let failing: TestServer;
let quiet: TestServer;
const key = (server: TestServer) => `127.0.0.1:${server.port}`;

async function call(server: TestServer, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    const res = await rfetch(`${server.url}/private/path?token=secret-${i}`);
    await res.arrayBuffer();
  }
}

before(async () => {
  healthy = await startServer((_req, res) => res.end('ok'));
  failing = await startServer((_req, res) => {
    res.statusCode = 500;
    res.end('boom');
  });
  quiet = await startServer((_req, res) => res.end('ok'));
  rfetch = createResilientFetch({ retry: false, health: { minCalls }, drainTimeoutMs: 2_000 });
  await call(healthy, 6);
  await call(failing, minCalls + 1);
  await call(quiet, 1);
});

after(async () => {
  await rfetch.close();
  await Promise.all([healthy.close(), failing.close(), quiet.close()]);
});

/** A status server mounting `handler`; `next` given when `withNext`, answering what reached it. */
async function mount(handler: StatusHandler, withNext = false): Promise<TestServer> {
  const next = (req: IncomingMessage, res: ServerResponse) => () => res.end(`app saw ${req.url}`);
  return startServer((req, res) => (withNext ? handler(req, res, next(req, res)) : handler(req, res)));
}

interface HostJson {
  host: string;
  status: string;
  successRate: number | null;
  calls: number;
  failures: Record<string, number>;
  retriesDenied: number;
  latencyMs: { p50: number; p99: number } | null;
  circuit: string;
  pool: { connected: number } | null;
}
interface ReportJson {
  status: string;
  required: Array<{ name: string; up: boolean; hosts: string[] }>;
  hosts: HostJson[];
  client: { state: string; inFlight: number };
}

async function get(server: TestServer, path: string, init?: RequestInit) {
  const res = await fetch(`${server.url}${path}`, init);
  const text = await res.text();
  const isJson = res.headers.get('content-type')?.startsWith('application/json') && text !== '';
  return { res, text, json: isJson ? JSON.parse(text) : undefined };
}

describe('GET /health', () => {
  let server: TestServer;
  before(async () => {
    server = await mount(statusHandler(rfetch));
  });
  after(() => server.close());

  it('answers 200 with every host, its health, policy state and pool, as uncached JSON', async () => {
    const { res, json, text } = await get(server, '/health');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const report = json as ReportJson;
    assert.equal(report.status, 'up');
    assert.deepEqual(report.required, []);
    assert.equal(report.client.state, 'open');
    assert.deepEqual(report.hosts.map((h) => h.host).sort(), [key(healthy), key(failing), key(quiet)].sort());
    const ok = report.hosts.find((h) => h.host === key(healthy));
    assert.equal(ok?.status, 'HEALTHY');
    assert.equal(ok?.calls, 6);
    assert.equal(ok?.successRate, 1);
    assert.equal(ok?.circuit, 'closed');
    assert.equal(ok?.retriesDenied, 0);
    assert.ok(ok?.latencyMs && ok.latencyMs.p50 >= 0 && ok.latencyMs.p99 >= ok.latencyMs.p50);
    assert.ok(ok?.pool && ok.pool.connected >= 0, 'a live pool is reported');
    const bad = report.hosts.find((h) => h.host === key(failing));
    assert.equal(bad?.status, 'FAILED');
    assert.equal(bad?.successRate, 0);
    assert.equal(bad?.failures.status_5xx, bad?.calls);
    assert.equal(report.hosts.find((h) => h.host === key(quiet))?.status, 'UNKNOWN');
    assert.doesNotMatch(text, /private|secret|token|http:/, 'hosts only: no URL, path or query');
  });

  it('answers HEAD with the same status and headers and no body', async () => {
    const { res, text } = await get(server, '/health', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(text, '');
  });

  it('answers 405 with allow: GET, HEAD to any other method', async () => {
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const { res, json } = await get(server, '/health', { method });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.match(json.error, new RegExp(method));
    }
  });

  it('?host= answers one host: 200 when up, 503 when FAILED, 404 naming a host it does not know', async () => {
    const one = await get(server, `/health?host=${key(healthy)}`);
    assert.equal(one.res.status, 200);
    assert.equal(one.json.host, key(healthy));
    assert.equal(one.json.status, 'HEALTHY');
    const down = await get(server, `/health?host=${key(failing)}`);
    assert.equal(down.res.status, 503);
    assert.equal(down.json.status, 'FAILED');
    const unknown = await get(server, '/health?host=nowhere.example:443');
    assert.equal(unknown.res.status, 404);
    assert.equal(unknown.res.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(unknown.json.host, 'nowhere.example:443');
    assert.match(unknown.json.error, /nowhere\.example:443/);
  });

  it('answers 404 to paths that are not its own when there is no next()', async () => {
    for (const path of ['/', '/healthz', '/health/', '/other/health']) {
      const { res, json } = await get(server, path);
      assert.equal(res.status, 404, path);
      assert.equal(json.error, 'not found');
    }
  });
});

describe('required hosts', () => {
  const statusWith = async (required: string[]) => {
    await using server = await mount(statusHandler(rfetch, { required }));
    const { res, json } = await get(server, '/health');
    return { code: res.status, report: json as ReportJson };
  };

  it('answers 503 when a required host (hostname:port) is FAILED, and names it', async () => {
    const { code, report } = await statusWith([key(healthy), key(failing)]);
    assert.equal(code, 503);
    assert.equal(report.status, 'down');
    assert.deepEqual(report.required, [
      { name: key(healthy), up: true, hosts: [key(healthy)] },
      { name: key(failing), up: false, hosts: [key(failing)] },
    ]);
  });

  it('answers 200 when the required hosts are up; UNKNOWN and never-called hosts count as up', async () => {
    const { code, report } = await statusWith([key(healthy), key(quiet), 'never-called.example:443']);
    assert.equal(code, 200);
    assert.equal(report.status, 'up');
    assert.deepEqual(report.required.at(-1), { name: 'never-called.example:443', up: true, hosts: [] });
  });

  it('a bare hostname matches that hostname on every port', async () => {
    const { code, report } = await statusWith(['127.0.0.1']);
    assert.equal(code, 503, 'one of the ports of 127.0.0.1 is FAILED');
    assert.deepEqual(report.required[0]?.hosts.sort(), [key(healthy), key(failing), key(quiet)].sort());
  });
});

describe('basePath and next()', () => {
  it('answers under a prefix, with or without its trailing slash, and 404s the rest', async () => {
    for (const basePath of ['/ops', '/ops/']) {
      await using server = await mount(statusHandler(rfetch, { basePath }));
      assert.equal((await get(server, '/ops/health')).res.status, 200, basePath);
      assert.equal((await get(server, '/health')).res.status, 404, 'outside the prefix');
      assert.equal((await get(server, '/ops/other')).res.status, 404, 'under the prefix, not ours');
    }
  });

  it('as Express-style middleware, hands every path but its own to next()', async () => {
    await using server = await mount(statusHandler(rfetch, { basePath: '/ops' }), true);
    for (const path of ['/', '/health', '/ops/other', '/ops/health/x']) {
      const { res, text } = await get(server, path);
      assert.equal(res.status, 200);
      assert.equal(text, `app saw ${path}`);
    }
    const ours = await get(server, '/ops/health');
    assert.equal(ours.json.hosts.length, 3);
    assert.equal(
      (await get(server, '/ops/health', { method: 'POST' })).res.status,
      405,
      'our path, not next()',
    );
  });
});

describe('statusHandler options', () => {
  it('throws a TypeError or RangeError naming the option and the value', () => {
    assert.throws(() => statusHandler(rfetch, { basePath: 42 as unknown as string }), {
      name: 'TypeError',
      message: /option basePath must be a string, received 42/,
    });
    assert.throws(() => statusHandler(rfetch, { basePath: 'ops' }), {
      name: 'RangeError',
      message: /option basePath must be a path that starts with "\/".*received "ops"/,
    });
    assert.throws(() => statusHandler(rfetch, { required: 'api:443' as unknown as string[] }), {
      name: 'TypeError',
      message: /option required must be an array/,
    });
    assert.throws(() => statusHandler(rfetch, { required: ['ok:80', 'http://api/x'] }), {
      name: 'RangeError',
      message: /option required\[1\] must be a host.*received "http:\/\/api\/x"/,
    });
    assert.throws(() => statusHandler(rfetch, { base: '/' } as never), {
      name: 'TypeError',
      message: /unknown option base \(known options: basePath, required\)/,
    });
    assert.throws(() => statusHandler({} as never), { name: 'TypeError', message: /option rfetch must be/ });
  });
});

describe('when reading health throws', () => {
  const broken = {
    health: () => {
      throw new Error('broken source');
    },
    stats: () => rfetch.stats(),
  };

  it('answers 500 without the error, or hands the error to next()', async () => {
    await using plain = await mount(statusHandler(broken));
    const { res, json, text } = await get(plain, '/health');
    assert.equal(res.status, 500);
    assert.equal(json.error, 'internal error');
    assert.doesNotMatch(text, /broken source/);
    let passed: unknown;
    await using withNext = await startServer((req, res) =>
      statusHandler(broken)(req, res, (error) => {
        passed = error;
        res.end('app error handler');
      }),
    );
    assert.equal((await get(withNext, '/health')).text, 'app error handler');
    assert.match((passed as Error).message, /broken source/);
  });
});
