/** Equality of resolved option groups, for live reconfiguration: what changed, and what did not. */

/** Equal option values: primitives and functions by identity, Buffers by bytes, arrays element by element. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Buffer.isBuffer(a) && Buffer.isBuffer(b)) return a.equals(b);
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((v, i) => sameValue(v, b[i]));
  return false;
}

/** Two option groups with the same fields and values. */
export function sameFields(a: object, b: object): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) =>
    sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]),
  );
}

/** Two groups that may each be off (`false`) or absent: both the same object, or both on with the same values. */
export const sameGroup = <T extends object>(a: T | false | undefined, b: T | false | undefined): boolean =>
  a === b || (!!a && !!b && sameFields(a, b));
