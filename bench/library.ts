/**
 * Where a client process loads resilient-fetch from. The throughput processes load `src/` (Node strips
 * the types), so the bench measures the checkout as it is. The memory processes load `dist/` (the same
 * entries built by `npm run build`, as users get them): loading `src/` through type stripping adds about
 * 30 MiB of RSS that no user pays (51 MiB against 20 MiB for the index entry, measured on Node 24).
 */
import { readdirSync, statSync } from 'node:fs';

export type LibrarySource = 'src' | 'dist';
export type Entry = 'index' | 'otel';

export const entryUrl = (source: LibrarySource, entry: Entry): string =>
  new URL(`../${source}/${entry}.${source === 'src' ? 'ts' : 'js'}`, import.meta.url).href;

export type IndexModule = typeof import('../src/index.ts');
export type OtelModule = typeof import('../src/otel.ts');

function newestMtimeMs(dir: URL): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts')) {
      newest = Math.max(newest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs);
    }
  }
  return newest;
}

/** Why `dist/` cannot stand for `src/` (missing, or older than a source file), or undefined when it can. */
export function staleDist(): string | undefined {
  const built = new URL('../dist/index.js', import.meta.url);
  let builtMs: number;
  try {
    builtMs = statSync(built).mtimeMs;
  } catch {
    return 'dist/ is not built (npm run build; npm run bench does it first)';
  }
  return newestMtimeMs(new URL('../src/', import.meta.url)) > builtMs
    ? 'dist/ is older than src/ (npm run build; npm run bench does it first)'
    : undefined;
}
