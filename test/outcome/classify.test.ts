/** errorCodeOf: the one name of a foreign error (its code, a DOMException's name, a class or a type). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaults } from '../../src/options/defaults.ts';
import { errorCodeOf } from '../../src/outcome/classify.ts';
import { startServer } from '../helpers/server.ts';

describe('errorCodeOf', () => {
  it('finds the code in the cause chain of a fetch failure', () => {
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    assert.equal(errorCodeOf(new TypeError('fetch failed', { cause: reset })), 'ECONNRESET');
    const deep = new TypeError('fetch failed', {
      cause: new Error('wrapper', {
        cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }),
      }),
    });
    assert.equal(errorCodeOf(deep), 'UND_ERR_SOCKET');
  });

  it('names a DOMException by its name (its numeric legacy code is ignored)', () => {
    assert.equal(errorCodeOf(new DOMException('slow', 'TimeoutError')), 'TimeoutError');
    assert.equal(errorCodeOf(new DOMException('stop', 'AbortError')), 'AbortError');
    assert.equal(
      errorCodeOf(new TypeError('fetch failed', { cause: new DOMException('slow', 'TimeoutError') })),
      'TimeoutError',
    );
  });

  it('falls back to the class name of a plain error, or the type of a non-error', () => {
    assert.equal(errorCodeOf(new Error('boom')), 'Error');
    assert.equal(errorCodeOf(new RangeError('boom')), 'RangeError');
    assert.equal(errorCodeOf(new TypeError('fetch failed')), 'TypeError');
    assert.equal(errorCodeOf('boom'), 'string');
    assert.equal(errorCodeOf(undefined), 'undefined');
  });

  it("names real network failures of Node's fetch with codes the default retry policy retries", async () => {
    const retryable = new Set<string>(defaults.retry.errorCodes);
    const server = await startServer((req, res) => {
      if (req.url === '/destroy') req.socket.destroy();
      else if (req.url !== '/hang') res.end('ok');
    });
    const codes: Record<string, string> = {};
    try {
      await fetch(`${server.url}/destroy`).then(
        () => assert.fail('a destroyed socket resolved'),
        (error: unknown) => {
          codes.destroy = errorCodeOf(error);
        },
      );
      await fetch(`${server.url}/hang`, { signal: AbortSignal.timeout(20) }).then(
        () => assert.fail('a hanging call resolved'),
        (error: unknown) => {
          codes.timeout = errorCodeOf(error);
        },
      );
    } finally {
      await server.close();
    }
    await fetch(server.url).then(
      () => assert.fail('a closed port answered'),
      (error: unknown) => {
        codes.refused = errorCodeOf(error);
      },
    );
    assert.equal(codes.refused, 'ECONNREFUSED');
    assert.equal(codes.timeout, 'TimeoutError');
    assert.ok(['UND_ERR_SOCKET', 'ECONNRESET'].includes(codes.destroy ?? ''), codes.destroy);
    for (const code of Object.values(codes)) assert.ok(retryable.has(code), `${code} is not retried`);
  });
});
