/**
 * The authorization code flow over real HTTPS/mTLS without a browser (the form posts are made
 * directly): every refusal the issue lists, with exact status and error, and what was (not) issued.
 */
import t from 'tap';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { leftHalfHash } from '../../../src/issuer/tokens/id-token.js';
import {
  ALICE,
  BOB,
  FormBrowser,
  REDIRECT_URI,
  WEB_CLIENT_ID,
  responseParameters,
  startCodeFlowIssuer,
  type CodeFlowIssuer,
} from '../../helpers/code-flow.js';
import {
  clientSigningKey,
  pkcePair,
  signedRequestObject,
  unsignedJwt,
  type ClientSigningKey,
} from '../../helpers/request-objects.js';
import type { HttpsResponse } from '../../helpers/issuer.js';
import { fetchText, metricValue } from '../../helpers/metrics-text.js';

let as: CodeFlowIssuer;
let issuerKeys: JWTVerifyGetKey;
let hybridKey: ClientSigningKey;

t.before(async () => {
  hybridKey = await clientSigningKey('ES256', 'hybrid-1');
  as = await startCodeFlowIssuer({
    extraClients: [
      {
        clientId: 'fapi1-hybrid',
        clientName: 'Hybrid Bank App',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Acme,CN=client-a',
        profile: 'fapi1-advanced',
        jwks: hybridKey.jwks,
        requestObjectSigningAlg: 'ES256',
        scopes: ['openid', 'accounts'],
        redirectUris: [REDIRECT_URI],
        grantTypes: ['authorization_code'],
        responseTypes: ['code id_token', 'code'],
        responseModes: ['fragment', 'fragment.jwt', 'query.jwt', 'jwt', 'form_post'],
        requirePushedAuthorizationRequests: false,
      },
    ],
  });
  issuerKeys = createLocalJWKSet((await as.get('/jwks')).json as never);
});
t.teardown(() => as.close());

async function pushed(
  claims: Record<string, unknown> = {},
): Promise<{ requestUri: string; verifier: string; state: string; nonce: string }> {
  const { verifier, challenge } = pkcePair();
  const state = `st-${Math.random()}`;
  const nonce = `n-${Math.random()}`;
  const res = await as.par(await as.requestObject({ code_challenge: challenge, state, nonce, ...claims }));
  if (res.status !== 201) throw new Error(`PAR ${res.status} ${res.text}`);
  return { requestUri: res.json['request_uri'] as string, verifier, state, nonce };
}

async function signIn(
  browser: FormBrowser,
  requestUri: string,
  user: { username: string; password: string } = ALICE,
  clientId = WEB_CLIENT_ID,
): Promise<HttpsResponse> {
  const login = await browser.get(
    `/authorize?client_id=${clientId}&request_uri=${encodeURIComponent(requestUri)}`,
  );
  if (login.status !== 200 || !login.text.includes('Sign in'))
    throw new Error(`expected login page: ${login.status} ${login.text.slice(0, 300)}`);
  return browser.submit(login, { username: user.username, password: user.password });
}

async function approve(
  browser: FormBrowser,
  consent: HttpsResponse,
  decision: 'approve' | 'deny' = 'approve',
): Promise<HttpsResponse> {
  if (!consent.text.includes('Approve'))
    throw new Error(`expected consent page: ${consent.status} ${consent.text.slice(0, 300)}`);
  return browser.submit(consent, { decision });
}

/** A code for alice; the consent page is answered when shown (consent may be remembered). */
async function codeFor(claims: Record<string, unknown> = {}, browser = new FormBrowser(as)) {
  const p = await pushed(claims);
  const afterLogin = await signIn(browser, p.requestUri);
  const done = afterLogin.status === 303 ? afterLogin : await approve(browser, afterLogin);
  const location = done.headers['location'] as string;
  return { ...p, location, params: responseParameters(location), browser };
}

t.test('discovery lists the authorization code flow fields', async (t) => {
  const doc = (await as.get('/.well-known/openid-configuration')).json;
  t.match(doc, {
    authorization_endpoint: `${as.issuer.url}/authorize`,
    pushed_authorization_request_endpoint: `${as.issuer.url}/par`,
    userinfo_endpoint: `${as.issuer.url}/userinfo`,
    require_pushed_authorization_requests: true,
    code_challenge_methods_supported: ['S256'],
    request_object_signing_alg_values_supported: ['PS256', 'ES256'],
    response_modes_supported: [
      'jwt',
      'query.jwt',
      'fragment.jwt',
      'form_post.jwt',
      'query',
      'fragment',
      'form_post',
    ],
    response_types_supported: ['code', 'code id_token'],
    authorization_signing_alg_values_supported: ['PS256'],
    authorization_response_iss_parameter_supported: true,
    claims_parameter_supported: true,
    require_signed_request_object: true,
    acr_values_supported: [ALICE.acr],
    mtls_endpoint_aliases: {
      pushed_authorization_request_endpoint: `${as.issuer.mtlsUrl}/par`,
      userinfo_endpoint: `${as.issuer.mtlsUrl}/userinfo`,
    },
  });
  t.ok((doc['grant_types_supported'] as string[]).includes('authorization_code'));
  t.ok((doc['grant_types_supported'] as string[]).includes('refresh_token'));
  // What discovery announces is what the endpoints do: signed request objects are sent as `request`
  // (at PAR, or by value where PAR is optional), and every listed prompt value is accepted.
  t.equal(doc['request_parameter_supported'], true);
  t.same(doc['prompt_values_supported'], ['none', 'login', 'consent', 'select_account']);
});

t.test('the authorization endpoint takes POST like GET (OIDC Core §3.1.2.1)', async (t) => {
  const p = await pushed();
  const browser = new FormBrowser(as);
  const page = await browser.post('/authorize', {
    client_id: WEB_CLIENT_ID,
    request_uri: p.requestUri,
  });
  t.equal(page.status, 200, page.text.slice(0, 200));
  t.match(page.text, /Username/, 'the sign-in page, as for GET');
  const again = await browser.post('/authorize', { client_id: WEB_CLIENT_ID, request_uri: p.requestUri });
  t.equal(again.status, 400, 'the request_uri stays single use');
  t.match(again.text, /invalid_request_uri/);
});

t.test('PAR, login, consent, code, bound tokens, ID token, userinfo', async (t) => {
  const p = await pushed();
  t.match(p.requestUri, /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9_-]{43}$/);
  const browser = new FormBrowser(as);
  const consent = await signIn(browser, p.requestUri);
  t.equal(consent.status, 200);
  t.match(consent.text, /Acme Budgeting/);
  t.match(consent.text, /<code>openid<\/code>/);
  t.match(consent.text, /<code>accounts<\/code>/);
  const done = await approve(browser, consent);
  t.equal(done.status, 303);
  const location = done.headers['location'] as string;
  t.ok(location.startsWith(`${REDIRECT_URI}?`));
  const params = responseParameters(location);
  t.equal(params.get('state'), p.state);
  t.equal(params.get('iss'), as.issuer.url, 'RFC 9207 iss parameter');
  const code = params.get('code')!;
  t.ok(Buffer.from(code, 'base64url').length >= 16, 'code has >= 128 bits');

  const res = await as.token({
    grant_type: 'authorization_code',
    code,
    redirect_uri: REDIRECT_URI,
    code_verifier: p.verifier,
  });
  t.equal(res.status, 200, res.text);
  t.equal(res.headers['cache-control'], 'no-store');
  t.match(res.json, { token_type: 'Bearer', scope: 'openid accounts' });
  const at = res.json['access_token'] as string;
  t.ok(res.json['refresh_token']);
  const atClaims = decodeJwt(at);
  t.same(atClaims['cnf'], { 'x5t#S256': as.pki.clientA.thumbprint });
  t.equal(atClaims.sub, 'alice');
  const { payload: id } = await jwtVerify(res.json['id_token'] as string, issuerKeys, {
    issuer: as.issuer.url,
    audience: WEB_CLIENT_ID,
  });
  t.equal(id.sub, 'alice');
  t.equal(id['nonce'], p.nonce);
  t.equal(id['acr'], ALICE.acr);
  t.equal(id['at_hash'], leftHalfHash(at, 'PS256'));
  t.type(id['auth_time'], 'number');
  t.ok(id.exp! > id.iat!);

  const info = await as.get('/userinfo', {
    listener: 'mtls',
    credential: as.pki.clientA,
    headers: { authorization: `Bearer ${at}` },
  });
  t.equal(info.status, 200, info.text);
  t.same(info.json, { sub: 'alice' }, 'scope openid accounts releases no profile claims');
  const stolen = await as.get('/userinfo', {
    listener: 'mtls',
    credential: as.pki.clientB,
    headers: { authorization: `Bearer ${at}` },
  });
  t.equal(stolen.status, 401);
  t.match(stolen.headers['www-authenticate'], /Bearer .*error="invalid_token"/);
  const noCert = await as.get('/userinfo', { headers: { authorization: `Bearer ${at}` } });
  t.equal(noCert.status, 401);
  const inQuery = await as.get(`/userinfo?access_token=${at}`, {
    listener: 'mtls',
    credential: as.pki.clientA,
  });
  t.equal(inQuery.status, 400);
  const none = await as.get('/userinfo', { listener: 'mtls', credential: as.pki.clientA });
  t.equal(none.status, 401);
  t.match(
    none.headers['www-authenticate'],
    /^Bearer realm="fapi-issuer", DPoP realm="fapi-issuer", algs="[^"]+"$/,
    'RFC 6750 §3.1: no error code without credentials',
  );
  t.same(none.json, {});
  const garbled = await as.get('/userinfo', {
    listener: 'mtls',
    credential: as.pki.clientA,
    headers: { authorization: `Bearer ${at}x` },
  });
  t.equal(garbled.status, 401);
  t.same(garbled.json, {
    error: 'invalid_token',
    error_description: 'the access token is invalid, expired or revoked',
  });
  // Every userinfo refusal is counted by reason, like the other endpoints' refusals.
  const refusals = async (reason: string) =>
    metricValue((await fetchText(as.issuer.adminPort!, '/metrics')).body, 'fapi_issuer_failures_total', {
      endpoint: 'userinfo',
      reason,
    });
  t.equal(await refusals('userinfo_token_binding'), 2, 'another certificate, and none');
  t.equal(await refusals('userinfo_token_in_query'), 1);
  t.equal(await refusals('userinfo_token_missing'), 1);
  t.equal(await refusals('userinfo_token_inactive'), 1);

  // consent is remembered for (alice, acme-web, {openid, accounts}): same browser goes straight back
  const again = await pushed();
  const direct = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(again.requestUri)}`,
  );
  t.equal(direct.status, 303);
  t.ok(responseParameters(direct.headers['location'] as string).get('code'));
  // a different scope set asks again
  const wider = await pushed({ scope: 'openid accounts profile' });
  const ask = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(wider.requestUri)}`,
  );
  t.equal(ask.status, 200);
  t.match(ask.text, /Approve/);
  const granted = responseParameters((await approve(browser, ask)).headers['location'] as string).get(
    'code',
  )!;
  const tok = await as.token({
    grant_type: 'authorization_code',
    code: granted,
    redirect_uri: REDIRECT_URI,
    code_verifier: wider.verifier,
  });
  const info2 = await as.get('/userinfo', {
    listener: 'mtls',
    credential: as.pki.clientA,
    headers: { authorization: `Bearer ${tok.json['access_token'] as string}` },
  });
  t.same(info2.json, { name: 'Alice Doe', sub: 'alice' }, 'profile scope releases name');
});

t.test('request_uri is single use and bound to its client', async (t) => {
  const p = await pushed();
  const browser = new FormBrowser(as);
  const first = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(p.requestUri)}`,
  );
  t.equal(first.status, 200);
  const second = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(p.requestUri)}`,
  );
  t.equal(second.status, 400);
  t.match(second.text, /invalid_request_uri/);
  t.notMatch(second.text, /Username/, 'never the login page');
  const q = await pushed();
  const other = await browser.get(
    `/authorize?client_id=fapi1-hybrid&request_uri=${encodeURIComponent(q.requestUri)}`,
  );
  t.equal(other.status, 400);
  t.match(other.text, /invalid_request_uri/);
  // Checked before it is used up: another client that learns a request_uri cannot burn its owner's flow.
  const owner = await new FormBrowser(as).get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(q.requestUri)}`,
  );
  t.equal(owner.status, 200, 'the owner still continues with it');
  t.match(owner.text, /Username/);
});

t.test('authorization request by value is refused when PAR is required', async (t) => {
  const browser = new FormBrowser(as);
  const request = await as.requestObject();
  const withRedirect = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request=${request}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&state=xyz&response_type=code&scope=openid`,
  );
  // Parameters outside a verified request object choose nothing, not even where and how an error goes:
  // a redirect would carry an attacker-chosen state to the client, signed if the mode were JARM.
  t.equal(withRedirect.status, 400, 'the error page, not a redirect chosen by unverified parameters');
  t.equal(withRedirect.headers['location'], undefined);
  t.match(withRedirect.text, /invalid_request/);
  t.match(withRedirect.text, /PAR/);
  t.notMatch(withRedirect.text, /xyz/, 'the outer state is not echoed');
  const jarm = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Anone&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&response_mode=jwt&state=chosen`,
  );
  t.equal(jarm.status, 400, 'an unknown request_uri: the error page, no signed response');
  t.equal(jarm.headers['location'], undefined);
  t.match(jarm.text, /invalid_request_uri/);
  const plain = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`,
  );
  t.equal(plain.status, 400);
  t.equal(plain.headers['location'], undefined);
  const unregistered = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request=${request}&redirect_uri=${encodeURIComponent('https://evil.example/cb')}`,
  );
  t.equal(unregistered.status, 400, 'error page, no redirect to an unregistered URI');
  t.equal(unregistered.headers['location'], undefined);
  t.notMatch(unregistered.text, /Username/);
  const none = await browser.get(`/authorize?client_id=${WEB_CLIENT_ID}&request=${request}`);
  t.equal(none.status, 400);
  t.notMatch(none.text, /Username/);
  const unknown = await browser.get(`/authorize?client_id=nobody&request_uri=x`);
  t.equal(unknown.status, 400);
  const noClient = await browser.get(`/authorize`);
  t.equal(noClient.status, 400);
  t.match(noClient.headers['content-security-policy'], /frame-ancestors 'none'/);
});

t.test('PAR refuses bad request objects and parameters with 400', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const other = await clientSigningKey('PS256', 'acme-web-1');
  const cases: [string, string | Promise<string>, string, RegExp][] = [
    [
      'unsigned',
      unsignedJwt({ iss: WEB_CLIENT_ID, aud: as.issuer.url, exp: now + 60, nbf: now, response_type: 'code' }),
      'invalid_request_object',
      /alg none/,
    ],
    ['expired', as.requestObject({ exp: now - 120, nbf: now - 300 }), 'invalid_request_object', /expired/],
    // Without a jti a request object could not be recognised when replayed.
    ['no jti', as.requestObject({ jti: undefined }), 'invalid_request_object', /jti/],
    ['nbf too old', as.requestObject({ nbf: now - 3700, exp: now + 60 }), 'invalid_request_object', /nbf/],
    [
      'lifetime over 60 minutes',
      as.requestObject({}, { lifetimeSeconds: 3700 }),
      'invalid_request_object',
      /60 minutes/,
    ],
    ['no exp', as.requestObject({ exp: undefined }), 'invalid_request_object', /exp/],
    ['no nbf', as.requestObject({ nbf: undefined }), 'invalid_request_object', /nbf/],
    ['wrong aud', as.requestObject({ aud: 'https://other.example' }), 'invalid_request_object', /aud/],
    ['wrong iss', as.requestObject({ iss: 'someone' }), 'invalid_request_object', /iss/],
    ['wrong key', as.requestObject({}, { key: other }), 'invalid_request_object', /signature/],
    [
      'wrong alg',
      as.requestObject({}, { key: await clientSigningKey('ES256') }),
      'invalid_request_object',
      /PS256/,
    ],
    [
      'missing PKCE',
      as.requestObject({ code_challenge: undefined, code_challenge_method: undefined }),
      'invalid_request',
      /code_challenge/,
    ],
    ['plain PKCE', as.requestObject({ code_challenge_method: 'plain' }), 'invalid_request', /plain/],
    [
      'redirect_uri mismatch',
      as.requestObject({ redirect_uri: 'https://client.example/cb/other' }),
      'invalid_request',
      /redirect_uri/,
    ],
    ['no redirect_uri', as.requestObject({ redirect_uri: undefined }), 'invalid_request', /redirect_uri/],
    ['scope not registered', as.requestObject({ scope: 'openid payments' }), 'invalid_scope', /payments/],
    [
      'response_type token',
      as.requestObject({ response_type: 'token' }),
      'unsupported_response_type',
      /token/,
    ],
    [
      'hybrid under FAPI 2',
      as.requestObject({ response_type: 'code id_token', response_mode: 'fragment.jwt' }),
      'unsupported_response_type',
      /FAPI 2.0/,
    ],
    [
      'unregistered response_mode',
      as.requestObject({ response_mode: 'form_post' }),
      'invalid_request',
      /response_mode/,
    ],
  ];
  for (const [name, jwt, error, description] of cases) {
    const res = await as.par(await jwt);
    t.equal(res.status, 400, name);
    t.equal(res.json['error'], error, name);
    t.match(res.json['error_description'], description, name);
    t.equal(res.json['request_uri'], undefined, `${name}: nothing stored`);
    t.equal(res.headers['cache-control'], 'no-store');
  }
  const noRequest = await as.postForm('/par', {
    ...(await as.assertion()),
    response_type: 'code',
    client_id: WEB_CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'openid',
  });
  t.equal(noRequest.status, 400);
  t.equal(noRequest.json['error'], 'invalid_request');
  const outsideDiffers = await as.par(await as.requestObject(), { scope: 'openid accounts profile' });
  t.equal(outsideDiffers.status, 400, 'FAPI 2: a parameter outside the request object must match the inside');
  const withRequestUri = await as.par(await as.requestObject(), { request_uri: 'urn:x' });
  t.equal(withRequestUri.status, 400);
  const unauthenticated = await as.postForm('/par', {
    client_id: WEB_CLIENT_ID,
    request: await as.requestObject(),
  });
  t.equal(unauthenticated.status, 401);
  t.equal(unauthenticated.json['error'], 'invalid_client');
  const replayed = await as.requestObject();
  t.equal((await as.par(replayed)).status, 201);
  const again = await as.par(replayed);
  t.equal(again.status, 400, 'a request object (jti) is used once');
  t.equal(again.json['error'], 'invalid_request_object');
});

t.test('token endpoint: PKCE, redirect_uri, certificate and client bindings of the code', async (t) => {
  const c = await codeFor();
  const code = c.params.get('code')!;
  const base = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI };
  const wrongVerifier = await as.token({ ...base, code_verifier: pkcePair().verifier });
  t.equal(wrongVerifier.status, 400);
  t.equal(wrongVerifier.json['error'], 'invalid_grant');
  t.match(wrongVerifier.json['error_description'], /code_verifier/);
  const noVerifier = await as.token(base);
  t.equal(noVerifier.json['error'], 'invalid_grant');
  const wrongRedirect = await as.token({
    ...base,
    redirect_uri: 'https://client.example/cb2',
    code_verifier: c.verifier,
  });
  t.equal(wrongRedirect.json['error'], 'invalid_grant');
  t.match(wrongRedirect.json['error_description'], /redirect_uri/);
  const noCert = await as.token({ ...base, code_verifier: c.verifier }, null);
  t.equal(noCert.status, 400);
  t.match(noCert.json['error_description'], /certificate/);
  const ok = await as.token({ ...base, code_verifier: c.verifier });
  t.equal(ok.status, 200, 'failed attempts did not burn the code');
});

t.test('code reuse fails with invalid_grant and revokes every token of the first use', async (t) => {
  const c = await codeFor();
  const req = {
    grant_type: 'authorization_code',
    code: c.params.get('code')!,
    redirect_uri: REDIRECT_URI,
    code_verifier: c.verifier,
  };
  const first = await as.token(req);
  t.equal(first.status, 200);
  const introspect = async (token: string) =>
    (await as.postForm('/introspect', { ...(await as.assertion()), token })).json;
  t.equal((await introspect(first.json['access_token'] as string))['active'], true);
  const second = await as.token(req);
  t.equal(second.status, 400);
  t.equal(second.json['error'], 'invalid_grant');
  t.match(second.json['error_description'], /already used/);
  t.equal(second.json['access_token'], undefined);
  t.same(await introspect(first.json['access_token'] as string), { active: false });
  const refresh = await as.token({
    grant_type: 'refresh_token',
    refresh_token: first.json['refresh_token'] as string,
  });
  t.equal(refresh.status, 400);
  t.equal(refresh.json['error'], 'invalid_grant');
  const info = await as.get('/userinfo', {
    listener: 'mtls',
    credential: as.pki.clientA,
    headers: { authorization: `Bearer ${first.json['access_token'] as string}` },
  });
  t.equal(info.status, 401);
});

t.test('a used code presented by another client is refused without touching its tokens', async (t) => {
  const c = await codeFor();
  const req = {
    grant_type: 'authorization_code',
    code: c.params.get('code')!,
    redirect_uri: REDIRECT_URI,
    code_verifier: c.verifier,
  };
  const first = await as.token(req);
  t.equal(first.status, 200);
  // Client identity is settled before the code is looked at as used: otherwise any client that learns a
  // redeemed code could revoke another client's grant.
  const other = await as.postForm(
    '/token',
    { ...req, client_id: 'fapi1-hybrid' },
    { credential: as.pki.clientA },
  );
  t.equal(other.status, 400);
  t.equal(other.json['error'], 'invalid_grant');
  t.match(other.json['error_description'], /another client/);
  const introspect = async (token: string) =>
    (await as.postForm('/introspect', { ...(await as.assertion()), token })).json;
  t.equal((await introspect(first.json['access_token'] as string))['active'], true, 'the first use stands');
});

t.test('a renewed client certificate refreshes the grant; the new access token is bound to it', async (t) => {
  const c = await codeFor();
  const first = await as.token({
    grant_type: 'authorization_code',
    code: c.params.get('code')!,
    redirect_uri: REDIRECT_URI,
    code_verifier: c.verifier,
  });
  t.equal(first.status, 200);
  // The refresh token is bound to the client, which authenticates again; not to one certificate.
  const renewed = await as.token(
    { grant_type: 'refresh_token', refresh_token: first.json['refresh_token'] as string },
    as.pki.clientB,
  );
  t.equal(renewed.status, 200, String(renewed.json['error_description']));
  t.same(decodeJwt(renewed.json['access_token'] as string)['cnf'], { 'x5t#S256': as.pki.clientB.thumbprint });
});

t.test('refresh tokens rotate; reusing an old one revokes the family', async (t) => {
  const c = await codeFor();
  const first = await as.token({
    grant_type: 'authorization_code',
    code: c.params.get('code')!,
    redirect_uri: REDIRECT_URI,
    code_verifier: c.verifier,
  });
  const rt1 = first.json['refresh_token'] as string;
  const narrowed = await as.token({
    grant_type: 'refresh_token',
    refresh_token: rt1,
    scope: 'openid accounts payments',
  });
  t.equal(narrowed.json['error'], 'invalid_scope', 'scope may only narrow');
  const second = await as.token({ grant_type: 'refresh_token', refresh_token: rt1 });
  t.equal(second.status, 200, second.text);
  t.equal(second.json['scope'], 'openid accounts');
  const rt2 = second.json['refresh_token'] as string;
  t.not(rt2, rt1, 'rotated');
  t.same(decodeJwt(second.json['access_token'] as string)['cnf'], { 'x5t#S256': as.pki.clientA.thumbprint });
  const { payload: id } = await jwtVerify(second.json['id_token'] as string, issuerKeys, {
    issuer: as.issuer.url,
    audience: WEB_CLIENT_ID,
  });
  t.equal(id['at_hash'], leftHalfHash(second.json['access_token'] as string, 'PS256'));
  const otherClient = await as.postForm(
    '/token',
    { grant_type: 'refresh_token', refresh_token: rt2, client_id: 'tls-a' },
    { credential: as.pki.clientA },
  );
  t.equal(otherClient.status, 400);
  t.equal(otherClient.json['error'], 'unauthorized_client');
  const reuse = await as.token({ grant_type: 'refresh_token', refresh_token: rt1 });
  t.equal(reuse.status, 400);
  t.equal(reuse.json['error'], 'invalid_grant');
  const afterReuse = await as.token({ grant_type: 'refresh_token', refresh_token: rt2 });
  t.equal(afterReuse.json['error'], 'invalid_grant', 'the whole family is revoked');
  const active = await as.postForm('/introspect', {
    ...(await as.assertion()),
    token: second.json['access_token'] as string,
  });
  t.same(active.json, { active: false });
});

t.test('Deny ends with access_denied; an essential acr the user cannot meet too', async (t) => {
  const p = await pushed({ prompt: 'consent' });
  const browser = new FormBrowser(as);
  const denied = await approve(browser, await signIn(browser, p.requestUri), 'deny');
  t.equal(denied.status, 303);
  const params = responseParameters(denied.headers['location'] as string);
  t.equal(params.get('error'), 'access_denied');
  t.equal(params.get('state'), p.state);
  t.notOk(params.get('code'));

  const essential = { claims: { id_token: { acr: { essential: true, values: [ALICE.acr] } } } };
  const b = await pushed(essential);
  const bob = await signIn(new FormBrowser(as), b.requestUri, BOB);
  t.equal(bob.status, 303);
  t.equal(responseParameters(bob.headers['location'] as string).get('error'), 'access_denied');
  const a = await codeFor(essential);
  const tok = await as.token({
    grant_type: 'authorization_code',
    code: a.params.get('code')!,
    redirect_uri: REDIRECT_URI,
    code_verifier: a.verifier,
  });
  t.equal(decodeJwt(tok.json['id_token'] as string)['acr'], ALICE.acr);
});

t.test('JARM: signed response with iss, aud, exp <= 10 minutes, code and state', async (t) => {
  for (const mode of ['jwt', 'query.jwt', 'fragment.jwt'] as const) {
    const c = await codeFor({ response_mode: mode });
    const url = new URL(c.location);
    const carrier = mode === 'fragment.jwt' ? new URLSearchParams(url.hash.slice(1)) : url.searchParams;
    t.same([...carrier.keys()], ['response'], `${mode}: nothing but response`);
    const { payload, protectedHeader } = await jwtVerify(carrier.get('response')!, issuerKeys, {
      issuer: as.issuer.url,
      audience: WEB_CLIENT_ID,
    });
    t.equal(protectedHeader.alg, 'PS256');
    t.equal(payload['state'], c.state);
    t.ok(payload.exp! - Math.floor(Date.now() / 1000) <= 600);
    const tok = await as.token({
      grant_type: 'authorization_code',
      code: payload['code'] as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: c.verifier,
    });
    t.equal(tok.status, 200, `${mode}: the code redeems`);
  }
  const p = await pushed({ response_mode: 'form_post.jwt', prompt: 'consent' });
  const browser = new FormBrowser(as);
  const page = await approve(browser, await signIn(browser, p.requestUri));
  t.equal(page.status, 200);
  t.match(page.text, new RegExp(`<form method="post" action="${REDIRECT_URI}"`));
  t.match(page.headers['content-security-policy'], /form-action 'self' https:\/\/client\.example;/);
  const jwt = /name="response" value="([^"]+)"/.exec(page.text)![1]!;
  t.equal(
    (await jwtVerify(jwt, issuerKeys, { issuer: as.issuer.url, audience: WEB_CLIENT_ID })).payload['state'],
    p.state,
  );

  const d = await pushed({ response_mode: 'query.jwt', prompt: 'consent' });
  const db = new FormBrowser(as);
  const denied = await approve(db, await signIn(db, d.requestUri), 'deny');
  const err = new URL(denied.headers['location'] as string).searchParams.get('response')!;
  const { payload } = await jwtVerify(err, issuerKeys, { issuer: as.issuer.url, audience: WEB_CLIENT_ID });
  t.match(payload, { error: 'access_denied', state: d.state });
  const tampered = err.slice(0, -4) + (err.endsWith('AAAA') ? 'BBBB' : 'AAAA');
  await t.rejects(jwtVerify(tampered, issuerKeys, { issuer: as.issuer.url, audience: WEB_CLIENT_ID }));
});

t.test('FAPI 1 Advanced hybrid: ID token as detached signature with c_hash and s_hash', async (t) => {
  const { verifier, challenge } = pkcePair();
  const state = 'hybrid-state';
  const nonce = 'hybrid-nonce';
  const params = {
    client_id: 'fapi1-hybrid',
    response_type: 'code id_token',
    redirect_uri: REDIRECT_URI,
    scope: 'openid accounts',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  };
  const request = await signedRequestObject({
    key: hybridKey,
    clientId: 'fapi1-hybrid',
    audience: as.issuer.url,
    claims: params,
  });
  const browser = new FormBrowser(as);
  // FAPI 1 Advanced: only the request object counts; the outside copies are ignored.
  const login = await browser.get(
    `/authorize?client_id=fapi1-hybrid&request=${request}&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(REDIRECT_URI)}`,
  );
  t.equal(login.status, 200, login.text.slice(0, 200));
  const consent = await browser.submit(login, { username: ALICE.username, password: ALICE.password });
  t.match(consent.text, /Hybrid Bank App/);
  const done = await browser.submit(consent, { decision: 'approve' });
  t.equal(done.status, 303);
  const location = done.headers['location'] as string;
  t.ok(new URL(location).hash.length > 1, 'default response mode of code id_token is fragment');
  const p = responseParameters(location);
  const code = p.get('code')!;
  t.equal(p.get('state'), state);
  const { payload: id } = await jwtVerify(p.get('id_token')!, issuerKeys, {
    issuer: as.issuer.url,
    audience: 'fapi1-hybrid',
  });
  t.equal(id['c_hash'], leftHalfHash(code, 'PS256'));
  t.equal(id['s_hash'], leftHalfHash(state, 'PS256'));
  t.equal(id['nonce'], nonce);
  t.equal(id['acr'], ALICE.acr);
  t.equal(id['name'], undefined, 'no end-user claims in the front channel');
  const tok = await as.postForm(
    '/token',
    {
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      client_id: 'fapi1-hybrid',
    },
    { credential: as.pki.clientA },
  );
  t.equal(tok.status, 200, tok.text);
  t.same(decodeJwt(tok.json['access_token'] as string)['cnf'], { 'x5t#S256': as.pki.clientA.thumbprint });
  t.equal(tok.json['refresh_token'], undefined, 'no refresh_token grant registered: no refresh token');

  const replay = await browser.get(`/authorize?client_id=fapi1-hybrid&request=${request}`);
  t.equal(replay.status, 400, 'a by-value request object is used once (jti)');
  const unsigned = await browser.get(
    `/authorize?client_id=fapi1-hybrid&response_type=${encodeURIComponent('code id_token')}&redirect_uri=${encodeURIComponent(REDIRECT_URI)}&state=s&scope=openid&nonce=n&code_challenge=${challenge}&code_challenge_method=S256`,
  );
  t.equal(unsigned.status, 303);
  t.equal(
    responseParameters(unsigned.headers['location'] as string).get('error'),
    'invalid_request',
    'unsigned request by value refused',
  );
  t.ok(
    new URL(unsigned.headers['location'] as string).hash,
    'error of a hybrid request goes to the fragment',
  );
  const codeOnly = await signedRequestObject({
    key: hybridKey,
    clientId: 'fapi1-hybrid',
    audience: as.issuer.url,
    claims: { ...params, response_type: 'code' },
  });
  const refused = await browser.get(`/authorize?client_id=fapi1-hybrid&request=${codeOnly}`);
  t.equal(refused.status, 303);
  // the client registered no plain query mode, so the error comes back JARM-encoded (query.jwt)
  const jarm = new URL(refused.headers['location'] as string).searchParams.get('response')!;
  const { payload: refusal } = await jwtVerify(jarm, issuerKeys, {
    issuer: as.issuer.url,
    audience: 'fapi1-hybrid',
  });
  t.match(refusal, { error: 'invalid_request', error_description: /response_mode/ });
});

t.test('login and consent forms: CSRF, origin, session binding, lockout', async (t) => {
  const p = await pushed();
  const browser = new FormBrowser(as);
  const login = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(p.requestUri)}`,
  );
  const cookie = login.headers['set-cookie'] as string[] | string;
  t.match(
    String(cookie),
    /^__Host-fapi-issuer-session=[A-Za-z0-9_-]{43}; Path=\/; Secure; HttpOnly; SameSite=Lax/,
  );
  t.match(
    login.headers['content-security-policy'],
    /default-src 'none'.*script-src 'none'.*frame-ancestors 'none'/,
  );
  const badCsrf = await browser.submit(login, {
    username: ALICE.username,
    password: ALICE.password,
    csrf_token: 'forged',
  });
  t.equal(badCsrf.status, 403);
  const crossOrigin = await browser.post(
    '/authorize/login',
    { username: 'alice', password: ALICE.password },
    { origin: 'https://evil.example' },
  );
  t.equal(crossOrigin.status, 403);
  const stranger = new FormBrowser(as);
  const foreign = await stranger.submit(login, { username: ALICE.username, password: ALICE.password });
  t.equal(foreign.status, 400, 'no session cookie: the interaction belongs to another browser');
  const counted = async (reason: string) =>
    metricValue((await fetchText(as.issuer.adminPort!, '/metrics')).body, 'fapi_issuer_failures_total', {
      endpoint: 'login',
      reason,
    });
  t.equal(await counted('form_csrf_invalid'), 1, 'each refused form is counted by reason');
  t.equal(await counted('form_cross_origin'), 1);
  t.equal(await counted('form_session_missing'), 1);
  const wrong = await browser.submit(login, { username: ALICE.username, password: 'nope' });
  t.equal(wrong.status, 200);
  t.match(wrong.text, /not correct/);
  t.match(wrong.text, /value="alice"/);
  // Guess limits (per user and source, across requests): sign-in-limits.test.ts.
  const right = await browser.submit(wrong, { username: ALICE.username, password: ALICE.password });
  t.not(right.text, /not correct/, 'the right password after a wrong one signs in');
});

t.test('prompt=none and max_age against the browser session', async (t) => {
  const fresh = new FormBrowser(as);
  const none = await pushed({ prompt: 'none' });
  const res = await fresh.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(none.requestUri)}`,
  );
  t.equal(res.status, 303);
  t.equal(responseParameters(res.headers['location'] as string).get('error'), 'login_required');

  const c = await codeFor({}, fresh);
  t.ok(c.params.get('code'));
  const silent = await pushed({ prompt: 'none' });
  const ok = await fresh.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(silent.requestUri)}`,
  );
  t.equal(ok.status, 303);
  t.ok(
    responseParameters(ok.headers['location'] as string).get('code'),
    'signed in and consented: silent code',
  );
  const noConsent = await pushed({ prompt: 'none', scope: 'openid email' });
  const nc = await fresh.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(noConsent.requestUri)}`,
  );
  t.equal(responseParameters(nc.headers['location'] as string).get('error'), 'consent_required');

  const maxAge = await pushed({ max_age: 0 });
  const again = await fresh.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(maxAge.requestUri)}`,
  );
  t.equal(again.status, 200);
  t.match(again.text, /Sign in/, 'max_age 0 asks for the password again');
  const forced = await pushed({ prompt: 'login' });
  const login = await fresh.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(forced.requestUri)}`,
  );
  t.match(login.text, /Sign in/, 'prompt=login asks again');
  const after = await fresh.submit(login, { username: ALICE.username, password: ALICE.password });
  t.equal(after.status, 303, 'and then continues without asking again');
});

t.test('refusals and codes are counted by endpoint and outcome', async (t) => {
  const res = await fetch(`http://127.0.0.1:${as.issuer.adminPort}/metrics`);
  const text = await res.text();
  t.match(
    text,
    /fapi_issuer_authorization_outcomes_total\{endpoint="par",outcome="invalid_request_object"\} [1-9]/,
  );
  t.match(text, /fapi_issuer_authorization_outcomes_total\{endpoint="par",outcome="accepted"\} [1-9]/);
  t.match(
    text,
    /fapi_issuer_authorization_outcomes_total\{endpoint="consent",outcome="access_denied"\} [1-9]/,
  );
  t.match(text, /fapi_issuer_authorization_outcomes_total\{endpoint="consent",outcome="code_issued"\} [1-9]/);
  t.match(text, /fapi_issuer_authorization_outcomes_total\{endpoint="login",outcome="login_failed"\} [1-9]/);
  t.match(
    text,
    /fapi_issuer_authorization_outcomes_total\{endpoint="authorize",outcome="invalid_request_uri"\} [1-9]/,
  );
  t.match(
    text,
    /fapi_issuer_failures_total\{endpoint="token",error="invalid_grant",reason="code_reused"\} [1-9]/,
  );
  t.match(
    text,
    /fapi_issuer_failures_total\{endpoint="token",error="invalid_grant",reason="pkce_mismatch"\} [1-9]/,
  );
  t.match(
    text,
    /fapi_issuer_tokens_issued_total\{grant_type="authorization_code",auth_method="private_key_jwt"\} [1-9]/,
  );
  t.match(
    text,
    /fapi_issuer_tokens_issued_total\{grant_type="refresh_token",auth_method="private_key_jwt"\} [1-9]/,
  );
});
