/** Contract cases: redirects followed, refused or handed back (method, body, headers, origins). */
import assert from 'node:assert/strict';
import {
  bytes,
  type Case,
  defineCase,
  describeResponse,
  echo,
  expectRejection,
  headerOf,
  other,
  pairs,
  seenBy,
} from '../../helpers/contract.ts';

/** POST with a body to a redirect of `status`, followed. */
function followCase(status: 301 | 302 | 303 | 307 | 308): Case {
  const keepsMethod = status === 307 || status === 308;
  return defineCase(
    `redirect: ${status} after POST is followed (${keepsMethod ? 'method and body resent' : 'becomes GET without body'})`,
    (f, base) =>
      echo(
        f,
        base,
        { method: 'POST', body: 'redirect-body', headers: { 'x-keep': 'k' } },
        `/redirect?status=${status}&to=echo%3Ffrom%3D${status}`,
      ),
    (o) => {
      assert.equal(o.seen.length, 2);
      const second = o.seen[1];
      assert.equal(second?.url, `/echo?from=${status}`);
      assert.equal(second?.method, keepsMethod ? 'POST' : 'GET');
      assert.equal(second?.body, keepsMethod ? 'redirect-body' : '');
      assert.equal(
        headerOf(second?.headers, 'content-type'),
        keepsMethod ? 'text/plain;charset=UTF-8' : undefined,
      );
      assert.equal(headerOf(second?.headers, 'x-keep'), 'k');
      assert.equal(o.response.redirected, true);
      assert.equal(o.response.url, `http://<host>/r/<run>/echo?from=${status}`);
    },
  );
}

export const redirectCases: Case[] = [
  followCase(301),
  followCase(302),
  followCase(303),
  followCase(307),
  followCase(308),
  defineCase(
    'redirect: to an absolute URL and to an absolute path (GET)',
    async (f, base) => {
      const absolute = await f(`${base}/redirect?status=302&to=${encodeURIComponent('@abs:/echo?abs=1')}`);
      const path = `${new URL(base).pathname}/echo%3Fpath%3D1`;
      const absolutePath = await f(`${base}/redirect?status=301&to=${path}`);
      return {
        absolute: { response: describeResponse(absolute), text: await absolute.text() },
        absolutePath: { response: describeResponse(absolutePath), text: await absolutePath.text() },
        seen: seenBy(base).map((r) => `${r.method} ${r.url}`),
      };
    },
    (o) => {
      assert.equal(o.absolute.text, 'echo:GET /echo?abs=1');
      assert.equal(o.absolute.response.url, 'http://<host>/r/<run>/echo?abs=1');
      assert.equal(o.absolute.response.redirected, true);
      assert.equal(o.absolutePath.text, 'echo:GET /echo?path=1');
      assert.equal(o.absolutePath.response.url, 'http://<host>/r/<run>/echo?path=1');
      assert.equal(o.seen.length, 4);
    },
  ),
  defineCase(
    'redirect: cross-origin (another port) drops authorization and cookie, keeps other headers',
    async (f, base) => {
      const otherBase = other.newBase();
      const res = await f(`${base}/redirect?status=302&to=${otherBase}/echo%3Fcross%3D1`, {
        headers: { authorization: 'Bearer secret', cookie: 'session=1', 'x-custom': 'kept' },
      });
      const observation = {
        response: describeResponse(res),
        text: await res.text(),
        first: seenBy(base),
        second: other
          .seen(otherBase)
          .map((r) => ({ method: r.method, url: r.url, headers: pairs(r.rawHeaders) })),
      };
      return JSON.parse(
        JSON.stringify(observation).split(otherBase).join('<other-base>'),
      ) as typeof observation;
    },
    (o) => {
      assert.equal(headerOf(o.first[0]?.headers, 'authorization'), 'Bearer secret');
      assert.equal(o.second.length, 1);
      assert.equal(o.second[0]?.url, '/echo?cross=1');
      assert.equal(headerOf(o.second[0]?.headers, 'authorization'), undefined);
      assert.equal(headerOf(o.second[0]?.headers, 'cookie'), undefined);
      assert.equal(headerOf(o.second[0]?.headers, 'x-custom'), 'kept');
      assert.equal(headerOf(o.second[0]?.headers, 'host'), '<other-host>');
      assert.equal(o.response.url, '<other-base>/echo?cross=1');
      assert.equal(o.response.redirected, true);
    },
  ),
  defineCase(
    "redirect: 'manual' returns the 3xx response",
    (f, base) => echo(f, base, { redirect: 'manual' }, '/redirect?status=301&to=echo'),
    (o) => {
      assert.equal(o.seen.length, 1);
      assert.equal(o.response.status, 301);
      assert.equal(o.response.redirected, false);
      assert.equal(o.response.headers.find(([n]) => n === 'location')?.[1], 'echo');
      assert.equal(o.response.url, 'http://<host>/r/<run>/redirect?status=301&to=echo');
    },
  ),
  defineCase(
    "redirect: 'error' rejects",
    async (f, base) => ({
      ...(await expectRejection(() => f(`${base}/redirect?status=302&to=echo`, { redirect: 'error' }))),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.equal(o.error?.cause?.message, 'unexpected redirect');
      assert.equal(o.seen, 1);
    },
  ),
  defineCase(
    'redirect: a loop rejects after 20 redirects',
    async (f, base) => ({
      ...(await expectRejection(() => f(`${base}/loop`))),
      seen: seenBy(base).length,
    }),
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.equal(o.error?.cause?.message, 'redirect count exceeded');
      assert.equal(o.seen, 21);
    },
  ),
  defineCase(
    'redirect: 307 with a stream body cannot be replayed and rejects',
    async (f, base) => {
      const body = new ReadableStream({
        start(c) {
          c.enqueue(bytes('stream-once'));
          c.close();
        },
      });
      return {
        ...(await expectRejection(() =>
          f(`${base}/redirect?status=307&to=echo`, { method: 'POST', body, duplex: 'half' }),
        )),
        seen: seenBy(base).map((r) => `${r.method} ${r.url} ${r.body}`),
      };
    },
    (o) => {
      assert.equal(o.error?.className, 'TypeError');
      assert.equal(o.error?.message, 'fetch failed');
      assert.deepEqual(o.seen, ['POST /redirect?status=307&to=echo stream-once']);
    },
  ),
];
