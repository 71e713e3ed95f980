/**
 * A process warning when TLS certificate verification is turned off (`pool.tls.rejectUnauthorized:
 * false`), once per pattern and process, naming it, as Node warns once for
 * `NODE_TLS_REJECT_UNAUTHORIZED=0`. Code `RF_TLS_VERIFY_OFF` (`node --disable-warning=RF_TLS_VERIFY_OFF`).
 */
import type { HostPattern } from '../hosts/patterns.ts';
import type { HostPolicy, ResolvedOptions } from '../options/resolved.ts';

export const tlsVerifyOffCode = 'RF_TLS_VERIFY_OFF';

const warned = new Set<string>();

const labelOf = (pattern: HostPattern): string =>
  typeof pattern === 'function'
    ? `the hosts predicate ${pattern.name || '(anonymous)'}`
    : `hosts "${pattern}"`;

function warn(label: string): void {
  if (warned.has(label)) return;
  warned.add(label);
  process.emitWarning(
    `resilient-fetch: TLS certificate verification is off for ${label} (pool.tls.rejectUnauthorized: ` +
      'false): those connections can be intercepted and their data read or changed',
    { code: tlsVerifyOffCode },
  );
}

/** One host override given at creation or through `configureHost()`; its own tls options only. */
export function warnIfHostVerifyOff(top: ResolvedOptions, pattern: HostPattern, policy: HostPolicy): void {
  const tls = policy.pool.tls;
  if (tls !== top.pool.tls && tls.rejectUnauthorized === false) warn(labelOf(pattern));
}

/** The options given at creation: the top level (every host) and each override. */
export function warnIfVerifyOff(options: ResolvedOptions): void {
  if (options.pool.tls.rejectUnauthorized === false) warn('every host');
  for (const [pattern, policy] of options.hosts) warnIfHostVerifyOff(options, pattern, policy);
}
