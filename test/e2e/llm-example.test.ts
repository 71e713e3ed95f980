/**
 * examples/llm-api.ts, run as a user would run it: the retry after `retry-after-ms` with one
 * Idempotency-Key, the calls paced to the window's reset with no 429 collected, the 503 with x-should-retry: false not retried,
 * and the process exiting by itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runInChild } from '../helpers/child.ts';

describe('examples/llm-api.ts', () => {
  it('retries with one key, paces to the reset (no 429), does not retry x-should-retry: false, exits', async () => {
    const result = await runInChild(['examples/llm-api.ts'], { timeoutMs: 20_000 });
    assert.equal(result.timedOut, false, 'the example exits by itself');
    assert.equal(result.code, 0, result.stderr);
    const out = result.stdout;
    const key = /Idempotency-Key (\S+) and (\S+)/.exec(out);
    assert.ok(key && key[1] === key[2] && key[1] !== 'undefined', out);
    // 2 attempts for call 1, one each for calls 2 to 4, and one for call 5: its 503 was not retried.
    assert.match(out, /requests the server got: 6; 429s it sent: 0/);
    assert.match(out, /call 5 .*\): 503 "overloaded: do not retry"/);
    const at = (n: number) => Number(new RegExp(`(\\d+) ms  call ${n}`).exec(out)?.[1]);
    assert.ok(at(1) >= 250, `call 1 waited the 250 ms asked: ${at(1)}`);
    // Calls 3 and 4 waited for the window that call 2 exhausted (1.5 s windows).
    assert.ok(at(3) - at(2) >= 600, `call 3 paced: ${at(2)} -> ${at(3)}\n${out}`);
    assert.equal((out.match(/: 200 "Hello from the model\."/g) ?? []).length, 4, out);
  });
});
