import t from 'tap';
import http from 'node:http';
import { decodeJwt } from 'jose';
import { startTestIssuer } from '../helpers/issuer.js';

function adminGet(port: number, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on('error', reject);
  });
}

t.test('both well-known URLs serve the same metadata with mtls_endpoint_aliases', async (t) => {
  const ti = await startTestIssuer();
  t.teardown(() => ti.close());
  const oauth = await ti.get('/.well-known/oauth-authorization-server');
  const oidc = await ti.get('/.well-known/openid-configuration');
  t.equal(oauth.status, 200);
  t.same(oauth.json, oidc.json);
  const d = oauth.json;
  const base = ti.issuer.url;
  t.equal(d.issuer, base);
  t.equal(d.token_endpoint, `${base}/token`);
  t.equal(d.introspection_endpoint, `${base}/introspect`);
  t.equal(d.revocation_endpoint, `${base}/revoke`);
  t.equal(d.jwks_uri, `${base}/jwks`);
  t.same(d.mtls_endpoint_aliases, {
    token_endpoint: `${ti.issuer.mtlsUrl}/token`,
    introspection_endpoint: `${ti.issuer.mtlsUrl}/introspect`,
    revocation_endpoint: `${ti.issuer.mtlsUrl}/revoke`,
    pushed_authorization_request_endpoint: `${ti.issuer.mtlsUrl}/par`,
    userinfo_endpoint: `${ti.issuer.mtlsUrl}/userinfo`,
    backchannel_authentication_endpoint: `${ti.issuer.mtlsUrl}/backchannel-authentication`,
  });
  t.not(ti.issuer.mtlsUrl, base);
  t.equal(d.tls_client_certificate_bound_access_tokens, true);
  t.same(d.token_endpoint_auth_methods_supported, [
    'private_key_jwt',
    'client_secret_jwt',
    'tls_client_auth',
    'self_signed_tls_client_auth',
  ]);
  t.same(d.token_endpoint_auth_signing_alg_values_supported, ['PS256', 'ES256', 'HS256']);
  t.same(d.grant_types_supported, [
    'client_credentials',
    'authorization_code',
    'refresh_token',
    'urn:openid:params:grant-type:ciba',
  ]);
  t.same(d.scopes_supported, ['accounts', 'payments']);
  const jwks = await ti.get('/jwks');
  t.equal(jwks.headers['content-type'], 'application/jwk-set+json');
  const keys = jwks.json.keys as Record<string, unknown>[];
  t.equal(keys.length, 1);
  t.match(keys[0], { kty: 'RSA', kid: 'test-1', alg: 'PS256', use: 'sig' });
  t.notOk('d' in keys[0]!, 'no private members');
});

t.test('several signing keys: all published, the first one signs', async (t) => {
  const first = await startTestIssuer();
  const signingKeys = first.config.signingKeys;
  await first.close();
  const { generateKeyPairSync } = await import('node:crypto');
  const ec = first.pki.write(
    'es256-signing.pem',
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
      type: 'pkcs8',
      format: 'pem',
    }) as string,
  );
  const ti = await startTestIssuer({
    config: { signingKeys: [{ file: ec, alg: 'ES256', kid: 'new-es' }, ...signingKeys] },
  });
  t.teardown(() => ti.close());
  const kids = ((await ti.get('/jwks')).json.keys as { kid: string }[]).map((k) => k.kid);
  t.same(kids, ['new-es', 'test-1']);
  const r = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'tls-a' },
    { credential: ti.pki.clientA },
  );
  const header = JSON.parse(Buffer.from(r.json.access_token!.split('.')[0]!, 'base64url').toString()) as {
    alg: string;
    kid: string;
  };
  t.same(header, { alg: 'ES256', kid: 'new-es', typ: 'at+jwt' });
  t.same((await ti.get('/.well-known/openid-configuration')).json.access_token_signing_alg_values_supported, [
    'ES256',
    'PS256',
  ]);
});

t.test('one listener: the certificate is requested there and no aliases are advertised', async (t) => {
  const ti = await startTestIssuer({ singleListener: true });
  t.teardown(() => ti.close());
  t.equal(ti.issuer.mtlsUrl, ti.issuer.url);
  const d = (await ti.get('/.well-known/openid-configuration')).json;
  t.notOk('mtls_endpoint_aliases' in d);
  const r = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'tls-a' },
    { credential: ti.pki.clientA, listener: 'main' },
  );
  t.equal(r.status, 200);
  t.same(decodeJwt(r.json.access_token!).cnf, { 'x5t#S256': ti.pki.clientA.thumbprint });
  const browser = await ti.get('/.well-known/openid-configuration');
  t.equal(browser.status, 200, 'a client without a certificate still gets through');
});

t.test('admin listener: metrics count issued tokens by grant and method, failures by reason', async (t) => {
  const ti = await startTestIssuer();
  t.teardown(() => ti.close());
  const port = ti.issuer.adminPort!;
  t.equal((await adminGet(port, '/healthz')).status, 200);
  t.equal((await adminGet(port, '/readyz')).status, 200);
  await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'tls-a' },
    { credential: ti.pki.clientA },
  );
  await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'tls-a' },
    { credential: ti.pki.clientB },
  );
  await ti.postForm('/token', { grant_type: 'client_credentials', client_id: 'x', client_secret: 'y' });
  const metrics = (await adminGet(port, '/metrics')).text;
  t.match(
    metrics,
    /fapi_issuer_tokens_issued_total\{grant_type="client_credentials",auth_method="tls_client_auth"\} 1/,
  );
  t.match(
    metrics,
    /fapi_issuer_failures_total\{endpoint="token",error="invalid_client",reason="certificate_mismatch"\} 1/,
  );
  t.match(
    metrics,
    /fapi_issuer_failures_total\{endpoint="token",error="invalid_client",reason="client_secret_post_refused"\} 1/,
  );
  t.match(metrics, /fapi_issuer_client_authentications_total\{method="tls_client_auth",result="failure"\} 1/);
  t.match(metrics, /fapi_issuer_process_cpu_seconds_total/);
  t.notMatch(metrics, /eyJ/, 'no token in metrics');
  t.equal((await adminGet(port, '/nope')).status, 404);
});
