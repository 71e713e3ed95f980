/** What the tests read of an error: fetch's network failure, a timeout, the codes in its cause chain. */
import assert from 'node:assert/strict';

/** The error's `cause` chain as an array, outermost first. */
export function causes(error: unknown): unknown[] {
  const out: unknown[] = [];
  let current = error;
  while (current !== undefined && current !== null && out.length < 10) {
    out.push(current);
    current = (current as { cause?: unknown }).cause;
  }
  return out;
}

/** The `code` of each error in the cause chain, outermost first (undefined where one has none). */
export const codes = (error: unknown): unknown[] => causes(error).map((e) => (e as { code?: unknown }).code);

/** A DOMException named TimeoutError, as `AbortSignal.timeout()` rejects with. */
export const isTimeoutError = (error: unknown): boolean =>
  error instanceof DOMException && error.name === 'TimeoutError';

/** Asserts `error` is fetch's network failure: TypeError('fetch failed') with a cause. */
export function assertFetchFailed(error: unknown): void {
  assert.ok(error instanceof TypeError, `expected a TypeError, got ${String(error)}`);
  assert.equal(error.message, 'fetch failed');
  assert.ok(error.cause !== undefined, 'the network error is kept as cause');
}
