/** Contract cases: hand-written responses (odd or broken on the wire), and how fetch fails on them. */
import assert from 'node:assert/strict';
import {
  type Case,
  defineCase,
  describeError,
  describeResponse,
  type ErrorObservation,
} from '../../helpers/contract.ts';
import type { RawResponseKind } from '../../helpers/contract-server.ts';
import { settle } from '../../helpers/settle.ts';

/** Fetches a hand-written response and reads its body; records every way it can fail. */
function rawCase(kind: RawResponseKind, check: (native: RawObservation) => void): Case {
  return defineCase(
    `wire: ${kind} response`,
    async (f, base) => {
      const out = await settle(f(`${base}/raw?kind=${kind}`));
      if (out.status === 'rejected') return { fetch: describeError(out.reason), body: null };
      const body = await settle(out.value.text());
      return {
        fetch: describeResponse(out.value),
        body: body.status === 'fulfilled' ? { text: body.value } : describeError(body.reason),
      };
    },
    check,
  );
}

interface RawObservation {
  fetch: ErrorObservation | ReturnType<typeof describeResponse>;
  body: ErrorObservation | { text: string } | null;
}

const failedWith = (o: RawObservation, cause: RegExp) => {
  const error = o.fetch as ErrorObservation;
  assert.equal(error.className, 'TypeError');
  assert.equal(error.message, 'fetch failed');
  assert.match(String(error.cause?.message), cause);
};

const bodyFailedWith = (o: RawObservation, cause: RegExp) => {
  assert.equal((o.fetch as ReturnType<typeof describeResponse>).status, 200);
  const error = o.body as ErrorObservation;
  assert.equal(error.className, 'TypeError');
  assert.equal(error.message, 'terminated');
  assert.match(String(error.cause?.message), cause);
};

export const wireCases: Case[] = [
  rawCase('until-close', (o) => assert.deepEqual(o.body, { text: 'body until close' })),
  rawCase('http-1.0', (o) => {
    assert.equal((o.fetch as ReturnType<typeof describeResponse>).statusText, 'Fine');
    assert.deepEqual(o.body, { text: 'old protocol' });
  }),
  rawCase('bad-status', (o) => failedWith(o, /Invalid status code/)),
  rawCase('bad-header-name', (o) => failedWith(o, /Invalid header token/)),
  rawCase('nul-in-header-value', (o) => failedWith(o, /Invalid header value char/)),
  rawCase('not-http', (o) => failedWith(o, /Expected HTTP\//)),
  rawCase('two-content-lengths', (o) => failedWith(o, /content-length/)),
  rawCase('bad-chunk', (o) => bodyFailedWith(o, /Invalid character in chunk size/)),
  rawCase('bad-gzip', (o) => bodyFailedWith(o, /incorrect header check/)),
];
