/** TLS per host and HTTP/2 by ALPN, against loopback servers with a committed self-signed certificate. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createResilientFetch } from '../../src/index.ts';
import { codes } from '../helpers/errors.ts';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/tls/${name}`, import.meta.url));
const cert = fixture('localhost-cert.pem');
const key = fixture('localhost-key.pem');

const listen = async (server: https.Server | http2.Http2SecureServer): Promise<number> => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
};

describe('TLS and HTTP/2', () => {
  let h1: https.Server;
  let h2: http2.Http2SecureServer;
  let h1Port = 0;
  let h2Port = 0;
  before(async () => {
    h1 = https.createServer({ cert, key }, (req, res) => res.end(`h1 ${req.httpVersion}`));
    h2 = http2.createSecureServer({ cert, key, allowHTTP1: true }, (req, res) =>
      res.end(`h2 ${req.httpVersion}`),
    );
    h1Port = await listen(h1);
    h2Port = await listen(h2);
  });
  after(async () => {
    h1.closeAllConnections();
    await new Promise((resolve) => h1.close(resolve));
    await new Promise((resolve) => h2.close(resolve));
  });

  it('refuses an unknown certificate by default, and trusts it for the host given its CA', async () => {
    const rfetch = createResilientFetch({
      retry: false,
      hosts: { [`localhost:${h2Port}`]: { pool: { tls: { ca: cert } } } },
    });
    // No CA for this host: the certificate is refused, as fetch refuses it.
    const error = await rfetch(`https://localhost:${h1Port}/`).then(
      () => assert.fail('must reject'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof TypeError && error.message === 'fetch failed');
    assert.ok(codes(error).includes('DEPTH_ZERO_SELF_SIGNED_CERT'), String(codes(error)));
    // The host configured with the CA is trusted.
    assert.equal(await (await rfetch(`https://localhost:${h2Port}/`)).text(), 'h2 1.1');
    await rfetch.close();
  });

  it('speaks HTTP/2 by ALPN only where allowH2 is on', async () => {
    const tls = { ca: cert };
    const plain = createResilientFetch({ retry: false, pool: { tls } });
    assert.equal(await (await plain(`https://localhost:${h2Port}/`)).text(), 'h2 1.1', 'HTTP/1.1 by default');
    await plain.close();
    const withH2 = createResilientFetch({ retry: false, pool: { tls, allowH2: true } });
    assert.equal(await (await withH2(`https://localhost:${h2Port}/`)).text(), 'h2 2.0');
    assert.equal(
      await (await withH2(`https://localhost:${h1Port}/`)).text(),
      'h1 1.1',
      'an HTTP/1.1-only server',
    );
    await withH2.close();
  });

  it('over HTTP/2 the fast transport answers as Node fetch does, and spans say protocol 2', async () => {
    const tls = { ca: cert };
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const rfetch = createResilientFetch({
      retry: false,
      pool: { tls, allowH2: true },
      telemetry: { tracerProvider },
    });
    const res = await rfetch(`https://localhost:${h2Port}/x`, {
      method: 'POST',
      body: 'b',
      headers: { 'x-a': '1' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.statusText, '', 'HTTP/2 has no reason phrase, as in Node fetch');
    assert.equal(res.url, `https://localhost:${h2Port}/x`);
    assert.equal(await res.text(), 'h2 2.0');
    await (await rfetch(`https://localhost:${h1Port}/`)).text();
    assert.equal(rfetch.stats().sent.fast, 2);
    const [h2Span, h1Span] = exporter.getFinishedSpans();
    assert.equal(h2Span?.attributes['network.protocol.version'], '2');
    assert.equal(h2Span?.attributes['network.peer.port'], h2Port);
    assert.equal(h1Span?.attributes['network.protocol.version'], '1.1');
    await rfetch.close();
  });

  it('can skip verification for a host, and validates TLS options', async () => {
    const rfetch = createResilientFetch({ retry: false, pool: { tls: { rejectUnauthorized: false } } });
    assert.equal(await (await rfetch(`https://localhost:${h1Port}/`)).text(), 'h1 1.1');
    await rfetch.close();
    assert.throws(
      () => createResilientFetch({ pool: { tls: { ca: 5 as never } } }),
      /option pool\.tls\.ca must be a string, a Buffer, or an array of them, received 5/,
    );
    assert.throws(
      () => createResilientFetch({ pool: { tls: { verify: true } as never } }),
      /unknown option pool\.tls\.verify/,
    );
    assert.throws(
      () => createResilientFetch({ pool: { allowH2: 'yes' as never } }),
      /option pool\.allowH2 must be a boolean/,
    );
  });
});
