/**
 * createResilientFetch(): the fetch-shaped function. Today's layers: lifecycle -> transport (Node's
 * fetch over per-host undici pools). Policies and telemetry slot in between, on `OutboundRequest`.
 */
import { ClosedError, DestroyedError } from './errors.ts';
import { createLifecycle, type LifecycleState } from './lifecycle.ts';
import {
  type CloseOptions,
  type ResilientFetchOptions,
  resolveCloseOptions,
  resolveOptions,
} from './options.ts';
import { createPools, type OriginPoolStats } from './pools.ts';
import { createNodeFetchTransport, isDictionary, nativeFetch, normaliseInit } from './transport.ts';

export interface ResilientFetchStats {
  /** `open`, then `closing` while `close()` drains, then `closed`. */
  readonly state: LifecycleState;
  /** Calls whose promise has not settled yet. */
  readonly inFlight: number;
  /** One entry per origin with a live pool, keyed by origin. */
  readonly pools: Record<string, OriginPoolStats>;
}

export interface ResilientFetchMethods {
  /**
   * Graceful shutdown: new calls reject with `ClosedError` (code `ERR_RF_CLOSED`); in-flight calls and
   * their response bodies finish; then the pools close. If that takes longer than `drainTimeoutMs`, what
   * is left is destroyed. Resolves when nothing is left that keeps the process alive. Idempotent.
   */
  close(options?: CloseOptions): Promise<void>;
  /**
   * Ends every in-flight call at once: a call waiting for its response rejects with
   * `TypeError('fetch failed')` whose cause is a `DestroyedError` (code `ERR_RF_DESTROYED`); a body
   * being read errors with that cause. Idempotent.
   */
  destroy(): Promise<void>;
  /** A snapshot of the instance: lifecycle state, calls in flight, per-origin pool statistics. */
  stats(): ResilientFetchStats;
  /** `await using rfetch = createResilientFetch()` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void>;
}

/** A drop-in replacement for the global fetch, with lifecycle methods. */
export type ResilientFetch = typeof globalThis.fetch & ResilientFetchMethods;

type AnyFetch = (...args: unknown[]) => Promise<Response>;

export function createResilientFetch(options: ResilientFetchOptions = {}): ResilientFetch {
  const resolved = resolveOptions(options);
  const pools = createPools(resolved.pool);
  const transport = createNodeFetchTransport();
  const lifecycle = createLifecycle();
  let closing: Promise<void> | undefined;
  let destroying: Promise<void> | undefined;

  const onSettled = (response: Response): Response => {
    lifecycle.leave();
    return response;
  };
  const onFailed = (error: unknown): never => {
    lifecycle.leave();
    throw error;
  };

  function resilientFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    if (lifecycle.state !== 'open') return Promise.reject(new ClosedError());
    // Inputs fetch would refuse are handed to Node's fetch untouched, so they reject exactly as there.
    // biome-ignore lint/complexity/noArguments: native fetch tells 0 arguments from an undefined input.
    if (arguments.length === 0) return (nativeFetch as AnyFetch)();
    if (!isDictionary(init)) return (nativeFetch as AnyFetch)(input, init);
    lifecycle.enter();
    let pending: Promise<Response>;
    try {
      pending = transport({ input, init: normaliseInit(init, pools.dispatcher) });
    } catch (error) {
      // A throwing getter on the caller's init: fetch would reject with that error too.
      pending = Promise.reject(error);
    }
    return pending.then(onSettled, onFailed);
  }

  function destroy(reason = 'destroy() was called'): Promise<void> {
    if (!destroying) {
      lifecycle.beginClose();
      destroying = pools.destroy(new DestroyedError(reason)).then(() => lifecycle.finishClose());
    }
    return destroying;
  }

  function close(closeOptions?: CloseOptions): Promise<void> {
    const { force, drainTimeoutMs } = resolveCloseOptions(closeOptions, resolved.drainTimeoutMs);
    if (force) return destroy();
    if (destroying) return destroying;
    closing ??= drain(drainTimeoutMs);
    return closing;
  }

  async function drain(drainTimeoutMs: number): Promise<void> {
    lifecycle.beginClose();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(resolve, drainTimeoutMs, 'timeout');
    });
    // pools.close() rejects only when destroy() overtook it; the destroy is then what we wait for.
    const drained = lifecycle
      .idle()
      .then(() => pools.close())
      .catch(() => destroying);
    const winner = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    if (winner === 'timeout') {
      await destroy(`close() waited drainTimeoutMs (${drainTimeoutMs} ms) and the call had not finished`);
    }
    await destroying;
    lifecycle.finishClose();
  }

  const methods: ResilientFetchMethods = {
    close,
    destroy: () => destroy(),
    stats: () => ({ state: lifecycle.state, inFlight: lifecycle.inFlight, pools: pools.stats() }),
    [Symbol.asyncDispose]: () => close(),
  };
  return Object.assign(resilientFetch, methods);
}
