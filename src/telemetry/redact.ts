/** URLs as telemetry records them: `url.full` without credentials, listed query parameters redacted. */

/** `url.full` without credentials, with the listed query parameters' values replaced by REDACTED. */
export function redactUrl(href: string, params: ReadonlySet<string>): string {
  if (!href.includes('@') && !href.includes('?')) return href;
  const url = URL.parse(href);
  if (url === null) return href;
  if (url.username) url.username = 'REDACTED';
  if (url.password) url.password = 'REDACTED';
  if (url.search) {
    let changed = false;
    for (const key of url.searchParams.keys()) {
      if (params.has(key)) changed = true;
    }
    if (changed) {
      // Rebuilt by hand: URLSearchParams would re-encode every other parameter.
      url.search = url.search
        .slice(1)
        .split('&')
        .map((pair) => {
          const eq = pair.indexOf('=');
          const key = decodeURIComponent(eq === -1 ? pair : pair.slice(0, eq));
          return params.has(key) ? `${eq === -1 ? pair : pair.slice(0, eq)}=REDACTED` : pair;
        })
        .join('&');
    }
  }
  return url.href;
}
