import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ClosedError,
  DestroyedError,
  ErrorCodes,
  isClosedError,
  isDestroyedError,
  isResilientFetchError,
  ResilientFetchError,
} from '../src/index.ts';

describe('errors', () => {
  it('are TypeErrors, as native fetch network failures are, with a stable code, name and host', () => {
    const cause = new Error('underlying');
    const error = new ClosedError({ host: 'api.example.com:443', cause });
    assert.ok(error instanceof TypeError);
    assert.ok(error instanceof ResilientFetchError);
    assert.equal(error.code, 'ERR_RF_CLOSED');
    assert.equal(error.name, 'ClosedError');
    assert.equal(error.host, 'api.example.com:443');
    assert.equal(error.cause, cause);
    const destroyed = new DestroyedError('destroy() was called');
    assert.equal(destroyed.code, ErrorCodes.DESTROYED);
    assert.match(destroyed.message, /ended because destroy\(\) was called/);
    assert.equal('cause' in destroyed, false, 'no cause property when none was given');
  });

  it('guards check the code, and recognise errors from another copy of the package', () => {
    assert.ok(isClosedError(new ClosedError()));
    assert.equal(isClosedError(new DestroyedError('x')), false);
    assert.ok(isDestroyedError(new DestroyedError('x')));
    // What a second copy of resilient-fetch in node_modules would throw: a different class, same brand.
    const foreign = Object.assign(new TypeError('closed'), { code: 'ERR_RF_CLOSED' });
    Object.defineProperty(foreign, Symbol.for('resilient-fetch.error'), { value: true });
    assert.ok(isResilientFetchError(foreign));
    assert.ok(isClosedError(foreign));
    // A look-alike without the brand is not ours.
    assert.equal(isClosedError(Object.assign(new TypeError('x'), { code: 'ERR_RF_CLOSED' })), false);
    assert.equal(isResilientFetchError(null), false);
    assert.equal(isResilientFetchError('ERR_RF_CLOSED'), false);
  });
});
