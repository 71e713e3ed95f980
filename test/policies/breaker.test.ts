/** The per-host circuit breaker as a state machine, with injected time (on real calls: breaker-fetch.test.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaults } from '../../src/options/defaults.ts';
import type { ResolvedBreaker } from '../../src/options/resolved.ts';
import { type BreakerTransition, createCircuitBreaker } from '../../src/policies/breaker.ts';

const breakerOptions = (over: Partial<ResolvedBreaker> = {}): ResolvedBreaker => ({
  ...defaults.circuitBreaker,
  ...over,
});

/** A breaker for host `h:1` that records its transitions. */
function newBreaker(over: Partial<ResolvedBreaker> = {}) {
  const transitions: string[] = [];
  const breaker = createCircuitBreaker('h:1', breakerOptions(over), (t: BreakerTransition) => {
    assert.equal(t.host, 'h:1');
    transitions.push(`${t.from}->${t.to}`);
  });
  return { breaker, transitions };
}

/** Runs one call through the breaker that ends in a failure; asserts it was admitted. */
function failCall(breaker: ReturnType<typeof createCircuitBreaker>, now: number): void {
  const admission = breaker.enter(now);
  assert.equal(admission.admitted, true, `a call at ${now} was refused`);
  breaker.failure(admission.admitted && admission.probe, now);
}

function succeedCall(breaker: ReturnType<typeof createCircuitBreaker>, now: number): void {
  const admission = breaker.enter(now);
  assert.equal(admission.admitted, true, `a call at ${now} was refused`);
  breaker.success(admission.admitted && admission.probe);
}

describe('createCircuitBreaker (state machine, injected time)', () => {
  const t0 = 1_000_000;

  it('opens after 5 consecutive failures by default, not after 4', () => {
    const { breaker, transitions } = newBreaker();
    for (let i = 0; i < 4; i++) failCall(breaker, t0);
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.enter(t0), { admitted: true, probe: false });
    breaker.failure(false, t0);
    assert.equal(breaker.state, 'open');
    assert.deepEqual(transitions, ['closed->open']);
  });

  it('a success in between starts the count again', () => {
    const { breaker } = newBreaker();
    for (let i = 0; i < 4; i++) failCall(breaker, t0);
    succeedCall(breaker, t0);
    for (let i = 0; i < 4; i++) failCall(breaker, t0);
    assert.equal(breaker.state, 'closed');
    failCall(breaker, t0);
    assert.equal(breaker.state, 'open');
  });

  it('stays open 5 minutes by default, refusing calls with the time of the next probe', () => {
    const { breaker } = newBreaker();
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    const retryAt = t0 + 300_000;
    assert.equal(breaker.retryAt, retryAt);
    assert.deepEqual(breaker.enter(t0 + 1), { admitted: false, state: 'open', retryAt });
    assert.deepEqual(breaker.enter(t0 + 299_999), { admitted: false, state: 'open', retryAt });
    assert.equal(breaker.state, 'open');
    assert.deepEqual(breaker.enter(t0 + 300_000), { admitted: true, probe: true });
    assert.equal(breaker.state, 'half-open');
    assert.equal(breaker.retryAt, undefined);
  });

  it('half-open lets one probe through; others fail fast; a successful probe closes and forgets the failures', () => {
    const { breaker, transitions } = newBreaker({ halfOpenAfterMs: 100 });
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    assert.deepEqual(breaker.enter(t0 + 100), { admitted: true, probe: true });
    assert.deepEqual(breaker.enter(t0 + 101), { admitted: false, state: 'half-open' });
    assert.deepEqual(breaker.enter(t0 + 10_000), { admitted: false, state: 'half-open' });
    breaker.success(true);
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->closed']);
    // The five failures that opened it are forgotten: four new ones do not re-open it.
    for (let i = 0; i < 4; i++) failCall(breaker, t0 + 200);
    assert.equal(breaker.state, 'closed');
    failCall(breaker, t0 + 200);
    assert.equal(breaker.state, 'open');
  });

  it('a failed probe re-opens it for another halfOpenAfterMs from the probe’s end', () => {
    const { breaker, transitions } = newBreaker({ halfOpenAfterMs: 100 });
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    assert.deepEqual(breaker.enter(t0 + 150), { admitted: true, probe: true });
    breaker.failure(true, t0 + 170);
    assert.equal(breaker.state, 'open');
    assert.equal(breaker.retryAt, t0 + 270);
    assert.deepEqual(breaker.enter(t0 + 269), { admitted: false, state: 'open', retryAt: t0 + 270 });
    assert.deepEqual(breaker.enter(t0 + 270), { admitted: true, probe: true });
    assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->open', 'open->half-open']);
  });

  it('an abandoned probe (the caller aborted) decides nothing: the next call probes', () => {
    const { breaker } = newBreaker({ halfOpenAfterMs: 100 });
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    assert.deepEqual(breaker.enter(t0 + 100), { admitted: true, probe: true });
    breaker.abandon(true);
    assert.equal(breaker.state, 'half-open');
    assert.deepEqual(breaker.enter(t0 + 101), { admitted: true, probe: true });
    assert.deepEqual(breaker.enter(t0 + 102), { admitted: false, state: 'half-open' });
  });

  it('late verdicts of calls admitted before it opened change nothing', () => {
    const { breaker } = newBreaker({ halfOpenAfterMs: 100 });
    const slow = breaker.enter(t0);
    assert.deepEqual(slow, { admitted: true, probe: false });
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    breaker.success(false);
    assert.equal(breaker.state, 'open', 'a slow success of a call admitted while closed closed it');
    assert.deepEqual(breaker.enter(t0 + 100), { admitted: true, probe: true });
    breaker.success(false);
    breaker.failure(false, t0 + 100);
    assert.equal(breaker.state, 'half-open', 'a non-probe verdict decided the half-open circuit');
    assert.deepEqual(breaker.enter(t0 + 101), { admitted: false, state: 'half-open' });
  });

  it('reset() closes an open circuit and forgets its failures', () => {
    const { breaker } = newBreaker();
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    breaker.reset();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.enter(t0 + 1), { admitted: true, probe: false });
    breaker.failure(false, t0 + 1);
    assert.equal(breaker.state, 'closed');
  });

  it('isolate() holds it open until the last release; a release counts once', () => {
    const { breaker } = newBreaker({ halfOpenAfterMs: 0 });
    const first = breaker.isolate();
    const second = breaker.isolate();
    assert.equal(breaker.state, 'isolated');
    assert.deepEqual(breaker.enter(t0 + 1_000_000), { admitted: false, state: 'isolated' });
    first();
    first();
    assert.equal(breaker.state, 'isolated', 'a second call of the same release freed another isolation');
    second();
    assert.equal(breaker.state, 'closed');
    assert.deepEqual(breaker.enter(t0), { admitted: true, probe: false });
  });

  it('isolating an open circuit holds it; releasing closes it', () => {
    const { breaker } = newBreaker({ halfOpenAfterMs: 100 });
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    const release = breaker.isolate();
    assert.deepEqual(breaker.enter(t0 + 1_000), { admitted: false, state: 'isolated' });
    release();
    assert.equal(breaker.state, 'closed');
  });

  it('after reset() ends an isolation, a later isolate() is still released by its own release function', () => {
    const { breaker } = newBreaker();
    const stale = breaker.isolate();
    breaker.reset();
    stale();
    const release = breaker.isolate();
    release();
    assert.equal(breaker.state, 'closed');
  });

  it('a throwing transition listener does not break the breaker', () => {
    const breaker = createCircuitBreaker('h:1', breakerOptions({ consecutiveFailures: 1 }), () => {
      throw new Error('listener');
    });
    failCall(breaker, t0);
    assert.equal(breaker.state, 'open');
  });

  it('sampling mode opens on the failure ratio once the window has enough calls', () => {
    // 0.5 calls/s over 10 s: at least 5 calls before the ratio is looked at.
    const sampling = { mode: 'sampling', failureRatio: 0.5, windowMs: 10_000, minimumRps: 0.5 } as const;
    const { breaker } = newBreaker(sampling);
    for (let i = 0; i < 4; i++) failCall(breaker, t0);
    assert.equal(breaker.state, 'closed', 'opened below minimumRps');
    failCall(breaker, t0);
    assert.equal(breaker.state, 'open');

    const { breaker: healthy } = newBreaker(sampling);
    for (let i = 0; i < 6; i++) succeedCall(healthy, t0);
    for (let i = 0; i < 4; i++) failCall(healthy, t0);
    assert.equal(healthy.state, 'closed', 'opened at 40 % failures');
    // 7 failures in 13 calls (54 %) is above the ratio, whatever the boundary rule.
    for (let i = 0; i < 3; i++) failCall(healthy, t0);
    assert.equal(healthy.state, 'open', 'still closed at 54 % failures');
  });

  it('sampling mode opens when the failure ratio exceeds failureRatio, as documented', () => {
    const { breaker } = newBreaker({
      mode: 'sampling',
      failureRatio: 0.5,
      windowMs: 10_000,
      minimumRps: 0.5,
    });
    for (let i = 0; i < 5; i++) succeedCall(breaker, t0);
    for (let i = 0; i < 5; i++) failCall(breaker, t0);
    assert.equal(breaker.state, 'closed', 'exactly 0.5 does not exceed 0.5');
    failCall(breaker, t0);
    assert.equal(breaker.state, 'open', '6 of 11 exceeds 0.5');
  });

  it('sampling mode with minimumRps 0 needs no minimum number of calls', () => {
    const { breaker } = newBreaker({ mode: 'sampling', failureRatio: 0.5, windowMs: 10_000, minimumRps: 0 });
    for (let i = 0; i < 10; i++) if (breaker.state === 'closed') failCall(breaker, t0);
    assert.equal(breaker.state, 'open');
  });
});
