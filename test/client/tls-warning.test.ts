/**
 * Turning TLS verification off warns once per pattern and process, naming it, with our code (issue 17,
 * item 5), as Node warns for NODE_TLS_REJECT_UNAUTHORIZED=0. Against a real HTTPS server on loopback
 * with the committed self-signed certificate.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createResilientFetch } from '../../src/index.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));

describe('TLS verification off', () => {
  let server: https.Server;
  let port = 0;
  const warnings: Error[] = [];
  const onWarning = (warning: Error) => warnings.push(warning);
  before(async () => {
    process.on('warning', onWarning);
    server = https.createServer(
      { cert: fixture('localhost-cert.pem'), key: fixture('localhost-key.pem') },
      (_req, res) => res.end('secure-ish'),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    process.off('warning', onWarning);
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  /** Warnings of ours emitted by `fn` (they are delivered on the next tick). */
  async function ours(fn: () => Promise<void> | void): Promise<string[]> {
    warnings.length = 0;
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
    return warnings
      .filter((w) => (w as { code?: string }).code === 'RF_TLS_VERIFY_OFF')
      .map((w) => w.message);
  }

  it('warns once for a pattern given at creation, naming it, and the call goes through', async () => {
    const pattern = `localhost:${port}`;
    const messages = await ours(async () => {
      await using rfetch = createResilientFetch({
        hosts: { [pattern]: { pool: { tls: { rejectUnauthorized: false } } } },
      });
      assert.equal(await (await rfetch(`https://localhost:${port}/`)).text(), 'secure-ish');
      await using again = createResilientFetch({
        hosts: { [pattern]: { pool: { tls: { rejectUnauthorized: false } } } },
      });
      assert.equal(typeof again, 'function');
    });
    assert.equal(messages.length, 1, 'once per pattern and process');
    assert.match(messages[0] ?? '', new RegExp(`TLS certificate verification is off for hosts "${pattern}"`));
  });

  it('warns for configureHost, for a predicate by its name and for the top level; not for verification on', async () => {
    const messages = await ours(async () => {
      await using rfetch = createResilientFetch({
        hosts: { 'verified.example': { pool: { tls: { rejectUnauthorized: true } } } },
      });
      rfetch.configureHost('*.tls-warning.test', { pool: { tls: { rejectUnauthorized: false } } });
      rfetch.configureHost('*.tls-warning.test', { pool: { tls: { rejectUnauthorized: false } } });
      rfetch.configureHost(
        function insecureLab({ port: p }) {
          return p === 1;
        },
        { pool: { tls: { rejectUnauthorized: false } } },
      );
      // An override without tls options inherits the top level's: it is not a pattern of its own.
      await using top = createResilientFetch({
        pool: { tls: { rejectUnauthorized: false } },
        hosts: { 'inherits.example': { pool: { connections: 2 } } },
      });
      assert.equal(typeof top, 'function');
    });
    assert.deepEqual(
      messages.map((m) =>
        m.replace(/^resilient-fetch: TLS certificate verification is off for (.*?) \(.*$/, '$1'),
      ),
      ['hosts "*.tls-warning.test"', 'the hosts predicate insecureLab', 'every host'],
    );
  });
});
