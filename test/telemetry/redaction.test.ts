/**
 * Secrets in telemetry (issue 17, item 1): query parameters named like credentials read REDACTED in
 * every span of every attempt and redirect hop; header values only when asked for, never the ones that
 * carry credentials. Spans are read from an in-memory exporter, the upstream is real.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import {
  createResilientFetch,
  defaultRedactedQueryParams,
  type ResilientFetchOptions,
  semconvRedactedQueryParams,
} from '../../src/index.ts';
import { redactUrl } from '../../src/telemetry/redact.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

const secret = 's3cr3t-VALUE';

/** Every string a span carries: attributes, event attributes, status message. */
function spanText(span: ReadableSpan): string {
  return JSON.stringify([span.attributes, span.events.map((e) => e.attributes), span.status]);
}

describe('redaction of secrets in telemetry', () => {
  let server: TestServer;
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });

  before(async () => {
    server = await startServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/redirect') {
        res.writeHead(302, { location: `/final?access_token=${secret}&page=2` }).end();
      } else if (url.pathname === '/503') res.writeHead(503, { 'retry-after': '0' }).end();
      else res.writeHead(200, { 'x-request-id': 'r-1', 'set-cookie': `sid=${secret}` }).end('ok');
    });
  });
  after(() => server.close());
  beforeEach(() => exporter.reset());

  const make = (options: ResilientFetchOptions = {}) =>
    createResilientFetch({
      retry: { baseDelayMs: 1, jitter: 'none', maxRetries: 1 },
      circuitBreaker: false,
      ...options,
      telemetry: { tracerProvider, ...options.telemetry },
    });
  const urls = () => exporter.getFinishedSpans().map((s) => s.attributes['url.full']);

  it('redacts the common credential names by default, without regard to case, - and _', async () => {
    await using rfetch = make();
    const query = `token=${secret}&API-KEY=${secret}&Api_Key=${secret}&key=${secret}&client_secret=${secret}&q=cats&sig=${secret}`;
    await (await rfetch(`${server.url}/ok?${query}`)).text();
    assert.deepEqual(urls(), [
      `${server.url}/ok?token=REDACTED&API-KEY=REDACTED&Api_Key=REDACTED&key=REDACTED&client_secret=REDACTED&q=cats&sig=REDACTED`,
    ]);
  });

  it('redacts every attempt: 5xx and its retry, a failed connection, and the Node fetch route', async () => {
    await using rfetch = make();
    assert.equal((await rfetch(`${server.url}/503?access_token=${secret}`)).status, 503);
    const closed = await startServer(() => {});
    await closed.close();
    await assert.rejects(rfetch(`http://127.0.0.1:${closed.port}/x?password=${secret}`), TypeError);
    // A Request input goes through Node's fetch (the other transport).
    await (await rfetch(new Request(`${server.url}/ok?jwt=${secret}`))).text();
    const spans = exporter.getFinishedSpans();
    assert.equal(
      spans.length,
      2 + 2 + 1,
      'two attempts each for the 503 and the refused call, one for the Request',
    );
    for (const span of spans) assert.ok(!spanText(span).includes(secret), `no secret in ${spanText(span)}`);
    assert.ok(urls().every((u) => String(u).includes('=REDACTED')));
  });

  it('redacts the url.full of each redirect hop the fast transport follows', async () => {
    await using rfetch = make();
    const res = await rfetch(`${server.url}/redirect?session=${secret}`);
    await res.text();
    assert.equal(
      res.url,
      `${server.url}/final?access_token=${secret}&page=2`,
      'the Response keeps the real URL',
    );
    assert.deepEqual(urls(), [
      `${server.url}/redirect?session=REDACTED`,
      `${server.url}/final?access_token=REDACTED&page=2`,
    ]);
  });

  it('a list of yours replaces the default; the two exported lists extend it or give the conventions alone', async () => {
    {
      await using rfetch = make({ telemetry: { redactQueryParams: ['sas'] } });
      await (await rfetch(`${server.url}/ok?SAS=1&token=2`)).text();
    }
    {
      await using rfetch = make({ telemetry: { redactQueryParams: [...defaultRedactedQueryParams, 'sas'] } });
      await (await rfetch(`${server.url}/ok?SAS=1&token=2`)).text();
    }
    {
      await using rfetch = make({ telemetry: { redactQueryParams: semconvRedactedQueryParams } });
      await (await rfetch(`${server.url}/ok?X-Amz-Signature=1&token=2`)).text();
    }
    assert.deepEqual(urls(), [
      `${server.url}/ok?SAS=REDACTED&token=2`,
      `${server.url}/ok?SAS=REDACTED&token=REDACTED`,
      `${server.url}/ok?X-Amz-Signature=REDACTED&token=2`,
    ]);
    assert.ok(semconvRedactedQueryParams.every((name) => defaultRedactedQueryParams.includes(name)));
    assert.throws(
      () => (defaultRedactedQueryParams as string[]).push('x'),
      TypeError,
      'the lists are frozen',
    );
  });

  it('redacts credentials, a token in the fragment, and keeps the rest of the URL byte for byte', () => {
    const names = new Set(defaultRedactedQueryParams);
    assert.equal(
      redactUrl(
        `https://u:p@h.example/a%20b?q=%E2%9C%93&access%5Ftoken=${secret}&x+y=1#access_token=${secret}&state=s`,
        names,
      ),
      'https://REDACTED:REDACTED@h.example/a%20b?q=%E2%9C%93&access%5Ftoken=REDACTED&x+y=1#access_token=REDACTED&state=s',
    );
    // A malformed escape in a name is compared as it is, and never throws.
    assert.equal(
      redactUrl('https://h.example/?%E0%A4%A=1&token=2', names),
      'https://h.example/?%E0%A4%A=1&token=REDACTED',
    );
    assert.equal(redactUrl('https://h.example/?token', names), 'https://h.example/?token=REDACTED');
    const plain = 'https://h.example/path';
    assert.equal(redactUrl(plain, names), plain);
  });

  it('records no header value unless asked; headersToSpanAttributes records the named ones as arrays', async () => {
    {
      await using rfetch = make();
      await (await rfetch(`${server.url}/ok`, { headers: { 'x-tenant': 't-9' } })).text();
    }
    {
      await using rfetch = make({
        telemetry: {
          headersToSpanAttributes: { requestHeaders: ['X-Tenant'], responseHeaders: ['x-request-id'] },
        },
      });
      await (
        await rfetch(`${server.url}/ok`, { headers: { 'x-tenant': 't-9', authorization: secret } })
      ).text();
      await (await rfetch(new Request(`${server.url}/ok`, { headers: { 'X-Tenant': 't-10' } }))).text();
    }
    const [none, fast, viaNode] = exporter.getFinishedSpans();
    const headerKeys = Object.keys(none?.attributes ?? {}).filter((k) => k.includes('.header.'));
    assert.deepEqual(headerKeys, []);
    assert.deepEqual(fast?.attributes['http.request.header.x-tenant'], ['t-9']);
    assert.deepEqual(fast?.attributes['http.response.header.x-request-id'], ['r-1']);
    assert.deepEqual(viaNode?.attributes['http.request.header.x-tenant'], ['t-10']);
    for (const span of exporter.getFinishedSpans()) assert.ok(!spanText(span).includes(secret));
  });

  it('refuses, at creation, to record the headers that carry credentials', () => {
    for (const name of ['authorization', 'Cookie', 'set-cookie', 'Proxy-Authorization', 'X-API-Key']) {
      assert.throws(
        () =>
          createResilientFetch({
            telemetry: { headersToSpanAttributes: { responseHeaders: ['x-ok', name] } },
          }),
        (e: Error) =>
          e instanceof RangeError &&
          e.message.includes('telemetry.headersToSpanAttributes.responseHeaders[1]') &&
          e.message.includes(JSON.stringify(name)),
      );
    }
    assert.throws(
      () =>
        createResilientFetch({ telemetry: { headersToSpanAttributes: { requestHeaders: ['bad name'] } } }),
      /option telemetry\.headersToSpanAttributes\.requestHeaders\[0\] must be a header name, received "bad name"/,
    );
    assert.throws(
      () => createResilientFetch({ telemetry: { headersToSpanAttributes: { request: ['x'] } as never } }),
      /unknown option telemetry\.headersToSpanAttributes\.request/,
    );
  });
});
