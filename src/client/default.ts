/**
 * `resilientFetch`: the default instance, created with default options on first use (importing the
 * package opens nothing). This is what `resilient-fetch/register` installs.
 */
import { createResilientFetch } from './create.ts';
import type { ResilientFetch } from './types.ts';

let instance: ResilientFetch | undefined;

/** The default instance, created on first call. */
export function getDefaultFetch(): ResilientFetch {
  instance ??= createResilientFetch();
  return instance;
}

// Named `fetch`, with `length` 1, as the global fetch is. The argument count is kept for the one case
// fetch's errors depend on: no argument at all.
function fetch(input: string | URL | Request, init: RequestInit | undefined = undefined): Promise<Response> {
  // biome-ignore lint/complexity/noArguments: native fetch tells 0 arguments from an undefined input.
  if (arguments.length === 0) return (getDefaultFetch() as unknown as () => Promise<Response>)();
  return getDefaultFetch()(input, init);
}

/**
 * The default instance. Its methods act on the instance if it exists; `close()` and `destroy()` before
 * the first call resolve at once without creating one.
 */
const defaultFetch: ResilientFetch = Object.assign(fetch, {
  close: (options?: Parameters<ResilientFetch['close']>[0]) => instance?.close(options) ?? Promise.resolve(),
  destroy: () => instance?.destroy() ?? Promise.resolve(),
  stats: () => getDefaultFetch().stats(),
  resetCircuit: (host: string) => getDefaultFetch().resetCircuit(host),
  isolate: (host: string) => getDefaultFetch().isolate(host),
  health: ((host?: string) =>
    host === undefined
      ? getDefaultFetch().health()
      : getDefaultFetch().health(host)) as ResilientFetch['health'],
  onHealthChange: (listener: Parameters<ResilientFetch['onHealthChange']>[0]) =>
    getDefaultFetch().onHealthChange(listener),
  configureHost: (...args: Parameters<ResilientFetch['configureHost']>) =>
    getDefaultFetch().configureHost(...args),
  removeHost: (pattern: Parameters<ResilientFetch['removeHost']>[0]) => getDefaultFetch().removeHost(pattern),
  [Symbol.asyncDispose]: () => instance?.close() ?? Promise.resolve(),
});

export { defaultFetch as resilientFetch };
