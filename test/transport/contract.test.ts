/**
 * The drop-in contract: code written for Node's global fetch works unchanged with resilientFetch.
 *
 * Every case (test/transport/contract/, one file per table) is one function `(f, base) => observation`
 * run twice, once with the native fetch (captured at import) and once with `createResilientFetch()`,
 * against the same real server. The two observations (plain JSON-able values) must be deeply equal once
 * the values that legitimately differ between two runs are normalised (the port, the per-run path prefix,
 * a multipart boundary, a blob: URL's uuid, the Date header). Each case also asserts what native fetch
 * did, so it cannot pass vacuously. The servers and the observation helpers: test/helpers/contract.ts.
 *
 * Run: node --test test/transport/contract.test.ts
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch, type ResilientFetch } from '../../src/index.ts';
import { type Case, normalise, other, server, tls, useServers } from '../helpers/contract.ts';
import { startContractServer, startTlsServer } from '../helpers/contract-server.ts';
import { freePort } from '../helpers/server.ts';
import { abortCases } from './contract/abort.ts';
import { bodyCases } from './contract/body.ts';
import { defaultHeaderCases } from './contract/default-headers.ts';
import { errorCases } from './contract/errors.ts';
import { inputCases } from './contract/input.ts';
import { integrationCases } from './contract/integration.ts';
import { redirectCases } from './contract/redirect.ts';
import { responseCases } from './contract/response.ts';
import { schemeCases } from './contract/scheme.ts';
import { wireCases } from './contract/wire.ts';

const nativeFetch: typeof fetch = globalThis.fetch;

let rfetch: ResilientFetch;

const cases: Case[] = [
  ...inputCases,
  ...bodyCases,
  ...responseCases,
  ...redirectCases,
  ...schemeCases,
  ...defaultHeaderCases,
  ...errorCases,
  ...wireCases,
  ...abortCases,
  ...integrationCases,
];

// ---------------------------------------------------------------------------------------------------

describe('fetch contract: resilientFetch observes as native fetch does', () => {
  before(async () => {
    useServers({
      server: await startContractServer(),
      other: await startContractServer(),
      tls: await startTlsServer(),
      closedPort: await freePort(),
    });
    // Retries and the breaker are features native fetch lacks (a retried GET reaches the server twice; a
    // breaker opened by the error cases fails later cases fast). They are off here so that every other
    // layer (deadline, attempt timeout, linked abort signals, body preparation) is held to the contract;
    // test/policies/ covers what they add.
    rfetch = createResilientFetch({ retry: false, circuitBreaker: false });
  });

  after(async () => {
    await rfetch.close({ drainTimeoutMs: 1000 });
    await Promise.all([server.close(), other.close(), tls.close()]);
  });

  for (const c of cases) {
    it(c.name, c.todo === undefined ? {} : { todo: c.todo }, async () => {
      const nativeBase = server.newBase();
      const native = normalise(await c.run(nativeFetch, nativeBase), nativeBase);
      const rfBase = server.newBase();
      const resilient = normalise(await c.run(rfetch, rfBase), rfBase);
      (c.check as (native: unknown) => void)(native);
      assert.deepStrictEqual(resilient, native);
    });
  }

  // resilientFetch sends the requests it can reproduce exactly itself (src/transport/fast/) and the
  // rest through Node's fetch; the cases above must have held both routes to the contract.
  it('both routes were exercised: the fast transport and Node fetch', () => {
    const { fast, fetch } = rfetch.stats().sent;
    assert.ok(fast >= 60, `fast transport sent ${fast} requests`);
    assert.ok(fetch >= 20, `Node's fetch sent ${fetch} requests`);
  });
});
