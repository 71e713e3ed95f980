/** The package as an app installs it: the built dist/, its exports map, CommonJS require(), types. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { repoRoot, runInChild } from '../helpers/child.ts';

const run = promisify(execFile);
const publicApi = [
  'CircuitOpenError',
  'ClosedError',
  'DestroyedError',
  'ErrorCodes',
  'QueueFullError',
  'QueueTimeoutError',
  'ResilientFetchError',
  'ResponseTooLargeError',
  'classifyHealth',
  'computeRetryDelay',
  'createResilientFetch',
  'defaultRedactedQueryParams',
  'defaults',
  'healthChannel',
  'install',
  'isCircuitOpenError',
  'isClosedError',
  'isDestroyedError',
  'isInstalled',
  'isQueueFullError',
  'isQueueTimeoutError',
  'isResilientFetchError',
  'isResponseTooLargeError',
  'parseRetryAfter',
  'parseRetryAfterMs',
  'readRateLimit',
  'resilientFetch',
  'resolveOptions',
  'semconvRedactedQueryParams',
  'serverRetryDelay',
  'shouldRetryHint',
  'uninstall',
];

describe('the published package', () => {
  before(() => {
    assert.ok(existsSync(join(repoRoot, 'dist/index.js')), 'dist/ is missing: run `npm run build` first');
  });

  it('can be require()d from CommonJS (no top-level await anywhere)', async () => {
    const result = await runInChild([
      '-e',
      `const m = require('resilient-fetch'); console.log(JSON.stringify(Object.keys(m).sort()));`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), publicApi);
  });

  it('exposes the same API to ESM import', async () => {
    const result = await runInChild([
      '--input-type=module',
      '-e',
      `const m = await import('resilient-fetch'); console.log(JSON.stringify(Object.keys(m).sort()));`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), publicApi);
  });

  it('exposes resilient-fetch/status to ESM import and to require()', async () => {
    const code = `console.log(JSON.stringify(Object.keys(m).sort()))`;
    const esm = await runInChild([
      '--input-type=module',
      '-e',
      `const m = await import('resilient-fetch/status'); ${code}`,
    ]);
    assert.equal(esm.code, 0, esm.stderr);
    assert.deepEqual(JSON.parse(esm.stdout), ['statusHandler']);
    const cjs = await runInChild(['-e', `const m = require('resilient-fetch/status'); ${code}`]);
    assert.equal(cjs.code, 0, cjs.stderr);
    assert.deepEqual(JSON.parse(cjs.stdout), ['statusHandler']);
  });

  it('runs `node --import resilient-fetch/register` from the built files', async () => {
    const result = await runInChild([
      '--import',
      'resilient-fetch/register',
      '-e',
      'console.log(globalThis.fetch.name, typeof globalThis.fetch.close)',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), 'fetch function');
  });

  it('ships declarations an app type-checks against', async () => {
    const tsc = join(repoRoot, 'node_modules/.bin/tsc');
    const { stdout } = await run(tsc, ['-p', 'test/fixtures/tsconfig.json'], { cwd: repoRoot }).catch(
      (error: { stdout?: string }) => assert.fail(`tsc failed on the consumer fixture:\n${error.stdout}`),
    );
    assert.equal(stdout, '');
  });

  it('packs only dist/, the README and package.json', async () => {
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: repoRoot,
    });
    const [pack] = JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>;
    const paths = pack?.files.map((f) => f.path) ?? [];
    assert.ok(paths.includes('dist/index.js') && paths.includes('dist/index.d.ts'));
    assert.ok(paths.includes('dist/register.js'));
    assert.ok(paths.includes('dist/status.js') && paths.includes('dist/status.d.ts'));
    const unexpected = paths.filter((p) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(p));
    assert.deepEqual(unexpected, []);
  });
});
