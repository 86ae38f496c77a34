// The first screen by AUTH mode, its checks and what it says when signing in fails; and the API
// wrapper's part in that (the request bodies, a 429's Retry-After).

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';

import { ApiError, login, logout, selectSession } from '../../assistant/server/static/api.js';
import { missingField, signInError, waitInWords, welcomeText } from '../../assistant/server/static/signin.js';

const realFetch = globalThis.fetch;
afterEach(() => {
  globalThis.fetch = realFetch;
});

/** Stands in for fetch: records each request and answers with `respond(request)`. */
function fakeFetch(respond) {
  const requests = [];
  globalThis.fetch = async (path, options) => {
    const request = { path, method: options.method, body: options.body === undefined ? undefined : JSON.parse(options.body) };
    requests.push(request);
    const { status = 200, body = null, headers = {} } = respond(request);
    return new Response(body === null ? null : JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } });
  };
  return requests;
}

test('with accounts the first screen signs in; without, it asks for a name', () => {
  assert.equal(welcomeText('password').title, 'Sign in');
  assert.equal(welcomeText('password').nameAutocomplete, 'username');
  assert.equal(welcomeText('password').switchLabel, 'Sign out');
  assert.equal(welcomeText('none').title, "Who's talking?");
  assert.equal(welcomeText('none').switchLabel, 'Switch');
});

test('a password is asked for only when the server has accounts', () => {
  assert.deepEqual(missingField('password', '  ', 'pw'), { field: 'name', message: 'Please enter your name.' });
  assert.deepEqual(missingField('password', 'sam', ''), { field: 'password', message: 'Please enter your password.' });
  assert.equal(missingField('password', 'sam', 'pw'), null);
  assert.equal(missingField('none', 'sam', ''), null);
});

test('a failed sign-in says why, and how long to wait after too many', () => {
  assert.equal(signInError(new ApiError(401, 'Wrong name or password.')), 'Wrong name or password.');
  assert.equal(signInError(new ApiError(429, 'Too many', 600)), 'Too many failed sign-ins. Try again in 10 minutes.');
  assert.equal(signInError(new ApiError(429, 'Too many', 61)), 'Too many failed sign-ins. Try again in 2 minutes.');
  assert.equal(signInError(new ApiError(429, 'Too many', 1)), 'Too many failed sign-ins. Try again in 1 second.');
  assert.equal(signInError(new ApiError(429, 'Too many', null)), 'Too many failed sign-ins. Try again later.');
  assert.equal(signInError(new ApiError(0, 'Could not reach the server.')), 'Could not reach the server.');
  assert.equal(waitInWords(45), 'in 45 seconds');
});

test("a 429's Retry-After reaches the error", async () => {
  fakeFetch(() => ({ status: 429, body: { detail: 'Too many failed sign-ins. Try again later.' }, headers: { 'Retry-After': '540' } }));
  const error = await login('sam', 'pw').then(() => null, (e) => e);
  assert.ok(error instanceof ApiError);
  assert.equal(error.status, 429);
  assert.equal(error.retryAfter, 540);
  assert.equal(signInError(error), 'Too many failed sign-ins. Try again in 9 minutes.');
});

test('signed in, the session request names no user; without accounts it does', async () => {
  const requests = fakeFetch(() => ({ body: { user: 'sam', conversation_id: 'c1' } }));
  await login('sam', 'pw');
  await selectSession(null, 'c1');
  await selectSession('sam', null);
  assert.deepEqual(requests[0], { path: '/api/login', method: 'POST', body: { user: 'sam', password: 'pw' } });
  assert.equal(requests[1].body.conversation_id, 'c1');
  assert.equal('user' in requests[1].body, false);
  assert.equal(requests[2].body.user, 'sam');
  assert.equal(requests[2].body.conversation_id, null);
});

test('signing out is a POST that expects no body back', async () => {
  const requests = fakeFetch(() => ({ status: 204 }));
  assert.equal(await logout(), null);
  assert.deepEqual(requests, [{ path: '/api/logout', method: 'POST', body: undefined }]);
});
