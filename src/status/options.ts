/** The options of `statusHandler`, validated once with the option kit and resolved to the paths it answers. */
import {
  checkArrayOf,
  fail,
  isPlainObject,
  type Validator,
  type Validators,
  validateGroup,
} from '../options/validate.ts';

export interface StatusHandlerOptions {
  /**
   * The path the handler answers under: `GET <basePath>/health`. Express strips its mount path from
   * `req.url`, so with `app.use('/ops', handler)` keep the default.
   * @default '/'
   */
  basePath?: string | undefined;
  /**
   * Hosts the app cannot work without: `GET <base>/health` answers 503 when one of them is FAILED or
   * TIMEOUT. Each is a host key, `hostname:port` (that host only), or a bare hostname (every port of it).
   * @default []
   */
  required?: readonly string[] | undefined;
}

export interface ResolvedStatusOptions {
  /** `<basePath>/health`, without a doubled slash. */
  readonly healthPath: string;
  /** Lower-cased, as host keys are. */
  readonly required: readonly string[];
}

const checkBasePath: Validator = (value, path) => {
  if (typeof value !== 'string') fail(TypeError, path, 'a string', value);
  if (!/^\/[^\s?#]*$/.test(value as string)) {
    fail(RangeError, path, 'a path that starts with "/" and has no whitespace, "?" or "#"', value);
  }
};

// `hostname:port`, a bare hostname, or a bracketed IPv6 address (with or without a port).
const hostName = /^(?:[^\s/:[\]?#@]+|\[[0-9a-f:.]+\])(?::\d+)?$/i;
const checkRequiredHost: Validator = (value, path) => {
  if (typeof value !== 'string') fail(TypeError, path, 'a string', value);
  if (!hostName.test(value as string))
    fail(RangeError, path, 'a host as "hostname:port" or "hostname"', value);
};

const validators: Validators<StatusHandlerOptions> = {
  basePath: checkBasePath,
  required: checkArrayOf(checkRequiredHost),
};

/** Throws a TypeError or RangeError naming the option and the value received. */
export function resolveStatusOptions(options: unknown): ResolvedStatusOptions {
  if (options === undefined) options = {};
  validateGroup(options, '', validators);
  const { basePath = '/', required = [] } = options as StatusHandlerOptions;
  const base = basePath.replace(/\/+$/, '');
  return {
    healthPath: `${base}/health`,
    required: Object.freeze(required.map((name) => name.toLowerCase())),
  };
}

/** The first argument must be a resilientFetch instance (anything with `health()` and `stats()`). */
export function checkHealthSource(value: unknown): void {
  const source = value as { health?: unknown; stats?: unknown } | null;
  const ok =
    (typeof value === 'function' || isPlainObject(value)) &&
    typeof source?.health === 'function' &&
    typeof source.stats === 'function';
  if (!ok) fail(TypeError, 'rfetch', 'a resilientFetch instance (with health() and stats())', value);
}
