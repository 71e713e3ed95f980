/**
 * Public options, the one `defaults` object, and `resolveOptions()`, which validates once at creation
 * and returns a frozen, fully populated object so nothing downstream handles `undefined`.
 */

/** Options of the per-host undici connection pools. Every duration is in milliseconds. */
export interface PoolOptions {
  /**
   * Maximum connections to one host (host and port).
   * @default 30
   */
  connections?: number | undefined;
  /**
   * How long an idle keep-alive socket is kept. A shorter `Keep-Alive: timeout=N` hint from the server
   * wins: a socket is never kept longer than the server says it keeps it.
   * @default 30_000
   */
  keepAliveTimeoutMs?: number | undefined;
  /**
   * Time allowed to establish a connection (TCP and TLS).
   * @default 30_000
   */
  connectTimeoutMs?: number | undefined;
  /**
   * Time allowed between sending the request and receiving the complete response headers.
   * @default 60_000
   */
  headersTimeoutMs?: number | undefined;
  /**
   * Idle time allowed between two chunks of the response body. A stream of any length keeps working
   * while data flows.
   * @default 60_000
   */
  bodyTimeoutMs?: number | undefined;
}

/** Options of `createResilientFetch()`. Every field is optional. */
export interface ResilientFetchOptions {
  /** Per-host connection pool settings. */
  pool?: PoolOptions | undefined;
  /**
   * How long `close()` waits for in-flight calls and their response bodies before it destroys what is
   * left.
   * @default 30_000
   */
  drainTimeoutMs?: number | undefined;
}

/** The options after validation and defaulting: every field present, deeply frozen. */
/** Every field present, `undefined` removed. */
type Resolved<T> = { readonly [K in keyof T]-?: Exclude<T[K], undefined> };

export interface ResolvedOptions {
  readonly pool: Resolved<PoolOptions>;
  readonly drainTimeoutMs: number;
}

/** The one place where defaults live. */
export const defaults = {
  pool: {
    connections: 30,
    keepAliveTimeoutMs: 30_000,
    connectTimeoutMs: 30_000,
    headersTimeoutMs: 60_000,
    bodyTimeoutMs: 60_000,
  },
  drainTimeoutMs: 30_000,
} as const satisfies ResolvedOptions;

// A mapped type over the option interfaces: forgetting to validate a new option is a compile error.
type Validators<T> = { [K in keyof Required<T>]: (value: unknown, path: string) => void };

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const describe = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
};

/** A finite number >= `min` (and an integer when `integer`), or a TypeError/RangeError naming the path. */
function checkNumber(min: number, integer: boolean) {
  return (value: unknown, path: string): void => {
    if (typeof value !== 'number') {
      throw new TypeError(`resilient-fetch: option ${path} must be a number, received ${describe(value)}`);
    }
    if (!Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
      const kind = integer ? 'an integer' : 'a finite number';
      throw new RangeError(
        `resilient-fetch: option ${path} must be ${kind} >= ${min}, received ${describe(value)}`,
      );
    }
  };
}

const poolValidators: Validators<PoolOptions> = {
  connections: checkNumber(1, true),
  keepAliveTimeoutMs: checkNumber(1, true),
  connectTimeoutMs: checkNumber(1, true),
  headersTimeoutMs: checkNumber(1, true),
  bodyTimeoutMs: checkNumber(1, true),
};

const topValidators: Validators<ResilientFetchOptions> = {
  pool: (value, path) => validateGroup(value, path, poolValidators),
  drainTimeoutMs: checkNumber(0, false),
};

function validateGroup<T>(value: unknown, path: string, validators: Validators<T>): void {
  if (!isPlainObject(value)) {
    const label = path ? `option ${path}` : 'options';
    throw new TypeError(`resilient-fetch: ${label} must be an object, received ${describe(value)}`);
  }
  for (const [key, field] of Object.entries(value)) {
    const fieldPath = path ? `${path}.${key}` : key;
    const validate = (validators as Record<string, Validators<T>[keyof T]>)[key];
    if (!validate) {
      const known = Object.keys(validators).join(', ');
      throw new TypeError(`resilient-fetch: unknown option ${fieldPath} (known options: ${known})`);
    }
    // `undefined` means "use the default", as an omitted field would.
    if (field !== undefined) validate(field, fieldPath);
  }
}

type Defined<T> = { [K in keyof T]?: Exclude<T[K], undefined> };

const withoutUndefined = <T extends object>(value: T | undefined): Defined<T> =>
  Object.fromEntries(Object.entries(value ?? {}).filter(([, v]) => v !== undefined)) as Defined<T>;

/**
 * Validates `user` (throwing a TypeError or RangeError that names the option path and the value received)
 * and merges it over `defaults`.
 */
export function resolveOptions(user: ResilientFetchOptions = {}): ResolvedOptions {
  validateGroup(user, '', topValidators);
  const top = withoutUndefined(user);
  return Object.freeze({
    drainTimeoutMs: top.drainTimeoutMs ?? defaults.drainTimeoutMs,
    pool: Object.freeze({ ...defaults.pool, ...withoutUndefined(user.pool) }),
  });
}

/** Options of `close()`. */
export interface CloseOptions {
  /** Skip the drain: end in-flight calls at once, as `destroy()` does. @default false */
  force?: boolean | undefined;
  /** Overrides the instance's `drainTimeoutMs` for this close. */
  drainTimeoutMs?: number | undefined;
}

const closeValidators: Validators<CloseOptions> = {
  force: (value, path) => {
    if (typeof value !== 'boolean') {
      throw new TypeError(`resilient-fetch: option ${path} must be a boolean, received ${describe(value)}`);
    }
  },
  drainTimeoutMs: checkNumber(0, false),
};

/** Validates the options of `close()` and fills in the instance's drain timeout. */
export function resolveCloseOptions(
  user: CloseOptions | undefined,
  drainTimeoutMs: number,
): Resolved<CloseOptions> {
  validateGroup(user ?? {}, 'close', closeValidators);
  return { force: user?.force ?? false, drainTimeoutMs: user?.drainTimeoutMs ?? drainTimeoutMs };
}
