// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import { SignJWT, generateKeyPair, jwtVerify, decodeJwt, type JWTPayload } from 'jose';
import {
  codeChallengeRefusal,
  codeVerifierMatches,
  s256CodeChallenge,
} from '../../../src/issuer/authorize/pkce.js';
import {
  acrForIdToken,
  acrRequirement,
  parseClaimsRequest,
} from '../../../src/issuer/authorize/claims-request.js';
import { leftHalfHash } from '../../../src/issuer/tokens/id-token.js';
import {
  authorizationRequestOf,
  responseTargetOf,
  type AuthorizationClient,
  type ResponseTarget,
} from '../../../src/issuer/authorize/authorization-request.js';
import {
  authorizationResponse,
  type JwtSigner,
} from '../../../src/issuer/authorize/authorization-response.js';
import { ConfiguredUsers } from '../../../src/issuer/users/authenticator.js';

t.test('PKCE: S256 only, RFC 7636 appendix B vector, wrong verifier refused', (t) => {
  const verifier = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
  const challenge = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM';
  t.equal(s256CodeChallenge(verifier), challenge);
  t.ok(codeVerifierMatches(verifier, challenge));
  t.notOk(codeVerifierMatches(verifier.replace('d', 'e'), challenge));
  t.notOk(codeVerifierMatches('short', challenge), 'verifier below 43 characters');
  t.notOk(codeVerifierMatches(undefined, challenge));
  t.notOk(codeVerifierMatches(challenge, challenge), 'the challenge itself is not the verifier (plain)');
  t.equal(codeChallengeRefusal(challenge, 'S256'), undefined);
  t.match(codeChallengeRefusal(undefined, undefined), {
    error: 'invalid_request',
    description: /code_challenge is required/,
  });
  t.match(codeChallengeRefusal(challenge, 'plain'), {
    error: 'invalid_request',
    description: /plain is not allowed/,
  });
  t.match(codeChallengeRefusal(challenge, undefined), {
    error: 'invalid_request',
    description: /method is required/,
  });
  t.match(codeChallengeRefusal('abc', 'S256'), { error: 'invalid_request' });
  t.end();
});

t.test('claims parameter: essential acr the user cannot meet is access_denied', (t) => {
  const claims = parseClaimsRequest(
    JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:example:acr:strong'] } } }),
  );
  t.ok(claims.ok);
  const req = acrRequirement(claims.ok ? claims.value : undefined, undefined);
  t.same(req, { essential: true, values: ['urn:example:acr:strong'] });
  t.same(acrForIdToken(req, 'urn:example:acr:strong'), { ok: true, value: 'urn:example:acr:strong' });
  t.match(acrForIdToken(req, 'urn:example:acr:weak'), { ok: false, refusal: { error: 'access_denied' } });
  t.match(acrForIdToken(req, undefined), { ok: false, refusal: { error: 'access_denied' } });
  t.match(acrForIdToken({ essential: true }, undefined), { ok: false, refusal: { error: 'access_denied' } });
  t.same(
    acrForIdToken({ essential: false, values: ['x'] }, 'y'),
    { ok: true, value: 'y' },
    'voluntary: actual acr',
  );
  t.same(acrRequirement(undefined, ['a', 'b']), { essential: false, values: ['a', 'b'] });
  t.same(acrRequirement({ id_token: { acr: { essential: true, value: 'v' } } }, undefined), {
    essential: true,
    values: ['v'],
  });
  t.match(parseClaimsRequest('{nope'), { ok: false, refusal: { error: 'invalid_request' } });
  t.match(parseClaimsRequest('[]'), { ok: false });
  t.match(parseClaimsRequest({ id_token: { acr: { essential: 'yes' } } }), { ok: false });
  t.match(parseClaimsRequest({ id_token: { acr: { values: [1] } } }), { ok: false });
  t.end();
});

t.test('ID token hashes: OIDC Core examples, left half of SHA-256', (t) => {
  // OIDC Core 1.0 appendix A.4 / A.6 example values.
  t.equal(leftHalfHash('jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y', 'PS256'), '77QmUPtjPfzWtF2AnpK9RQ');
  t.equal(
    leftHalfHash('Qcb0Orv1zh30vL1MPRsbm-diHiMwcLyZvn1arpZv-Jxf_11jnpEX3Tgfvk', 'ES256'),
    'LDktKdoQak3Pk0cnXxCltA',
  );
  t.end();
});

const client: AuthorizationClient = {
  clientId: 'acme-web',
  redirectUris: ['https://client.example/cb', 'https://client.example/cb?x=1'],
  scopes: ['openid', 'accounts'],
  responseTypes: ['code', 'code id_token'],
  responseModes: ['jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt', 'query', 'fragment'],
  grantTypes: ['authorization_code', 'refresh_token'],
  authorizationSignedResponseAlg: 'PS256',
  profile: 'fapi2-security',
};
const pkce = { code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' };
const good = {
  response_type: 'code',
  redirect_uri: 'https://client.example/cb',
  scope: 'openid accounts',
  state: 's1',
  nonce: 'n1',
  ...pkce,
};

t.test('redirect_uri: required and exact; never a redirect target otherwise', (t) => {
  t.match(responseTargetOf({ ...good, redirect_uri: undefined }, client), {
    ok: false,
    refusal: { error: 'invalid_request' },
  });
  for (const uri of [
    'https://client.example/cb/',
    'https://CLIENT.example/cb',
    'https://client.example/cb?x=2',
    'https://evil.example/cb',
    'https://client.example/cb#f',
  ]) {
    t.match(responseTargetOf({ ...good, redirect_uri: uri }, client), { ok: false }, uri);
  }
  t.match(responseTargetOf(good, client), {
    ok: true,
    value: { redirectUri: 'https://client.example/cb', responseMode: 'query', state: 's1' },
  });
  t.match(responseTargetOf({ ...good, response_mode: 'jwt' }, client), {
    ok: true,
    value: { responseMode: 'query.jwt' },
  });
  t.match(responseTargetOf({ ...good, response_type: 'code id_token', response_mode: 'jwt' }, client), {
    value: { responseMode: 'fragment.jwt' },
  });
  t.match(responseTargetOf({ ...good, response_type: 'code id_token', response_mode: 'query' }, client), {
    ok: true,
    value: { responseMode: 'fragment' },
    refusal: { error: 'invalid_request' },
  });
  t.match(responseTargetOf({ ...good, response_mode: 'form_post' }, client), {
    ok: true,
    value: { responseMode: 'query' },
    refusal: { description: /not registered/ },
  });
  t.match(responseTargetOf({ ...good, response_mode: 'web_message' }, client), {
    refusal: { description: /unsupported/ },
  });
  t.end();
});

t.test('authorization parameters per profile', (t) => {
  const check = (params: Record<string, unknown>, c: AuthorizationClient = client) => {
    const target = responseTargetOf(params, c);
    if (!target.ok) throw new Error('target');
    return authorizationRequestOf(params, c, target.value);
  };
  t.match(check(good), {
    ok: true,
    value: { scopes: ['openid', 'accounts'], codeChallenge: pkce.code_challenge, state: 's1', nonce: 'n1' },
  });
  t.match(check({ ...good, code_challenge: undefined, code_challenge_method: undefined }), {
    refusal: { error: 'invalid_request', description: /code_challenge is required/ },
  });
  t.match(check({ ...good, code_challenge_method: 'plain' }), { refusal: { description: /plain/ } });
  t.match(check({ ...good, scope: 'openid payments' }), { refusal: { error: 'invalid_scope' } });
  t.match(check({ ...good, scope: undefined }), { refusal: { error: 'invalid_scope' } });
  t.match(check({ ...good, response_type: 'token' }), { refusal: { error: 'unsupported_response_type' } });
  t.match(check({ ...good, response_type: 'code id_token', response_mode: 'fragment.jwt' }), {
    refusal: { error: 'unsupported_response_type', description: /FAPI 2.0/ },
  });
  t.match(check({ ...good, response_type: undefined }), { refusal: { error: 'invalid_request' } });
  t.match(check({ ...good, prompt: 'none login' }), { refusal: { error: 'invalid_request' } });
  t.match(check({ ...good, max_age: 'abc' }), { refusal: { error: 'invalid_request' } });
  t.match(check({ ...good, max_age: 60 }), { ok: true, value: { maxAge: 60 } });
  t.match(check({ ...good, state: 42 }), { refusal: { description: /state must be a string/ } });
  t.match(check({ ...good, grant: 1 }, { ...client, grantTypes: ['client_credentials'] }), {
    refusal: { error: 'unauthorized_client' },
  });
  t.match(check({ ...good, claims: { id_token: { acr: { essential: true, values: ['a'] } } } }), {
    ok: true,
    value: { acr: { essential: true, values: ['a'] } },
  });
  t.match(check({ ...good, scope: 'accounts', acr_values: 'a' }), { refusal: { description: /openid/ } });

  const fapi1: AuthorizationClient = { ...client, profile: 'fapi1-advanced' };
  t.match(check(good, fapi1), { refusal: { description: /code id_token, or code with response_mode jwt/ } });
  t.match(check({ ...good, response_mode: 'jwt' }, fapi1), { ok: true });
  t.match(check({ ...good, response_mode: 'jwt', nonce: undefined }, fapi1), {
    refusal: { description: /nonce is required/ },
  });
  t.match(check({ ...good, response_mode: 'jwt', scope: 'accounts', state: undefined }, fapi1), {
    refusal: { description: /state is required/ },
  });
  t.match(check({ ...good, response_type: 'code id_token' }, fapi1), {
    ok: true,
    value: { responseMode: 'fragment' },
  });
  t.match(check({ ...good, response_type: 'code id_token', nonce: undefined }, fapi1), {
    refusal: { description: /nonce/ },
  });
  t.end();
});

t.test('JARM and plain response modes', async (t) => {
  const { privateKey, publicKey } = await generateKeyPair('PS256');
  const signer: JwtSigner = {
    sign: (claims: JWTPayload, o) =>
      new SignJWT(claims).setProtectedHeader({ alg: o.alg, kid: 'as-1' }).sign(privateKey),
  };
  const now = Math.floor(Date.now() / 1000);
  const opts = { issuer: 'https://as.example', signer, now };
  const target = (
    responseMode: ResponseTarget['responseMode'],
    redirectUri = 'https://client.example/cb',
  ): ResponseTarget => ({
    clientId: 'acme-web',
    redirectUri,
    responseMode,
    state: 'st',
    jarmAlg: 'PS256',
  });

  const q = await authorizationResponse(
    target('query', 'https://client.example/cb?x=1'),
    { code: 'c1' },
    opts,
  );
  t.same(q, {
    kind: 'redirect',
    location: 'https://client.example/cb?x=1&code=c1&state=st&iss=https%3A%2F%2Fas.example',
  });
  const f = await authorizationResponse(target('fragment'), { error: 'access_denied' }, opts);
  t.match(f, {
    kind: 'redirect',
    location: 'https://client.example/cb#error=access_denied&state=st&iss=https%3A%2F%2Fas.example',
  });

  for (const mode of ['query.jwt', 'fragment.jwt', 'form_post.jwt'] as const) {
    const d = await authorizationResponse(target(mode), { code: 'c2' }, opts);
    let jwt: string;
    if (d.kind === 'redirect') {
      const url = new URL(d.location);
      const params = mode === 'query.jwt' ? url.searchParams : new URLSearchParams(url.hash.slice(1));
      t.same([...params.keys()], ['response'], `${mode}: only the response parameter`);
      jwt = params.get('response')!;
    } else {
      t.equal(mode, 'form_post.jwt');
      t.same(Object.keys(d.fields), ['response']);
      jwt = d.fields['response']!;
    }
    const { payload, protectedHeader } = await jwtVerify(jwt, publicKey, {
      issuer: 'https://as.example',
      audience: 'acme-web',
    });
    t.equal(protectedHeader.alg, 'PS256');
    t.equal(payload['code'], 'c2');
    t.equal(payload['state'], 'st');
    t.ok(payload.exp! > now && payload.exp! <= now + 600, `${mode}: exp at most 10 minutes ahead`);
  }
  const err = await authorizationResponse(
    target('query.jwt'),
    { error: 'access_denied', error_description: 'no' },
    opts,
  );
  const jwt = new URL((err as { location: string }).location).searchParams.get('response')!;
  t.match(decodeJwt(jwt), { error: 'access_denied', error_description: 'no', state: 'st', aud: 'acme-web' });
  const capped = await authorizationResponse(
    target('query.jwt'),
    { code: 'c' },
    { ...opts, jarmTtlSeconds: 3600 },
  );
  t.equal(
    decodeJwt(new URL((capped as { location: string }).location).searchParams.get('response')!).exp,
    now + 600,
  );
});

t.test('configured users: constant-time password check, no hint which part failed', async (t) => {
  const users = new ConfiguredUsers([
    { username: 'alice', password: 'correct horse', claims: { name: 'Alice' }, acr: 'urn:a' },
    { username: 'bob', password: 'pw', claims: { sub: 'bob-123' } },
  ]);
  t.match(await users.authenticate('alice', 'correct horse'), {
    sub: 'alice',
    acr: 'urn:a',
    claims: { name: 'Alice' },
  });
  t.equal(await users.authenticate('alice', 'wrong'), undefined);
  t.equal(await users.authenticate('mallory', 'correct horse'), undefined);
  t.equal(await users.authenticate('alice', ''), undefined);
  t.match(await users.findBySubject('bob-123'), { username: 'bob' });
});
