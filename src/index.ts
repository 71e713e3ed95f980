export { resilientFetch } from './default.ts';
export type { ErrorCode, ResilientFetchErrorOptions } from './errors.ts';
export {
  ClosedError,
  DestroyedError,
  ErrorCodes,
  isClosedError,
  isDestroyedError,
  isResilientFetchError,
  ResilientFetchError,
} from './errors.ts';
export type { ResilientFetch, ResilientFetchMethods, ResilientFetchStats } from './fetch.ts';
export { createResilientFetch } from './fetch.ts';
export { install, isInstalled, uninstall } from './install.ts';
export type { LifecycleState } from './lifecycle.ts';
export type { CloseOptions, PoolOptions, ResilientFetchOptions, ResolvedOptions } from './options.ts';
export { defaults, resolveOptions } from './options.ts';
export type { OriginPoolStats } from './pools.ts';
