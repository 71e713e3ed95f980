/**
 * The global-dispatcher slot Node's fetch reads its dispatcher from (undici's `setGlobalDispatcher()`
 * writes it, wrapping an undici 8 dispatcher), read in this one place. Whatever it holds when this module
 * loads is the default: importing './undici.ts' first has made Node fill it with its own Agent.
 */
import { Dispatcher1Wrapper, Agent as Undici8Agent } from './undici.ts';

const kGlobalDispatcher = Symbol.for('undici.globalDispatcher.1');
const slots = globalThis as unknown as Record<symbol, unknown>;
const defaultGlobalDispatcher = slots[kGlobalDispatcher];

/** A constructor of Node's bundled undici `Agent`. */
export type NodeAgentClass = new (options: object) => unknown;

/** Node's own undici Agent class, found through the default global dispatcher; undefined if replaced. */
function findNodeAgent(current: unknown): NodeAgentClass | undefined {
  if (typeof current !== 'object' || current === null) return undefined;
  if (current instanceof Undici8Agent || current instanceof Dispatcher1Wrapper) return undefined;
  const ctor = (current as { constructor?: unknown }).constructor as NodeAgentClass & { name?: string };
  return ctor?.name === 'Agent' && 'stats' in current ? ctor : undefined;
}

/**
 * Node's own `Agent` class, resolved once at load; undefined when the global dispatcher found then was
 * not Node's default. Then somebody chose it before resilient-fetch loaded: Node itself for
 * `NODE_USE_ENV_PROXY` (an EnvHttpProxyAgent), or the app (a ProxyAgent, a MockAgent, an undici 8
 * Agent). That choice is respected, as Node's fetch would respect it.
 */
export const NodeAgent = findNodeAgent(defaultGlobalDispatcher);

/**
 * True when the global dispatcher is not Node's own default: the app set one (a ProxyAgent, an
 * EnvHttpProxyAgent, a MockAgent in its tests) after this module loaded, or one was there before it
 * loaded (Node's EnvHttpProxyAgent under `NODE_USE_ENV_PROXY`, or the app's). Recognised by identity, not
 * type: a plain `Agent` the app set is as much its choice as a ProxyAgent. Such a dispatcher is used as
 * Node's fetch would use it, and so it bypasses our pools.
 */
export const hasAppGlobalDispatcher = (): boolean =>
  NodeAgent === undefined || slots[kGlobalDispatcher] !== defaultGlobalDispatcher;

/**
 * Runs `fn` with `dispatcher` in the global slot, and puts back what was there. For a `Request` input:
 * Node's fetch uses the dispatcher the Request was built with, which nobody else can read, else the
 * global one, which it reads synchronously when called; so `fn` must call Node's fetch synchronously.
 */
export function withGlobalDispatcher<T>(dispatcher: unknown, fn: () => T): T {
  const saved = slots[kGlobalDispatcher];
  slots[kGlobalDispatcher] = dispatcher;
  try {
    return fn();
  } finally {
    slots[kGlobalDispatcher] = saved;
  }
}
