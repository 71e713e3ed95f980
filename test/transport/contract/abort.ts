/** Contract cases: aborts (before, while waiting, while reading; timeouts; the Request's own signal). */
import assert from 'node:assert/strict';
import {
  type Case,
  callShape,
  defineCase,
  describeError,
  getReader,
  readUntil,
  seenBy,
  server,
} from '../../helpers/contract.ts';
import { settle } from '../../helpers/settle.ts';

/** Starts a call to `path`, aborts `controller` with `reason` once the server has the request. */
async function abortWhileWaiting(f: typeof fetch, base: string, reason: unknown, path = '/hang') {
  const controller = new AbortController();
  const pending = f(`${base}${path}`, { signal: controller.signal });
  const arrived = await server.waitForRequests(base, 1);
  controller.abort(reason);
  const out = await settle(pending);
  return {
    arrived,
    error: out.status === 'fulfilled' ? null : describeError(out.reason),
    sameReason: out.status === 'rejected' && out.reason === reason,
    signalReasonSame: controller.signal.reason === reason,
  };
}

export const abortCases: Case[] = [
  defineCase(
    'abort: an already-aborted signal rejects with signal.reason (the same object) and sends nothing',
    async (f, base) => {
      const reason = new Error('already stopped');
      const returned = callShape(() => f(`${base}/echo`, { signal: AbortSignal.abort(reason) }));
      if (!(returned instanceof Promise))
        return { returnedPromise: false, thrown: describeError(returned.thrown) };
      const out = await settle(returned);
      return {
        returnedPromise: true,
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === reason,
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.returnedPromise, true);
      assert.equal(o.sameReason, true);
      assert.equal(o.seen, 0);
    },
  ),
  defineCase(
    'abort: an already-aborted signal without a reason rejects with an AbortError DOMException',
    async (f, base) => {
      const controller = new AbortController();
      controller.abort();
      const out = await settle(f(`${base}/echo`, { signal: controller.signal }));
      return {
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === controller.signal.reason,
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.error?.className, 'DOMException');
      assert.equal(o.error?.name, 'AbortError');
      assert.equal(o.sameReason, true);
    },
  ),
  defineCase(
    'abort: while waiting for the response headers',
    (f, base) => abortWhileWaiting(f, base, new Error('user cancelled')),
    (o) => {
      assert.equal(o.arrived, true);
      assert.equal(o.sameReason, true);
      assert.equal(o.error?.message, 'user cancelled');
    },
  ),
  defineCase(
    'abort: a reason that is not an Error (a string) is the rejection value',
    (f, base) => abortWhileWaiting(f, base, 'just a string'),
    (o) => {
      assert.equal(o.sameReason, true);
      assert.deepEqual(o.error, { kind: 'string', value: 'just a string' });
    },
  ),
  defineCase(
    'abort: while reading the body (the read rejects with the reason)',
    async (f, base) => {
      const controller = new AbortController();
      const reason = new Error('stop reading');
      const res = await f(`${base}/headers-then-hang`, { signal: controller.signal });
      const reader = getReader(res);
      const first = await readUntil(reader, 'partial;');
      controller.abort(reason);
      const read = await settle(reader.read());
      return {
        status: res.status,
        first,
        read: read.status === 'fulfilled' ? { done: read.value.done } : describeError(read.reason),
        sameReason: read.status === 'rejected' && read.reason === reason,
      };
    },
    (o) => {
      assert.equal(o.first, 'partial;');
      assert.equal(o.sameReason, true);
    },
  ),
  defineCase(
    'abort: AbortSignal.timeout(ms) rejects with a TimeoutError DOMException',
    async (f, base) => {
      const signal = AbortSignal.timeout(40);
      const out = await settle(f(`${base}/hang`, { signal }));
      return {
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === signal.reason,
        seen: seenBy(base).length,
      };
    },
    (o) => {
      assert.equal(o.error?.className, 'DOMException');
      assert.equal(o.error?.name, 'TimeoutError');
      assert.equal(o.error?.code, 23);
      assert.equal(o.sameReason, true);
      assert.equal(o.seen, 1);
    },
  ),
  defineCase(
    "abort: through the Request's own signal",
    async (f, base) => {
      const controller = new AbortController();
      const reason = new Error('request signal');
      const request = new Request(`${base}/hang`, { signal: controller.signal });
      const pending = f(request);
      const arrived = await server.waitForRequests(base, 1);
      controller.abort(reason);
      const out = await settle(pending);
      return {
        arrived,
        error: out.status === 'fulfilled' ? null : describeError(out.reason),
        sameReason: out.status === 'rejected' && out.reason === reason,
        requestSignalAborted: request.signal.aborted,
      };
    },
    (o) => {
      assert.equal(o.arrived, true);
      assert.equal(o.sameReason, true);
      assert.equal(o.requestSignalAborted, true);
    },
  ),
];
