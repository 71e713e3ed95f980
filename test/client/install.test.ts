/** install()/uninstall() of the global fetch, and `node --import resilient-fetch/register`. */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { createResilientFetch, install, isInstalled, resilientFetch, uninstall } from '../../src/index.ts';
import { runInChild, runScriptInChild } from '../helpers/child.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const original = globalThis.fetch;
const originalClasses = {
  Request: globalThis.Request,
  Response: globalThis.Response,
  Headers: globalThis.Headers,
  FormData: globalThis.FormData,
};

describe('install() and uninstall()', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer((req, res) => res.end(`${req.method} ${req.url}`));
  });
  after(() => server.close());
  afterEach(() => uninstall());

  it('routes the global fetch through the instance, and uninstall() restores the original', async () => {
    const rfetch = createResilientFetch();
    install(rfetch);
    assert.equal(globalThis.fetch, rfetch);
    assert.ok(isInstalled());
    const response = await fetch(`${server.url}/via-global`);
    assert.ok(response instanceof Response, 'the global Response class');
    assert.equal(await response.text(), 'GET /via-global');
    assert.deepEqual(Object.keys(rfetch.stats().pools), [server.url], 'the call went through our pools');
    uninstall();
    assert.equal(globalThis.fetch, original);
    assert.equal(isInstalled(), false);
    await rfetch.close();
  });

  it('keeps the global Request, Response, Headers and FormData: they are the set our fetch speaks', async () => {
    const rfetch = createResilientFetch();
    install(rfetch);
    assert.deepEqual(
      {
        Request: globalThis.Request,
        Response: globalThis.Response,
        Headers: globalThis.Headers,
        FormData: globalThis.FormData,
      },
      originalClasses,
    );
    const request = new Request(`${server.url}/req`, { method: 'PUT', body: 'x' });
    assert.equal(await (await fetch(request)).text(), 'PUT /req');
    await rfetch.close();
  });

  it('keeps the property shape of the global fetch (writable, configurable) and restores the descriptor', () => {
    const before = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
    install(createResilientFetch());
    const during = Object.getOwnPropertyDescriptor(globalThis, 'fetch');
    assert.equal(during?.writable, true);
    assert.equal(during?.configurable, true);
    assert.equal(during?.enumerable, before?.enumerable);
    uninstall();
    assert.deepEqual(Object.getOwnPropertyDescriptor(globalThis, 'fetch'), before);
  });

  it('installing twice then uninstalling restores the fetch from before the first install', () => {
    const one = createResilientFetch();
    const two = createResilientFetch();
    install(one);
    install(two);
    assert.equal(globalThis.fetch, two);
    uninstall();
    assert.equal(globalThis.fetch, original);
    uninstall(); // no-op when not installed
    assert.equal(globalThis.fetch, original);
  });

  it('installs the default instance when given nothing', async () => {
    install();
    assert.equal(typeof (globalThis.fetch as typeof resilientFetch).close, 'function');
    assert.equal(await (await fetch(`${server.url}/default`)).text(), 'GET /default');
    uninstall();
    await resilientFetch.close();
  });

  it('refuses something that is not a function', () => {
    assert.throws(() => install('fetch' as never), /install\(\) expects a fetch function, received string/);
    assert.equal(globalThis.fetch, original);
  });
});

describe('resilient-fetch/register', () => {
  it('swaps the global fetch with no code change, and the process exits by itself', async () => {
    const server = await startServer((req, res) => res.end(`seen ${req.url}`));
    const result = await runInChild(
      [
        '--import',
        './src/register.ts',
        '--input-type=module',
        '-e',
        `const res = await fetch(${JSON.stringify(`${server.url}/from-child`)});
         console.log(await res.text());
         console.log(globalThis.fetch.name, typeof globalThis.fetch.close);
         console.log(JSON.stringify(Object.keys(globalThis.fetch.stats().pools)));`,
      ],
      { timeoutMs: 15_000 },
    );
    await server.close();
    assert.equal(result.timedOut, false, 'the child did not exit by itself');
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(result.stdout.trim().split('\n'), [
      'seen /from-child',
      'fetch function',
      JSON.stringify([server.url]),
    ]);
  });

  it('importing the package has no side effect: global fetch and its dispatcher untouched, nothing opened', async () => {
    const src = new URL('../../src/index.ts', import.meta.url).href;
    // npm undici, imported first, would install an undici 8 Agent behind the app's own global fetch.
    const result = await runScriptInChild(
      `const before = globalThis.fetch;
       const m = await import(${JSON.stringify(src)});
       const slot = globalThis[Symbol.for('undici.globalDispatcher.1')];
       const handles = process.getActiveResourcesInfo().filter((r) => r !== 'TTYWrap' && r !== 'PipeWrap');
       console.log(globalThis.fetch === before, slot?.constructor.name, JSON.stringify(handles), typeof m.resilientFetch);`,
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'true Agent [] function');
  });
});
