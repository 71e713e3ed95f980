/** Contract cases: how init is read, the global dispatcher, and other integration with the platform. */
import assert from 'node:assert/strict';
import { Agent, type Dispatcher, Dispatcher1Wrapper, setGlobalDispatcher } from 'undici';
import { type Case, defineCase, seenBy } from '../../helpers/contract.ts';
import { settle } from '../../helpers/settle.ts';

/** An undici 8 Agent whose interceptor records the path of every request it dispatches. */
function countingAgent() {
  const paths: string[] = [];
  const agent = new Agent().compose(
    (dispatch) => (options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => {
      paths.push(options.path);
      return dispatch(options, handler);
    },
  );
  return { agent, paths };
}

const globalDispatcherSlots = [
  Symbol.for('undici.globalDispatcher.1'),
  Symbol.for('undici.globalDispatcher.2'),
];

export const integrationCases: Case[] = [
  defineCase(
    'init is read as WebIDL reads a dictionary: each member once, in lexicographic order',
    async (f, base) => {
      const reads: string[] = [];
      const init = new Proxy({ method: 'POST', body: 'proxied', headers: { 'x-p': '1' } } as RequestInit, {
        get(target, key, receiver) {
          if (typeof key === 'string') reads.push(key);
          return Reflect.get(target, key, receiver);
        },
      });
      const res = await f(`${base}/echo`, init);
      const text = await res.text();
      // With two throwing getters, the member read first decides the rejection.
      const methodError = new Error('method getter');
      const bodyError = new Error('body getter');
      const throwing = {
        get method(): string {
          throw methodError;
        },
        get body(): string {
          throw bodyError;
        },
      };
      const out = await settle(f(`${base}/echo`, throwing));
      const rejectedWith =
        out.status === 'fulfilled'
          ? 'resolved'
          : out.reason === bodyError
            ? 'body'
            : out.reason === methodError
              ? 'method'
              : 'other';
      // `resilience` is resilientFetch's own init extension (per-request policy), read once on top.
      const fetchReads = reads.filter((key) => key !== 'resilience');
      return { reads: fetchReads, text, rejectedWith, seen: seenBy(base).length };
    },
    (o) => {
      assert.deepEqual(o.reads, [...o.reads].sort());
      assert.equal(new Set(o.reads).size, o.reads.length);
      assert.ok(o.reads.includes('method') && o.reads.includes('signal') && o.reads.includes('dispatcher'));
      assert.equal(o.text, 'echo:POST /echo');
      assert.equal(o.rejectedWith, 'body');
      assert.equal(o.seen, 1);
    },
  ),
  defineCase(
    "a per-call init.dispatcher (Node's fetch extension) carries the request",
    async (f, base) => {
      const { agent, paths } = countingAgent();
      try {
        const init = { dispatcher: new Dispatcher1Wrapper(agent) } as unknown as RequestInit;
        const res = await f(`${base}/echo?via=dispatcher`, init);
        return { status: res.status, text: await res.text(), paths };
      } finally {
        await agent.close();
      }
    },
    (o) => {
      assert.equal(o.text, 'echo:GET /echo?via=dispatcher');
      assert.deepEqual(o.paths, ['/r/<run>/echo?via=dispatcher']);
    },
  ),
  defineCase(
    "an app-wide dispatcher set with undici's setGlobalDispatcher() (ProxyAgent, MockAgent, ...) is used",
    async (f, base) => {
      const slots = globalThis as unknown as Record<symbol, unknown>;
      const saved = globalDispatcherSlots.map((slot) => slots[slot]);
      const { agent, paths } = countingAgent();
      try {
        setGlobalDispatcher(agent);
        const res = await f(`${base}/echo?via=global`);
        return { status: res.status, text: await res.text(), paths };
      } finally {
        globalDispatcherSlots.forEach((slot, i) => {
          slots[slot] = saved[i];
        });
        await agent.close();
      }
    },
    (o) => {
      assert.equal(o.text, 'echo:GET /echo?via=global');
      assert.deepEqual(o.paths, ['/r/<run>/echo?via=global']);
    },
  ),
];
