/**
 * Per-host configuration for three realistic upstreams, with the reasoning next to each setting:
 *
 *   - an LLM API (`api.openai.com`): slow first bytes, long streamed bodies, 429/503 with Retry-After,
 *     POSTs made retryable by an Idempotency-Key the caller sends;
 *   - a speech-to-text API (`speech.googleapis.com`): uploads of audio that must be replayable, answers in
 *     seconds;
 *   - an internal service (`payments.internal:8443`): fast, private CA, must never be hammered while it is
 *     down, and its writes are never retried.
 *
 *   node examples/per-host.ts      # prints the resolved policy of each host (no network calls)
 *
 * The object below is an ordinary `ResilientFetchOptions`: type-checked by `npm test` (tsc) and validated
 * by `resolveOptions()` when the example runs.
 */
// In an app: import { createResilientFetch, resolveOptions, type ResilientFetchOptions } from 'resilient-fetch';
import { createResilientFetch, type ResilientFetchOptions, resolveOptions } from '../src/index.ts';

export const upstreamOptions = {
  // Everything not overridden below: 2 retries, 10 s per attempt, 30 s per call.
  retry: { maxRetries: 2, baseDelayMs: 200, maxDelayMs: 5_000 },
  timeout: { attemptMs: 10_000, deadlineMs: 30_000 },
  health: { windowMs: 60_000, minCalls: 20 },
  telemetry: { maxHosts: 50 },
  hosts: {
    // LLM API: a completion may take a minute before its first byte and stream for minutes after it.
    'api.openai.com': {
      pool: { connections: 64, allowH2: true, bodyTimeoutMs: 120_000 },
      timeout: { attemptMs: 120_000, deadlineMs: 300_000 },
      retry: {
        maxRetries: 4,
        baseDelayMs: 1_000,
        maxDelayMs: 60_000, // 429s come with Retry-After of tens of seconds: wait for it rather than fail
        jitter: 'full', // many workers hitting one rate limit: spread them out
        statuses: [408, 429, 500, 502, 503, 504],
        // POST /v1/chat/completions is retried only when the caller sends an Idempotency-Key header.
        retryNonIdempotent: false,
        budget: { ratio: 0.1, windowMs: 10_000, minRetriesPerSecond: 2 },
      },
      // Sampling: a few slow failures among many calls should not open the circuit; half of them should.
      circuitBreaker: {
        mode: 'sampling',
        failureRatio: 0.5,
        windowMs: 60_000,
        minimumRps: 1,
        halfOpenAfterMs: 30_000,
        // A 429 is the provider's rate limit, not an outage: only 5xx count against the circuit.
        isFailureStatus: (status: number) => status >= 500,
      },
    },
    // Speech API: audio uploads of up to a few MiB, answers in seconds.
    'speech.googleapis.com': {
      pool: { connections: 16, allowH2: true },
      timeout: { attemptMs: 30_000, deadlineMs: 90_000, deadlineCoversBody: true },
      retry: {
        maxRetries: 2,
        baseDelayMs: 500,
        // Keep up to 8 MiB of a streamed audio body so a retry can send it again.
        bufferBodyBytes: 8 * 1024 * 1024,
      },
      circuitBreaker: { consecutiveFailures: 5, halfOpenAfterMs: 15_000 },
    },
    // Internal service behind a private CA: fast, so short timeouts; writes are never retried.
    'payments.internal:8443': {
      pool: {
        connections: 32,
        connectTimeoutMs: 1_000,
        headersTimeoutMs: 2_000,
        // tls: { ca: readFileSync('/etc/ssl/internal-ca.pem') },
      },
      timeout: { attemptMs: 2_000, deadlineMs: 5_000 },
      retry: { maxRetries: 1, baseDelayMs: 50, retryNonIdempotent: false },
      // Fail fast while it is down: 3 failed calls open the circuit, one probe every 10 s.
      circuitBreaker: { consecutiveFailures: 3, halfOpenAfterMs: 10_000 },
    },
  },
} satisfies ResilientFetchOptions;

/** One fetch for the whole app, configured per host. */
export const createUpstreamFetch = () => createResilientFetch(upstreamOptions);

if (import.meta.main) {
  const resolved = resolveOptions(upstreamOptions);
  for (const [host, policy] of resolved.hosts) {
    const retry = policy.retry === false ? 'no retries' : `up to ${policy.retry.maxRetries} retries`;
    const breaker =
      policy.circuitBreaker === false
        ? 'no breaker'
        : `${policy.circuitBreaker.mode} breaker, probe after ${policy.circuitBreaker.halfOpenAfterMs} ms`;
    console.log(
      `${host}: attempt ${policy.timeout.attemptMs} ms, deadline ${policy.timeout.deadlineMs} ms, ${retry}, ${breaker}, ${policy.pool.connections} connections`,
    );
  }
}
