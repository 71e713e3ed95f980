/**
 * The path of one call through an instance: refused once closed, inputs fetch would refuse handed to
 * Node's fetch untouched, the init read once, the host's state looked up, the policies run, and the
 * call's one outcome recorded (telemetry, the host's health) before the breaker's verdict is applied.
 */
import type { Dispatcher } from '../dispatch/undici.ts';
import { ClosedError } from '../errors.ts';
import { hostOfUrl } from '../hosts/key.ts';
import { resolveRequestPolicy } from '../options/resolve.ts';
import type { HostPolicy, ResolvedOptions } from '../options/resolved.ts';
import type { ResilientRequestInit } from '../options/types.ts';
import { outcomeOfError, outcomeOfResponse } from '../outcome/record.ts';
import type { Call } from '../policies/call.ts';
import type { LoopEnv } from '../policies/retry-loop.ts';
import { runCall, type Verdict } from '../policies/run-call.ts';
import type { Telemetry } from '../telemetry/telemetry.ts';
import { nativeFetch } from '../transport/node-fetch.ts';
import { type CallInit, hrefOf, isDictionary, normaliseInit } from '../transport/request-shape.ts';
import type { Transport } from '../transport/types.ts';
import type { HealthBoard } from './health-board.ts';
import type { HostRegistry, HostState } from './host-registry.ts';
import type { Lifecycle } from './lifecycle.ts';

type AnyFetch = (...args: unknown[]) => Promise<Response>;

/** The parts a call goes through, built once per instance (see `create.ts`). */
export interface CallParts {
  readonly options: ResolvedOptions;
  readonly lifecycle: Lifecycle;
  readonly hosts: HostRegistry;
  readonly health: HealthBoard;
  readonly telemetry: Telemetry;
  readonly transport: Transport;
  /** What calls dispatch to: the total cap in front of the pools. */
  readonly dispatcher: Dispatcher;
  readonly env: LoopEnv;
}

export class Calls {
  readonly #parts: CallParts;

  constructor(parts: CallParts) {
    this.#parts = parts;
  }

  readonly #settled = (response: Response): Response => {
    this.#parts.lifecycle.leave();
    return response;
  };

  readonly #failed = (error: unknown): never => {
    this.#parts.lifecycle.leave();
    throw error;
  };

  /** One call; `argc` is the caller's argument count (native fetch tells 0 from an undefined input). */
  fetch(argc: number, input: string | URL | Request, init?: ResilientRequestInit): Promise<Response> {
    const { lifecycle } = this.#parts;
    if (lifecycle.state !== 'open') return Promise.reject(new ClosedError());
    // Inputs fetch would refuse are handed to Node's fetch untouched, so they reject exactly as there.
    if (argc === 0) return (nativeFetch as AnyFetch)();
    if (!isDictionary(init)) return (nativeFetch as AnyFetch)(input, init);
    lifecycle.enter();
    let pending: Promise<Response>;
    try {
      pending = this.#start(input, init, normaliseInit(input, init, this.#parts.dispatcher));
    } catch (error) {
      // A throwing getter on the caller's init: fetch would reject with that error too.
      pending = Promise.reject(error);
    }
    return pending.then(this.#settled, this.#failed);
  }

  #start(
    input: string | URL | Request,
    init: ResilientRequestInit | undefined,
    call: CallInit,
  ): Promise<Response> {
    const href = hrefOf(input);
    // The URL as it is now, as fetch reads it at call time: a URL object the caller changes later
    // must not change where the call (or its retries) go.
    const target = input instanceof Request ? input : href;
    const host = hostOfUrl(href);
    // data:, blob:, and URLs fetch will refuse: no host, no policy; Node's fetch answers as it does.
    if (host === undefined)
      return this.#parts.transport({ input: target, init: call.init, signal: call.signal });
    const state = this.#parts.hosts.get(host);
    const extra = init?.resilience;
    const policy =
      extra === undefined ? state.policy : resolveRequestPolicy(state.policy, extra, this.#parts.options);
    const now = Date.now();
    state.active++;
    state.lastUsedAt = now;
    const method = String(
      call.init.method ?? (target instanceof Request ? target.method : 'GET'),
    ).toUpperCase();
    return this.#run(
      {
        input: target,
        init: call.init,
        signal: call.signal,
        method,
        host,
        href,
        allowH2: policy.pool.allowH2,
        startedAt: now,
        attempts: 0,
        sent: 0,
        hopHost: undefined,
        pacedOut: false,
      },
      state,
      policy,
    );
  }

  async #run(call: Call, state: HostState, policy: HostPolicy): Promise<Response> {
    // The breaker's verdict is applied after the outcome is recorded, so that a circuit move (and the
    // health change it triggers) sees the call that caused it.
    const verdict: Verdict = { apply: undefined };
    let response: Response;
    try {
      response = await runCall(this.#parts.env, call, state, policy, verdict);
    } catch (error) {
      this.#record(state, outcomeOfError(call, error));
      verdict.apply?.();
      throw error;
    }
    this.#record(state, outcomeOfResponse(call, response));
    verdict.apply?.();
    return response;
  }

  #record(state: HostState, outcome: Parameters<Telemetry['outcome']>[0]): void {
    this.#parts.telemetry.outcome(outcome);
    state.active--;
    state.health.record(outcome);
    this.#parts.health.refresh(state);
  }
}
