/**
 * The only module with side effects: `node --import resilient-fetch/register app.js` makes every
 * `fetch()` of the app go through the default resilientFetch instance, with no code change.
 *
 * With `RESILIENT_FETCH_OTEL=1` (or `true`) in the environment it also starts the OpenTelemetry SDK first
 * (`startTelemetry()` of `resilient-fetch/otel`, configured by the standard OTEL_* variables) and shuts it
 * down when the process ends, without keeping it alive. Without the variable the SDK is never loaded.
 */
import { createRequire } from 'node:module';
import { resilientFetch } from './client/default.ts';
import { install } from './install.ts';

const otelFlag = process.env.RESILIENT_FETCH_OTEL?.trim().toLowerCase();
if (otelFlag === '1' || otelFlag === 'true') {
  // Loaded synchronously (require() of an ES module; no top-level await, so this entry stays require()-able)
  // and only here, so the SDK's ~48 MiB are paid by those who ask for it. Same directory, same extension:
  // `.ts` from the sources, `.js` from dist/.
  const otelPath = import.meta.url.endsWith('.ts') ? './otel.ts' : './otel.js';
  const otel = createRequire(import.meta.url)(otelPath) as typeof import('./otel.ts');
  otel.shutdownOnExit(otel.startTelemetry());
} else if (otelFlag && otelFlag !== '0' && otelFlag !== 'false') {
  process.emitWarning(
    `RESILIENT_FETCH_OTEL=${JSON.stringify(process.env.RESILIENT_FETCH_OTEL)} is not 1, true, 0 or false: telemetry not started`,
    { code: 'RESILIENT_FETCH_OTEL' },
  );
}

install(resilientFetch);
