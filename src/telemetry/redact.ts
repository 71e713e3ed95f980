/**
 * URLs as telemetry records them: `url.full` without credentials, and the values of query parameters
 * whose name marks a credential replaced by `REDACTED`. Names match without regard to case, `-` and `_`
 * (`API-Key`, `api_key` and `apikey` are one name), the set of normalised names built once per list.
 */

/** A parameter name as it is compared: lower case, without `-` and `_`. */
export const normalizeParamName = (name: string): string => name.toLowerCase().replace(/[-_]/g, '');

const normalized = new WeakMap<ReadonlySet<string>, ReadonlySet<string>>();

/** The normalised names of `params`, computed once per set. */
function normalizedSet(params: ReadonlySet<string>): ReadonlySet<string> {
  let set = normalized.get(params);
  if (set === undefined) {
    set = new Set([...params].map(normalizeParamName));
    normalized.set(params, set);
  }
  return set;
}

/** A query key as URLSearchParams reads it (`+` is a space); a malformed escape is kept as it is. */
function decodeKey(raw: string): string {
  const spaced = raw.includes('+') ? raw.replaceAll('+', ' ') : raw;
  if (!spaced.includes('%')) return spaced;
  try {
    return decodeURIComponent(spaced);
  } catch {
    return spaced;
  }
}

/**
 * `pairs` (a query or fragment without its `?` or `#`) with the values of the named parameters
 * replaced, or undefined when none is named. Rebuilt by hand: URLSearchParams would re-encode the rest.
 */
function redactPairs(pairs: string, names: ReadonlySet<string>): string | undefined {
  let changed = false;
  const out = pairs.split('&').map((pair) => {
    const eq = pair.indexOf('=');
    const rawKey = eq === -1 ? pair : pair.slice(0, eq);
    if (!names.has(normalizeParamName(decodeKey(rawKey)))) return pair;
    changed = true;
    return `${rawKey}=REDACTED`;
  });
  return changed ? out.join('&') : undefined;
}

/**
 * `url.full` without credentials, with the values of the parameters named in `params` replaced by
 * REDACTED, in the query and in a fragment of `key=value` pairs (OAuth's implicit grant puts its
 * `access_token` there). A URL with neither `@` nor `?` nor `#` is returned as it is, unparsed.
 */
export function redactUrl(href: string, params: ReadonlySet<string>): string {
  if (!href.includes('@') && !href.includes('?') && !href.includes('#')) return href;
  const url = URL.parse(href);
  if (url === null) return href;
  if (url.username) url.username = 'REDACTED';
  if (url.password) url.password = 'REDACTED';
  if (url.search.length > 1 || url.hash.includes('=')) {
    const names = normalizedSet(params);
    const search = url.search.length > 1 ? redactPairs(url.search.slice(1), names) : undefined;
    if (search !== undefined) url.search = search;
    const hash = url.hash.includes('=') ? redactPairs(url.hash.slice(1), names) : undefined;
    if (hash !== undefined) url.hash = hash;
  }
  return url.href;
}
