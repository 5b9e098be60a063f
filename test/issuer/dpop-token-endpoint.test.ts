/**
 * DPoP at the issuer (RFC 9449) over real HTTPS: every proof rule at the token endpoint (refused with
 * 400 invalid_dpop_proof, counted, nothing issued; and accepted), replay, the mTLS alias as htu, a
 * client registered for DPoP-bound tokens without any client certificate, code binding (dpop_jkt and
 * a proof on PAR), refresh with the same and with another key, and userinfo with the DPoP scheme.
 * Server nonces have their own test file (dpop-nonces.test.ts).
 */
import t from 'tap';
import { decodeJwt } from 'jose';
import {
  FormBrowser,
  responseParameters,
  startCodeFlowIssuer,
  WEB_CLIENT_ID,
  ALICE,
  type CodeFlowIssuer,
} from '../helpers/code-flow.js';
import { createDpopKey, mintDpopProof, type DpopKey, type ProofOptions } from '../helpers/dpop.js';
import { ASSERTION_TYPE, clientAssertion, type HttpsResponse } from '../helpers/issuer.js';
import { pkcePair } from '../helpers/request-objects.js';

let as: CodeFlowIssuer;
let keyA: DpopKey;
let keyB: DpopKey;

t.before(async () => {
  [keyA, keyB] = await Promise.all([createDpopKey('ES256'), createDpopKey('ES256')]);
  // acme-web (private_key_jwt) is registered for DPoP-bound tokens: it never presents a certificate.
  as = await startCodeFlowIssuer({ webClient: { dpopBoundAccessTokens: true } });
});
t.teardown(() => as.close());

const url = (path: string, listener: 'main' | 'mtls' = 'main') =>
  `${listener === 'main' ? as.issuer.url : as.issuer.mtlsUrl}${path}`;

async function jwtClientAuth(): Promise<Record<string, string>> {
  return {
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await clientAssertion({
      clientId: 'jwt-client',
      audience: as.issuer.url,
      key: as.jwtClient.privateKey,
      kid: 'jwt-client-1',
    }),
  };
}

const tokenProof = (key: DpopKey, o: ProofOptions = {}, listener: 'main' | 'mtls' = 'main') =>
  mintDpopProof(key, { htm: 'POST', htu: url('/token', listener), ...o });

/** client_credentials for jwt-client (private_key_jwt) on the plain listener, no certificate. */
async function clientCredentials(
  dpop: string | string[] | undefined,
  listener: 'main' | 'mtls' = 'main',
  withCertificate = false,
): Promise<HttpsResponse> {
  return as.postForm(
    '/token',
    { grant_type: 'client_credentials', ...(await jwtClientAuth()) },
    {
      listener,
      ...(withCertificate ? { credential: as.pki.clientA } : {}),
      headers: dpop === undefined ? {} : ({ dpop } as unknown as Record<string, string>),
    },
  );
}

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = await as.issuer.runtime.metrics.registry.getSingleMetric(name)?.get();
  const found = metric?.values.find((v) =>
    Object.entries(labels).every(([k, val]) => String(v.labels[k]) === val),
  );
  return found?.value ?? 0;
}

t.test('discovery advertises dpop_signing_alg_values_supported', async (t) => {
  const doc = (await as.get('/.well-known/oauth-authorization-server')).json;
  t.same(doc['dpop_signing_alg_values_supported'], ['ES256', 'PS256', 'EdDSA']);
});

t.test('a valid proof makes the access token DPoP-bound (no client certificate needed)', async (t) => {
  const r = await clientCredentials(await tokenProof(keyA));
  t.equal(r.status, 200, r.text);
  t.equal(r.json['token_type'], 'DPoP');
  const claims = decodeJwt(r.json.access_token!);
  t.same(claims['cnf'], { jkt: keyA.jkt });
  const introspected = await as.postForm(
    '/introspect',
    { token: r.json.access_token!, ...(await jwtClientAuth()) },
    { listener: 'main' },
  );
  t.match(introspected.json, { active: true, token_type: 'DPoP', cnf: { jkt: keyA.jkt } });
});

t.test('htu: the mTLS alias on the mTLS listener; the query is ignored', async (t) => {
  const alias = await clientCredentials(await tokenProof(keyA, {}, 'mtls'), 'mtls');
  t.equal(alias.status, 200, alias.text);
  t.equal(alias.json['token_type'], 'DPoP');
  const query = await clientCredentials(await tokenProof(keyA, { htu: `${url('/token')}?x=1` }));
  t.equal(query.status, 200, query.text);
});

t.test('with a client certificate and a proof, the token is bound to the DPoP key only', async (t) => {
  const r = await clientCredentials(await tokenProof(keyA, {}, 'mtls'), 'mtls', true);
  t.equal(r.status, 200, r.text);
  t.equal(r.json['token_type'], 'DPoP');
  t.same(decodeJwt(r.json.access_token!)['cnf'], { jkt: keyA.jkt });
  const bearer = await clientCredentials(undefined, 'mtls', true);
  t.equal(bearer.json['token_type'], 'Bearer', 'without a proof: certificate-bound as before');
  t.same(decodeJwt(bearer.json.access_token!)['cnf'], { 'x5t#S256': as.pki.clientA.thumbprint });
});

t.test('every proof rule is enforced at the token endpoint: 400 invalid_dpop_proof', async (t) => {
  const now = Math.floor(Date.now() / 1000);
  const es384 = await createDpopKey('ES384');
  const cases: [string, string, () => Promise<string | string[]>][] = [
    ['not a JWS', 'dpop_proof_malformed', () => Promise.resolve('not-a-proof')],
    ['typ is not dpop+jwt', 'dpop_proof_type', () => tokenProof(keyA, { header: { typ: 'JWT' } })],
    ['alg not allowed', 'dpop_proof_algorithm', () => tokenProof(es384)],
    ['no jwk', 'dpop_proof_key', () => tokenProof(keyA, { header: { jwk: undefined } })],
    ['private jwk', 'dpop_proof_key', () => tokenProof(keyA, { header: { jwk: keyA.privateJwk } })],
    ['signed by another key', 'dpop_proof_signature', () => tokenProof(keyA, { signWith: keyB.privateKey })],
    ['htm GET', 'dpop_proof_method', () => tokenProof(keyA, { htm: 'GET' })],
    ['htu another endpoint', 'dpop_proof_uri', () => tokenProof(keyA, { htu: url('/introspect') })],
    ['htu the other listener', 'dpop_proof_uri', () => tokenProof(keyA, {}, 'mtls')],
    ['iat too old', 'dpop_proof_iat', () => tokenProof(keyA, { iat: now - 600 })],
    ['iat in the future', 'dpop_proof_iat', () => tokenProof(keyA, { iat: now + 600 })],
    ['no jti', 'dpop_proof_claims', () => tokenProof(keyA, { claims: { jti: undefined } })],
    ['two DPoP headers', 'dpop_proof_multiple', async () => [await tokenProof(keyA), await tokenProof(keyA)]],
  ];
  for (const [name, reason, proof] of cases) {
    const issued = await metricValue('fapi_issuer_tokens_issued_total', { grant_type: 'client_credentials' });
    const before = await metricValue('fapi_issuer_failures_total', { endpoint: 'token', reason });
    const r = await clientCredentials(await proof());
    t.equal(r.status, 400, `${name}: ${r.text}`);
    t.equal(r.json.error, 'invalid_dpop_proof', name);
    t.type(r.json.error_description, 'string');
    t.equal(r.headers['cache-control'], 'no-store');
    t.notOk(r.json.access_token, `${name}: no token`);
    t.equal(await metricValue('fapi_issuer_failures_total', { endpoint: 'token', reason }), before + 1, name);
    t.equal(
      await metricValue('fapi_issuer_tokens_issued_total', { grant_type: 'client_credentials' }),
      issued,
      `${name}: nothing issued`,
    );
  }
});

t.test('a proof is single use (jti replay)', async (t) => {
  const proof = await tokenProof(keyA);
  t.equal((await clientCredentials(proof)).status, 200);
  const again = await clientCredentials(proof);
  t.equal(again.status, 400);
  t.equal(again.json.error, 'invalid_dpop_proof');
  t.match(again.json.error_description, /already used/);
});

// --- authorization code flow for acme-web (dpopBoundAccessTokens, private_key_jwt, no certificate) ---

async function parWith(
  claims: Record<string, unknown>,
  dpop?: string,
): Promise<{ res: HttpsResponse; verifier: string }> {
  const { verifier, challenge } = pkcePair();
  const res = await as.postForm(
    '/par',
    { ...(await as.assertion()), request: await as.requestObject({ code_challenge: challenge, ...claims }) },
    { listener: 'main', ...(dpop ? { headers: { dpop } } : {}) },
  );
  return { res, verifier };
}

async function codeFor(claims: Record<string, unknown> = {}, dpop?: string) {
  const { res, verifier } = await parWith(claims, dpop);
  if (res.status !== 201) throw new Error(`PAR ${res.status} ${res.text}`);
  const browser = new FormBrowser(as);
  const login = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(res.json['request_uri'] as string)}`,
  );
  let page = await browser.submit(login, { username: ALICE.username, password: ALICE.password });
  if (page.status !== 303) page = await browser.submit(page, { decision: 'approve' });
  const code = responseParameters(page.headers['location'] as string).get('code');
  if (!code) throw new Error(`no code: ${String(page.headers['location'])}`);
  return { code, verifier };
}

async function redeem(code: string, verifier: string, key: DpopKey | undefined): Promise<HttpsResponse> {
  return as.postForm(
    '/token',
    {
      ...(await as.assertion()),
      grant_type: 'authorization_code',
      code,
      code_verifier: verifier,
      redirect_uri: 'https://client.example/cb',
    },
    { listener: 'main', ...(key ? { headers: { dpop: await tokenProof(key) } } : {}) },
  );
}

async function refresh(refreshToken: string, key: DpopKey | undefined): Promise<HttpsResponse> {
  return as.postForm(
    '/token',
    { ...(await as.assertion()), grant_type: 'refresh_token', refresh_token: refreshToken },
    { listener: 'main', ...(key ? { headers: { dpop: await tokenProof(key) } } : {}) },
  );
}

t.test('a client registered with dpopBoundAccessTokens must send a proof', async (t) => {
  const { code, verifier } = await codeFor();
  const r = await redeem(code, verifier, undefined);
  t.equal(r.status, 400);
  t.equal(r.json.error, 'invalid_dpop_proof');
  const ok = await redeem(code, verifier, keyA);
  t.equal(ok.status, 200, 'the refused request did not use up the code');
  t.equal(ok.json['token_type'], 'DPoP');
  t.same(decodeJwt(ok.json.access_token!)['cnf'], { jkt: keyA.jkt });
});

t.test('dpop_jkt in the request object binds the code to that key (RFC 9449 §10)', async (t) => {
  const { code, verifier } = await codeFor({ dpop_jkt: keyA.jkt });
  const other = await redeem(code, verifier, keyB);
  t.equal(other.status, 400);
  t.equal(other.json.error, 'invalid_grant');
  t.match(other.json.error_description, /dpop_jkt/);
  const ok = await redeem(code, verifier, keyA);
  t.equal(ok.status, 200, ok.text);
  t.same(decodeJwt(ok.json.access_token!)['cnf'], { jkt: keyA.jkt });
});

t.test('a DPoP proof on the PAR request binds the code (RFC 9449 §10.1)', async (t) => {
  const parProof = await mintDpopProof(keyA, { htm: 'POST', htu: url('/par') });
  const { code, verifier } = await codeFor({}, parProof);
  const other = await redeem(code, verifier, keyB);
  t.equal(other.status, 400);
  t.equal(other.json.error, 'invalid_grant');
  t.equal((await redeem(code, verifier, keyA)).status, 200);

  const mismatch = await parWith(
    { dpop_jkt: keyB.jkt },
    await mintDpopProof(keyA, { htm: 'POST', htu: url('/par') }),
  );
  t.equal(mismatch.res.status, 400);
  t.equal(mismatch.res.json.error, 'invalid_dpop_proof');
  const badProof = await parWith({}, await mintDpopProof(keyA, { htm: 'POST', htu: url('/token') }));
  t.equal(badProof.res.status, 400);
  t.equal(badProof.res.json.error, 'invalid_dpop_proof');
  const badJkt = await parWith({ dpop_jkt: 'not-a-thumbprint' });
  t.equal(badJkt.res.status, 400);
  t.equal(badJkt.res.json.error, 'invalid_request');
});

t.test('refresh: bound to the original key; another key or no proof is refused', async (t) => {
  const { code, verifier } = await codeFor();
  const first = await redeem(code, verifier, keyA);
  t.equal(first.status, 200);
  const refreshToken = first.json['refresh_token'] as string;
  t.ok(refreshToken);
  const wrongKey = await refresh(refreshToken, keyB);
  t.equal(wrongKey.status, 400);
  t.equal(wrongKey.json.error, 'invalid_grant');
  t.match(wrongKey.json.error_description, /DPoP proof key/);
  const noProof = await refresh(refreshToken, undefined);
  t.equal(noProof.status, 400);
  t.equal(noProof.json.error, 'invalid_dpop_proof');
  const ok = await refresh(refreshToken, keyA);
  t.equal(ok.status, 200, 'refused attempts leave the refresh token usable');
  t.equal(ok.json['token_type'], 'DPoP');
  t.same(decodeJwt(ok.json.access_token!)['cnf'], { jkt: keyA.jkt });
  const rotated = await refresh(ok.json['refresh_token'] as string, keyB);
  t.equal(rotated.json.error, 'invalid_grant', 'the binding survives rotation');
});

t.test('userinfo: DPoP scheme with a proof carrying ath', async (t) => {
  const { code, verifier } = await codeFor();
  const tokens = await redeem(code, verifier, keyA);
  const at = tokens.json.access_token!;
  const call = async (authorization: string, dpop?: string) =>
    as.get('/userinfo', { headers: { authorization, ...(dpop ? { dpop } : {}) } });
  const proof = (key: DpopKey, o: ProofOptions = {}) =>
    mintDpopProof(key, { htm: 'GET', htu: url('/userinfo'), accessToken: at, ...o });

  const ok = await call(`DPoP ${at}`, await proof(keyA));
  t.equal(ok.status, 200, ok.text);
  t.equal(ok.json['sub'], 'alice');

  const noAth = await call(`DPoP ${at}`, await proof(keyA, { accessToken: undefined }));
  t.equal(noAth.status, 401);
  t.equal(noAth.json.error, 'invalid_dpop_proof');
  t.match(String(noAth.headers['www-authenticate']), /^DPoP realm="fapi-issuer", error="invalid_dpop_proof"/);
  const noProof = await call(`DPoP ${at}`);
  t.equal(noProof.status, 401);
  t.equal(noProof.json.error, 'invalid_dpop_proof');
  const otherKey = await call(`DPoP ${at}`, await proof(keyB));
  t.equal(otherKey.status, 401);
  t.equal(otherKey.json.error, 'invalid_token');
  const replay = await proof(keyA);
  t.equal((await call(`DPoP ${at}`, replay)).status, 200);
  const replayed = await call(`DPoP ${at}`, replay);
  t.equal(replayed.status, 401);
  t.equal(replayed.json.error, 'invalid_dpop_proof');
  const asBearer = await call(`Bearer ${at}`, await proof(keyA));
  t.equal(asBearer.status, 401, 'a DPoP-bound token is no bearer token (RFC 9449 §7.2)');
  t.equal(asBearer.json.error, 'invalid_token');
  t.match(String(asBearer.headers['www-authenticate']), /^DPoP /);
});
