/**
 * The validator kit: checks that throw a `TypeError` or `RangeError` naming the option path and the
 * value received. The option tables are in `validators.ts`; `resilient-fetch/otel` uses the kit too.
 */

// A mapped type over the option interfaces: forgetting to validate a new option is a compile error.
export type Validator = (value: unknown, path: string) => void;
export type Validators<T> = { [K in keyof Required<T>]: Validator };

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export const describeValue = (value: unknown): string => {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
};

export const fail = (Kind: ErrorConstructor, path: string, expected: string, value: unknown): never => {
  throw new Kind(`resilient-fetch: option ${path} must be ${expected}, received ${describeValue(value)}`);
};

/** Node's timers fire after 1 ms when given more than this (about 24.8 days). */
export const maxTimerMs = 2_147_483_647;

/** A finite number in [min, max] (and an integer when `integer`). */
export function checkNumber(min: number, integer: boolean, max = Number.POSITIVE_INFINITY): Validator {
  return (value, path) => {
    if (typeof value !== 'number') fail(TypeError, path, 'a number', value);
    const n = value as number;
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) {
      const kind = integer ? 'an integer' : 'a finite number';
      const range = max === Number.POSITIVE_INFINITY ? `>= ${min}` : `between ${min} and ${max}`;
      fail(RangeError, path, `${kind} ${range}`, value);
    }
  };
}

export const checkBoolean: Validator = (value, path) => {
  if (typeof value !== 'boolean') fail(TypeError, path, 'a boolean', value);
};

export const checkFunction: Validator = (value, path) => {
  if (typeof value !== 'function') fail(TypeError, path, 'a function', value);
};

export const checkOneOf =
  (allowed: readonly string[]): Validator =>
  (value, path) => {
    if (typeof value !== 'string' || !allowed.includes(value)) {
      fail(TypeError, path, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
    }
  };

export const checkArrayOf =
  (item: Validator): Validator =>
  (value, path) => {
    if (!Array.isArray(value)) fail(TypeError, path, 'an array', value);
    (value as unknown[]).forEach((v, i) => {
      item(v, `${path}[${i}]`);
    });
  };

export const checkString: Validator = (value, path) => {
  if (typeof value !== 'string' || value === '') fail(TypeError, path, 'a non-empty string', value);
};

/** A string that is not empty and not only whitespace. */
export const checkNonBlank: Validator = (value, path) => {
  if (typeof value !== 'string' || value.trim() === '') fail(TypeError, path, 'a non-empty string', value);
};

export const checkGroup =
  <T>(validators: Validators<T>, allowFalse = false): Validator =>
  (value, path) => {
    if (allowFalse && value === false) return;
    validateGroup(value, path, validators, allowFalse);
  };

export function validateGroup<T>(
  value: unknown,
  path: string,
  validators: Validators<T>,
  allowFalse = false,
): void {
  if (!isPlainObject(value)) {
    const label = path ? `option ${path}` : 'options';
    const expected = allowFalse ? 'an object or false' : 'an object';
    throw new TypeError(`resilient-fetch: ${label} must be ${expected}, received ${describeValue(value)}`);
  }
  for (const [key, field] of Object.entries(value)) {
    const fieldPath = path ? `${path}.${key}` : key;
    const validate = (validators as Record<string, Validator>)[key];
    if (!validate) throw unknownOption(fieldPath, Object.keys(validators));
    // `undefined` means "use the default", as an omitted field would.
    if (field !== undefined) validate(field, fieldPath);
  }
}

const unknownOption = (path: string, known: readonly string[]): TypeError =>
  new TypeError(`resilient-fetch: unknown option ${path} (known options: ${known.join(', ')})`);

/** Throws for the first key of `value` that is not in `known`. */
export function checkKnownKeys(value: object, path: string, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) throw unknownOption(path ? `${path}.${key}` : key, known);
  }
}
