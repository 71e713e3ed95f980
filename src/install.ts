/**
 * install()/uninstall() of the global fetch family.
 *
 * Our transport is Node's own fetch, so the global `Request`, `Response`, `Headers` and `FormData` are
 * already the classes our fetch accepts and returns: the consistent set to replace is `fetch` alone.
 * (undici's own `install()` swaps the classes too because its fetch only understands its own classes.)
 */
import { getDefaultFetch } from './client/default.ts';
import type { ResilientFetch } from './client/types.ts';

let saved: PropertyDescriptor | undefined;
let installed: typeof globalThis.fetch | undefined;

/**
 * Makes `globalThis.fetch` route through `fetchImpl` (the default `resilientFetch` when omitted).
 * Installing again replaces the previous install; `uninstall()` always restores the fetch that was
 * there before the first install.
 */
export function install(fetchImpl: ResilientFetch | typeof globalThis.fetch = getDefaultFetch()): void {
  if (typeof fetchImpl !== 'function') {
    throw new TypeError(`resilient-fetch: install() expects a fetch function, received ${typeof fetchImpl}`);
  }
  saved ??= Object.getOwnPropertyDescriptor(globalThis, 'fetch');
  installed = fetchImpl;
  Object.defineProperty(globalThis, 'fetch', {
    value: fetchImpl,
    writable: true,
    enumerable: saved?.enumerable ?? true,
    configurable: true,
  });
}

/** Restores the global fetch that was there before `install()`. Does nothing when not installed. */
export function uninstall(): void {
  if (installed === undefined) return;
  if (saved) Object.defineProperty(globalThis, 'fetch', saved);
  else Reflect.deleteProperty(globalThis, 'fetch');
  saved = undefined;
  installed = undefined;
}

/** True while `install()` is in effect and nobody has replaced the global fetch since. */
export const isInstalled = (): boolean => installed !== undefined && globalThis.fetch === installed;
