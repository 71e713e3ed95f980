/**
 * `createResilientFetch()`: wiring only. Layers, top down: the instance (lifecycle, host registry,
 * health) -> per-host policies (breaker, retry loop, deadline, attempt timeout) -> transport (the fast
 * transport, else Node's fetch) -> dispatch (the total cap, per-host undici pools, the DNS cache).
 */
import { isOwnDispatcher, markOwnDispatcher } from '../dispatch/own.ts';
import { createPools, type PoolSet } from '../dispatch/pools.ts';
import { createLimiter, type Limiter } from '../dispatch/queue.ts';
import type { Dispatcher } from '../dispatch/undici.ts';
import { HostTable } from '../hosts/patterns.ts';
import { resolveOptions } from '../options/resolve.ts';
import type { HostPolicy, ResolvedOptions } from '../options/resolved.ts';
import type { ResilientFetchOptions, ResilientRequestInit } from '../options/types.ts';
import { createQueueTelemetry } from '../telemetry/queue-metrics.ts';
import { Telemetry } from '../telemetry/telemetry.ts';
import { createFastTransport } from '../transport/fast/transport.ts';
import { createNodeFetchTransport } from '../transport/node-fetch.ts';
import { Calls } from './calls.ts';
import { HealthBoard } from './health-board.ts';
import { HostRegistry } from './host-registry.ts';
import { Instance, methodNames } from './instance.ts';
import { Lifecycle, type Teardown } from './lifecycle.ts';
import { warnIfVerifyOff } from './tls-warning.ts';
import type { ResilientFetch } from './types.ts';

/** The total cap in front of the pools, when `limits` is on. */
function createCap(options: ResolvedOptions, inner: Dispatcher): Limiter | undefined {
  if (!options.limits) return undefined;
  let limiter: Limiter | undefined;
  const queueTelemetry = createQueueTelemetry(options.telemetry, {
    queued: () => limiter?.queued ?? 0,
    active: () => limiter?.active ?? 0,
  });
  limiter = createLimiter(options.limits, inner, queueTelemetry);
  // The cap forwards undici's handler interface as it is: the fast transport may dispatch to it.
  if (isOwnDispatcher(inner)) markOwnDispatcher(limiter.dispatcher);
  return limiter;
}

/** What the lifecycle closes: the queue (destroy ends its waiters), then the pools. */
const teardownOf = (pools: PoolSet, limiter: Limiter | undefined): Teardown => ({
  close: (signal) => pools.close(signal),
  destroy: (error) => {
    limiter?.fail(error);
    return pools.destroy(error);
  },
});

export function createResilientFetch(options: ResilientFetchOptions = {}): ResilientFetch {
  const resolved = resolveOptions(options);
  warnIfVerifyOff(resolved);
  // The instance's own table of overrides: configureHost() changes it, and nothing else.
  const table = new HostTable<HostPolicy>(resolved, resolved.hosts);
  const pools = createPools(resolved, table);
  const limiter = createCap(resolved, pools.dispatcher);
  const dispatcher = (limiter?.dispatcher ?? pools.dispatcher) as Dispatcher;
  const transport = createFastTransport(createNodeFetchTransport(), isOwnDispatcher);
  const lifecycle = new Lifecycle(teardownOf(pools, limiter), resolved.drainTimeoutMs);
  const health = new HealthBoard(resolved.health);
  const telemetry = new Telemetry(resolved.telemetry, {
    circuits: () => hosts.circuits(),
    health: () => [...hosts.states()].map((state) => [state.host, health.of(state).status] as const),
    connections: () =>
      Object.values(pools.stats()).map((s) => [s.host, s.connected - s.free, s.free] as const),
  });
  const hosts: HostRegistry = new HostRegistry(
    resolved,
    table,
    (transition, state) => {
      telemetry.circuit(transition);
      if (state) health.refresh(state);
    },
    () => pools.forgetRoutes(),
  );
  const env = { transport, telemetry, circuits: hosts, shutdown: lifecycle.shutdown };
  const calls = new Calls({
    options: resolved,
    lifecycle,
    hosts,
    health,
    telemetry,
    transport,
    dispatcher,
    env,
  });
  const instance = new Instance({
    options: resolved,
    table,
    pools,
    limiter,
    transport,
    lifecycle,
    hosts,
    health,
  });
  // Named `fetch`, with `length` 1 (a defaulted `init` is not counted), as the global fetch is.
  function fetch(input: string | URL | Request, init: ResilientRequestInit | undefined = undefined) {
    // biome-ignore lint/complexity/noArguments: native fetch tells 0 arguments from an undefined input.
    return calls.fetch(arguments.length, input, init);
  }
  return bindMethods(fetch, instance);
}

/**
 * The fetch function with the instance's methods on it, as own properties. Wrappers, not `bind()`:
 * Node 24's `await using` refuses a bound function as `Symbol.asyncDispose` ("is not a function").
 */
function bindMethods(fetch: (...args: never[]) => Promise<Response>, instance: Instance): ResilientFetch {
  const out = fetch as unknown as Record<PropertyKey, unknown>;
  for (const name of Reflect.ownKeys(methodNames) as Array<keyof Instance>) {
    const method = instance[name] as (...args: unknown[]) => unknown;
    out[name] = (...args: unknown[]) => method.apply(instance, args);
  }
  return fetch as unknown as ResilientFetch;
}
