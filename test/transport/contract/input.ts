/** Contract cases: what fetch accepts as its input and init (URL, Request, init members, headers). */
import assert from 'node:assert/strict';
import {
  type Case,
  defineCase,
  describeError,
  describeResponse,
  echo,
  headerOf,
  onlyRequest,
  seenBy,
} from '../../helpers/contract.ts';
import { settle } from '../../helpers/settle.ts';

export const inputCases: Case[] = [
  defineCase(
    'input: string URL (query kept, fragment not sent)',
    (f, base) => echo(f, base, undefined, '/echo?q=1&x=%20y#frag'),
    (o) => {
      assert.equal(onlyRequest(o).url, '/echo?q=1&x=%20y');
      assert.equal(o.response.url, 'http://<host>/r/<run>/echo?q=1&x=%20y');
      assert.equal(o.text, 'echo:GET /echo?q=1&x=%20y');
    },
  ),
  defineCase(
    'input: URL object',
    async (f, base) => {
      const url = new URL(`${base}/echo?via=url`);
      const res = await f(url);
      return { response: describeResponse(res), text: await res.text(), seen: seenBy(base), href: url.href };
    },
    (o) => {
      assert.equal(o.text, 'echo:GET /echo?via=url');
      assert.equal(o.response.url, o.href);
    },
  ),
  defineCase(
    'input: global Request with method, headers and body',
    async (f, base) => {
      const request = new Request(`${base}/echo`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/json', 'X-Req': 'yes' },
        body: '{"a":1}',
      });
      const bodyUsedBefore = request.bodyUsed;
      const res = await f(request);
      return {
        response: describeResponse(res),
        text: await res.text(),
        seen: seenBy(base),
        bodyUsedBefore,
        bodyUsedAfter: request.bodyUsed,
        requestMethodAfter: request.method,
        requestHeadersAfter: [...request.headers],
      };
    },
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.method, 'PUT');
      assert.equal(r.body, '{"a":1}');
      assert.equal(r.header('x-req'), 'yes');
      assert.equal(r.header('content-type'), 'application/json');
      assert.equal(o.bodyUsedBefore, false);
      assert.equal(o.bodyUsedAfter, true, 'native fetch consumes the Request body');
    },
  ),
  defineCase(
    'input: Request plus an init that overrides method and headers',
    async (f, base) => {
      const request = new Request(`${base}/echo`, {
        method: 'POST',
        headers: { 'x-from': 'request', 'x-only-request': '1' },
        body: 'from-request',
      });
      const res = await f(request, { method: 'PUT', headers: { 'x-from': 'init' } });
      return {
        response: describeResponse(res),
        text: await res.text(),
        seen: seenBy(base),
        bodyUsedAfter: request.bodyUsed,
        requestMethodAfter: request.method,
        requestHeadersAfter: [...request.headers],
      };
    },
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.method, 'PUT');
      assert.equal(r.body, 'from-request');
      assert.equal(r.header('x-from'), 'init');
      assert.equal(r.header('x-only-request'), undefined, 'init headers replace the Request headers');
      assert.equal(o.requestMethodAfter, 'POST');
      assert.deepEqual(o.requestHeadersAfter, [
        ['content-type', 'text/plain;charset=UTF-8'],
        ['x-from', 'request'],
        ['x-only-request', '1'],
      ]);
    },
  ),
  defineCase(
    'input: a Request passed as the init (fetch(url, request))',
    async (f, base) => {
      const template = new Request(`${base}/ignored`, {
        method: 'PUT',
        headers: { 'x-template': 'yes' },
        body: 'template-body',
      });
      const out = await settle(f(`${base}/echo`, template));
      if (out.status === 'rejected') return { error: describeError(out.reason), seen: seenBy(base) };
      return {
        response: describeResponse(out.value),
        text: await out.value.text(),
        seen: seenBy(base),
        templateBodyUsed: template.bodyUsed,
      };
    },
    (o) => {
      assert.ok('response' in o, 'native fetch accepts a Request as init');
      assert.equal(o.seen.length, 1);
      assert.equal(o.seen[0]?.url, '/echo');
      assert.equal(o.seen[0]?.method, 'PUT');
      assert.equal(o.seen[0]?.body, 'template-body');
      assert.equal(headerOf(o.seen[0]?.headers, 'x-template'), 'yes');
    },
  ),
  defineCase(
    'input: init undefined, null and empty object',
    async (f, base) => {
      const url = `${base}/echo`;
      const out = [];
      for (const init of [undefined, null, {}]) {
        const res = await f(url, init as RequestInit);
        out.push({ status: res.status, text: await res.text() });
      }
      return { out, count: seenBy(base).length };
    },
    (o) => {
      assert.equal(o.count, 3);
      assert.ok(o.out.every((r) => r.status === 200 && r.text === 'echo:GET /echo'));
    },
  ),
  defineCase(
    'headers: a Headers instance (casing, trimming, appended duplicates)',
    (f, base) => {
      const headers = new Headers([['X-Mixed-Case', '  padded value  ']]);
      headers.append('x-dup', 'one');
      headers.append('X-Dup', 'two');
      return echo(f, base, { headers });
    },
    (o) => {
      const r = onlyRequest(o);
      // The casing a header was first given with reaches the wire; values are trimmed and combined.
      assert.ok(r.headers.some(([n, v]) => n === 'X-Mixed-Case' && v === 'padded value'));
      assert.ok(r.headers.some(([n, v]) => n === 'x-dup' && v === 'one, two'));
    },
  ),
  defineCase(
    'headers: an array of pairs',
    (f, base) =>
      echo(f, base, {
        headers: [
          ['X-Pair', 'a'],
          ['x-pair', 'b'],
          ['Accept', 'application/json'],
        ],
      }),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('x-pair'), 'a, b');
      assert.equal(r.header('accept'), 'application/json');
    },
  ),
  defineCase(
    'headers: a record, overriding the default user-agent, accept-encoding and accept-language',
    (f, base) =>
      echo(f, base, {
        headers: {
          'X-Record': 'r',
          'User-Agent': 'contract-test/1.0',
          'Accept-Encoding': 'identity',
          'Accept-Language': 'fr',
        },
      }),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('x-record'), 'r');
      assert.equal(r.header('user-agent'), 'contract-test/1.0');
      assert.equal(r.header('accept-encoding'), 'identity');
      assert.equal(r.header('accept-language'), 'fr');
    },
  ),
  defineCase(
    "the caller's init object, its Headers and its body are not mutated",
    async (f, base) => {
      const headers = new Headers({ 'x-a': '1' });
      const body = new Uint8Array([1, 2, 3]);
      const init: RequestInit = { method: 'post', headers, body, redirect: 'follow' };
      const snapshot = () => ({
        keys: Object.keys(init),
        method: init.method,
        sameHeaders: init.headers === headers,
        headerEntries: [...headers],
        sameBody: init.body === body,
        bodyBytes: [...body],
        bodyByteLength: body.byteLength,
        redirect: init.redirect,
      });
      const before = snapshot();
      const first = await echo(f, base, init);
      const afterFirst = snapshot();
      // The same init works a second time, and a frozen init works at all.
      const second = await echo(f, base, init);
      const frozen = await echo(f, base, Object.freeze({ method: 'PUT', body: 'frozen' }));
      return { before, afterFirst, afterSecond: snapshot(), first, second: second.text, frozen: frozen.text };
    },
    (o) => {
      assert.deepEqual(o.afterFirst, o.before);
      assert.deepEqual(o.afterSecond, o.before);
      const r = onlyRequest(o.first);
      assert.equal(r.method, 'POST');
      assert.equal(r.body, '\x01\x02\x03');
      assert.equal(o.second, 'echo:POST /echo');
      assert.equal(o.frozen, 'echo:PUT /echo');
    },
  ),
];
