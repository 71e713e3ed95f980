/** Contract cases: the other URL schemes fetch reads itself (data: and blob: URLs). */
import assert from 'node:assert/strict';
import { type Case, defineCase, describeResponse, expectRejection } from '../../helpers/contract.ts';

export const schemeCases: Case[] = [
  defineCase(
    'data: URLs (base64 and percent-encoded)',
    async (f) => {
      const out = [];
      for (const url of ['data:text/plain;base64,aGVsbG8=', 'data:,a%20b', 'data:application/json,{"x":1}']) {
        const res = await f(url);
        out.push({ response: describeResponse(res), text: await res.text() });
      }
      return out;
    },
    (o) => {
      assert.equal(o[0]?.text, 'hello');
      assert.equal(o[0]?.response.status, 200);
      assert.deepEqual(o[0]?.response.headers, [['content-type', 'text/plain']]);
      assert.equal(o[1]?.text, 'a b');
      assert.equal(o[2]?.response.url, 'data:application/json,{"x":1}');
    },
  ),
  defineCase(
    'blob: URLs (URL.createObjectURL), and a revoked one',
    async (f) => {
      const url = URL.createObjectURL(new Blob(['blob body'], { type: 'text/x-blob' }));
      try {
        const res = await f(url);
        const text = await res.text();
        const response = describeResponse(res);
        URL.revokeObjectURL(url);
        const revoked = await expectRejection(() => f(url));
        // The uuid in a blob: URL is random per run.
        return JSON.parse(JSON.stringify({ response, text, revoked }).split(url).join('<blob-url>')) as {
          response: ReturnType<typeof describeResponse>;
          text: string;
          revoked: Awaited<ReturnType<typeof expectRejection>>;
        };
      } finally {
        URL.revokeObjectURL(url);
      }
    },
    (o) => {
      assert.equal(o.text, 'blob body');
      assert.equal(o.response.url, '<blob-url>');
      assert.ok(o.response.headers.some(([n, v]) => n === 'content-type' && v === 'text/x-blob'));
      assert.equal(o.revoked.error?.className, 'TypeError');
    },
  ),
];
