/**
 * The clients `npm run bench` compares, with what each process sets up before it builds its client.
 * No imports: the coordinator and the worker's entry read this before npm undici or an SDK is loaded.
 */

/** The OpenTelemetry set-up of a client's process (bench/sdk.ts). */
export type SdkKind = 'none' | 'otlp' | 'prometheus' | 'otlp+undici';

export type ClientId =
  | 'native'
  | 'resilient'
  | 'resilient-sdk'
  | 'resilient-prom'
  | 'native-otel'
  | 'undici-request';

interface Entry {
  readonly label: string;
  readonly sdk: SdkKind;
}

/** In table order; native fetch first, as every "vs native" ratio is taken against it. */
export const lineup = {
  native: { label: 'native fetch', sdk: 'none' },
  resilient: { label: 'resilientFetch defaults', sdk: 'none' },
  'resilient-sdk': { label: 'resilientFetch + SDK (OTLP)', sdk: 'otlp' },
  'resilient-prom': { label: 'resilientFetch + SDK (Prometheus)', sdk: 'prometheus' },
  'native-otel': { label: 'native fetch + undici instr. + SDK', sdk: 'otlp+undici' },
  'undici-request': { label: 'undici request (ceiling)', sdk: 'none' },
} as const satisfies Record<ClientId, Entry>;

export const clientIds = Object.keys(lineup) as ClientId[];

/**
 * The clients that can share one process for the in-process comparison: those without an SDK (an SDK is
 * registered for the whole process, so it would record every other client's calls too).
 */
export const inProcessIds: readonly ClientId[] = clientIds.filter((id) => lineup[id].sdk === 'none');
