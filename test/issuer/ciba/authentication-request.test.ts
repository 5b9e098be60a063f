// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import {
  checkRequestObjectClaims,
  parseAuthenticationParameters,
  selectRequestSource,
  type CibaClientPolicy,
  type CibaLimits,
} from '../../../src/issuer/ciba/authentication-request.js';

const issuer = 'https://issuer.example';
const limits: CibaLimits = { issuer, expiresInSeconds: 120, clockSkewSeconds: 30 };
const fapi: CibaClientPolicy = {
  clientId: 'acme-ciba',
  cibaProfile: 'fapi-ciba',
  deliveryMode: 'poll',
  requestSigningAlg: 'PS256',
  userCodeParameter: false,
  scopes: ['openid', 'accounts', 'payments'],
};
const core: CibaClientPolicy = {
  ...fapi,
  cibaProfile: 'ciba-core',
  deliveryMode: 'push',
  requestSigningAlg: undefined,
};
const now = 1_800_000_000;
const goodClaims = {
  aud: issuer,
  iss: 'acme-ciba',
  exp: now + 300,
  iat: now,
  nbf: now,
  jti: 'j-1',
  scope: 'openid accounts',
  login_hint: 'alice',
  binding_message: 'W4-XK',
};
const token = 'q3Jk8w0Zc1m9VbT7yPpLs2Xa5DfGh6Jk'; // 32 base64url characters: ~190 bits

t.test('a FAPI-CIBA client must send a signed request, with nothing outside it', (t) => {
  const unsigned = selectRequestSource(
    { scope: 'openid', login_hint: 'alice', client_id: 'acme-ciba' },
    fapi,
  );
  t.match(unsigned, { ok: false, error: { status: 400, error: 'invalid_request' } });
  const mixed = selectRequestSource({ request: 'x.y.z', login_hint: 'bob', client_assertion: 'a' }, fapi);
  t.match(mixed, { ok: false, error: { error: 'invalid_request', description: /login_hint/ } });
  const signed = selectRequestSource(
    { request: 'x.y.z', client_id: 'acme-ciba', client_assertion: 'a', client_assertion_type: 't' },
    fapi,
  );
  t.same(signed, { ok: true, value: { kind: 'signed', jwt: 'x.y.z' } });
  t.match(selectRequestSource({ request_uri: 'urn:x' }, fapi), {
    ok: false,
    error: { error: 'invalid_request' },
  });
  t.match(selectRequestSource({ scope: 'openid', login_hint: 'a' }, core), {
    ok: true,
    value: { kind: 'plain', params: { scope: 'openid', login_hint: 'a' } },
  });
  t.end();
});

t.test('request object claims: aud, iss, exp, iat, nbf, jti and a lifetime of at most 60 minutes', (t) => {
  t.match(checkRequestObjectClaims(goodClaims, fapi, limits, now), {
    ok: true,
    value: { scope: 'openid accounts', login_hint: 'alice', binding_message: 'W4-XK' },
  });
  const bad = (patch: Record<string, unknown>, description: RegExp) =>
    t.match(
      checkRequestObjectClaims({ ...goodClaims, ...patch }, fapi, limits, now),
      { ok: false, error: { status: 400, error: 'invalid_request', description } },
      JSON.stringify(patch),
    );
  bad({ aud: 'https://elsewhere' }, /aud/);
  bad({ aud: undefined }, /aud/);
  bad({ iss: 'someone-else' }, /iss/);
  for (const c of ['exp', 'iat', 'nbf', 'jti']) bad({ [c]: undefined }, new RegExp(c));
  bad({ exp: now - 31 }, /expired/);
  bad({ nbf: now + 31, exp: now + 600 }, /not yet valid/);
  bad({ iat: now + 120 }, /iat/);
  bad({ nbf: now - 10, exp: now - 10 + 3601 }, /60 minutes/);
  t.match(checkRequestObjectClaims({ ...goodClaims, aud: [issuer, 'x'] }, fapi, limits, now), { ok: true });
  t.match(
    checkRequestObjectClaims({ ...goodClaims, nbf: now - 100, exp: now - 100 + 3600 }, fapi, limits, now),
    { ok: true },
    'exactly 60 minutes is allowed',
  );
  t.end();
});

t.test('authentication parameters: scope, exactly one hint, binding_message, expiry', (t) => {
  const base = { scope: 'openid accounts', login_hint: 'alice', binding_message: 'W4-XK' };
  t.same(parseAuthenticationParameters(base, fapi, limits), {
    ok: true,
    value: {
      scopes: ['openid', 'accounts'],
      hint: { kind: 'login_hint', value: 'alice' },
      bindingMessage: 'W4-XK',
      expiresIn: 120,
    },
  });
  const err = (params: Record<string, unknown>, client: CibaClientPolicy, code: string, d: RegExp) =>
    t.match(
      parseAuthenticationParameters(params, client, limits),
      { ok: false, error: { status: 400, error: code, description: d } },
      // Escaped so that separators and format characters in a value cannot break the TAP output.
      JSON.stringify(params).replace(/[^\x20-\x7e]/gu, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`),
    );
  err(
    { ...base, id_token_hint: 'x' },
    fapi,
    'invalid_request',
    /exactly one hint.*login_hint, id_token_hint/,
  );
  err({ ...base, login_hint: undefined }, fapi, 'invalid_request', /exactly one of/);
  err(
    { ...base, login_hint: undefined, login_hint_token: 'a', id_token_hint: 'b' },
    fapi,
    'invalid_request',
    /exactly one hint/,
  );
  err({ ...base, scope: 'accounts' }, fapi, 'invalid_request', /openid/);
  err({ ...base, scope: undefined }, fapi, 'invalid_request', /scope is required/);
  err({ ...base, scope: 'openid admin' }, fapi, 'invalid_scope', /admin/);
  err({ ...base, binding_message: undefined }, fapi, 'invalid_binding_message', /required/);
  err({ ...base, binding_message: 'x'.repeat(65) }, fapi, 'invalid_binding_message', /longer/);
  err({ ...base, binding_message: 'pay\u202e001' }, fapi, 'invalid_binding_message', /direction/);
  err({ ...base, binding_message: 'a\nb' }, fapi, 'invalid_binding_message', /control/);
  // Format (Cf), line and paragraph separators (Zl, Zp): invisible or layout-changing on the device screen.
  for (const hidden of ['\u061c', '\u200b', '\u200d', '\u2028', '\u2029', '\u2060', '\ufeff', '\u{e0041}']) {
    err(
      { ...base, binding_message: `pay${hidden}001` },
      fapi,
      'invalid_binding_message',
      /control|direction|invisible/,
    );
  }
  err({ ...base, binding_message: `pay a${'\u0301'.repeat(3)}` }, fapi, 'invalid_binding_message', /marks/);
  t.match(
    parseAuthenticationParameters({ ...base, binding_message: 'Zahlung an Müller, café ñ' }, fapi, limits),
    { ok: true },
    'letters with accents, precomposed or with one combining mark, are fine',
  );
  t.match(
    parseAuthenticationParameters({ ...base, binding_message: 'Zahlung an Mu\u0308ller' }, fapi, limits),
    { ok: true },
  );
  err({ ...base, requested_expiry: 0 }, fapi, 'invalid_request', /positive integer/);
  err({ ...base, requested_expiry: '1.5' }, fapi, 'invalid_request', /positive integer/);
  err({ ...base, requested_expiry: 'soon' }, fapi, 'invalid_request', /positive integer/);
  err({ ...base, login_hint: 42 }, fapi, 'invalid_request', /login_hint must be a string/);
  err({ ...base, user_code: '1234' }, fapi, 'invalid_request', /user_code is not enabled/);
  t.match(parseAuthenticationParameters({ ...base, requested_expiry: 60 }, fapi, limits), {
    ok: true,
    value: { expiresIn: 60 },
  });
  t.match(
    parseAuthenticationParameters({ ...base, requested_expiry: '999' }, fapi, limits),
    {
      ok: true,
      value: { expiresIn: 120 },
    },
    'requested_expiry is capped by the configured ceiling',
  );
  t.match(
    parseAuthenticationParameters(
      { ...base, binding_message: undefined, client_notification_token: token },
      core,
      limits,
    ),
    { ok: true, value: { clientNotificationToken: token } },
    'ciba-core does not require a binding_message',
  );
  t.end();
});

t.test('client_notification_token: required for ping and push, at least 128 bits, bearer syntax', (t) => {
  const base = { scope: 'openid', login_hint: 'alice' };
  const err = (tok: string | undefined, d: RegExp) =>
    t.match(
      parseAuthenticationParameters({ ...base, client_notification_token: tok }, core, limits),
      { ok: false, error: { error: 'invalid_request', description: d } },
      String(tok),
    );
  err(undefined, /required in push mode/);
  err('short-token', /128 bits/);
  err('0123456789abcdef0123456789abcde', /128 bits/); // 31 hex digits: 124 bits
  err('a'.repeat(100), /128 bits/);
  err('has space in it and is long enough to pass', /RFC 6750/);
  err('x'.repeat(1025), /longer than 1024/);
  // Long enough on paper, but a short pattern repeated: an attacker guesses the pattern, not the length.
  err('ab'.repeat(20), /128 bits/);
  err('abc123'.repeat(8), /128 bits/);
  err('0123456789abcdef0123456789abcdef', /128 bits/);
  err('Secret-Token-' + 'x'.repeat(30), /128 bits/);
  err('abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz', /128 bits/);
  t.match(
    parseAuthenticationParameters(
      { ...base, client_notification_token: '9f2c4e71b08d36a5e1c7f94b2d0a8365' },
      core,
      limits,
    ),
    { ok: true },
    '32 random hex digits',
  );
  t.match(
    parseAuthenticationParameters(
      { ...base, client_notification_token: '550e8400-e29b-41d4-a716-446655440000-7f3a9c21' },
      core,
      limits,
    ),
    { ok: true },
    'a UUID with a random suffix',
  );
  t.match(
    parseAuthenticationParameters(
      { ...base, client_notification_token: token },
      { ...core, deliveryMode: 'ping' },
      limits,
    ),
    { ok: true },
  );
  t.match(parseAuthenticationParameters(base, { ...core, deliveryMode: 'poll' }, limits), {
    ok: true,
    value: { expiresIn: 120 },
  });
  t.end();
});

t.test('user_code is accepted only when the client enabled it', (t) => {
  const params = { scope: 'openid', login_hint: 'alice', binding_message: 'm', user_code: '4711' };
  t.match(parseAuthenticationParameters(params, { ...fapi, userCodeParameter: true }, limits), {
    ok: true,
    value: { userCode: '4711' },
  });
  t.end();
});
