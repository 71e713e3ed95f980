/** Contract cases: the headers fetch adds by itself. */
import assert from 'node:assert/strict';
import { type Case, defineCase, echo, onlyRequest } from '../../helpers/contract.ts';

export const defaultHeaderCases: Case[] = [
  defineCase(
    'default request headers of a GET, as the server sees them (names, values, order)',
    (f, base) => echo(f, base),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('host'), '<host>');
      assert.equal(r.header('connection'), 'keep-alive');
      assert.equal(r.header('accept'), '*/*');
      assert.equal(r.header('accept-language'), '*');
      assert.equal(r.header('sec-fetch-mode'), 'cors');
      assert.equal(r.header('user-agent'), 'node');
      assert.match(r.header('accept-encoding') ?? '', /gzip, deflate/);
    },
  ),
  defineCase(
    'default request headers of a POST with a string body',
    (f, base) => echo(f, base, { method: 'POST', body: 'abc' }),
    (o) => {
      const r = onlyRequest(o);
      assert.equal(r.header('content-type'), 'text/plain;charset=UTF-8');
      assert.equal(r.header('content-length'), '3');
    },
  ),
];
