/** What the policy tests (test/policies/) share: quick retries, a fresh path per test, a quick close(). */
import { createResilientFetch, type ResilientFetchOptions } from '../../src/index.ts';
import type { RetryOptions } from '../../src/options/types.ts';

/** Fast retries with exact delays, for tests that are not about the delay. */
export const quick = { baseDelayMs: 20, jitter: 'none' } as const satisfies RetryOptions;

let pathCount = 0;
/** A path no other test uses. */
export const fresh = (name: string): string => `/${name}-${++pathCount}`;

/** A resilientFetch whose close() never waits long. */
export const create = (options: ResilientFetchOptions = {}) =>
  createResilientFetch({ drainTimeoutMs: 2_000, ...options });
