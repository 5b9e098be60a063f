import t from 'tap';
import { decodeJwt } from 'jose';
import { createCa, issueCertificate, selfSignedCertificate } from '../../src/pki/certificates.js';
import { certificateThumbprint } from '../../src/pki/thumbprint.js';
import { outcome, startTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import type { TestCredential } from '../helpers/pki.js';

let ti: TestIssuer;
t.before(async () => {
  ti = await startTestIssuer();
});
t.teardown(() => ti.close());

const tokenRequest = (clientId: string, credential?: TestCredential) =>
  ti.postForm('/token', { grant_type: 'client_credentials', client_id: clientId }, { credential });

function asCredential(c: Awaited<ReturnType<typeof selfSignedCertificate>>): TestCredential {
  return { ...c, certFile: '', keyFile: '', thumbprint: certificateThumbprint(c.der) };
}

t.test('tls_client_auth: the registered certificate gets a token bound to it', async (t) => {
  const r = await tokenRequest('tls-a', ti.pki.clientA);
  t.equal(r.status, 200, outcome(r));
  t.equal(r.headers['cache-control'], 'no-store');
  t.equal(r.json.token_type, 'Bearer');
  t.equal(r.json.scope, 'accounts payments');
  t.notOk('refresh_token' in r.json, 'client_credentials never gets a refresh token (RFC 6749 §4.4.3)');
  const claims = decodeJwt(r.json.access_token as string);
  t.same(claims.cnf, { 'x5t#S256': ti.pki.clientA.thumbprint });
  t.equal(claims.sub, 'tls-a');
  t.equal(claims.client_id, 'tls-a');
});

t.test('tls_client_auth: another CA-issued certificate is refused (subject DN mismatch)', async (t) => {
  const r = await tokenRequest('tls-a', ti.pki.clientB);
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
  t.notOk(r.headers['www-authenticate'], 'no challenge: the Authorization header was not used');
  t.notOk('access_token' in r.json);
});

t.test('tls_client_auth: same subject DN from an untrusted CA is refused', async (t) => {
  const r = await tokenRequest('tls-a', ti.pki.untrusted);
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
  t.match(r.json.error_description, /trusted CA/);
});

t.test(
  'tls_client_auth: no certificate, or a request on the listener that asks for none, is refused',
  async (t) => {
    const none = await tokenRequest('tls-a');
    t.equal(none.status, 401);
    t.equal(none.json.error, 'invalid_client');
    const main = await ti.postForm(
      '/token',
      { grant_type: 'client_credentials', client_id: 'tls-a' },
      { credential: ti.pki.clientA, listener: 'main' },
    );
    t.equal(main.status, 401, 'the main listener does not request a certificate');
  },
);

t.test('tls_client_auth: an expired certificate from the trusted CA is refused', async (t) => {
  const ca = ti.pki.ca;
  const expired = await issueCertificate(ca, {
    subject: 'CN=client-a,O=Acme',
    usage: 'client',
    notBefore: new Date(Date.now() - 10 * 86_400_000),
    notAfter: new Date(Date.now() - 86_400_000),
  });
  const r = await tokenRequest('tls-a', asCredential(expired));
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
});

t.test('tls_client_auth by SAN: dNSName matches case-insensitively, other names are refused', async (t) => {
  const other = await startTestIssuer({
    clients: [
      {
        clientId: 'san-client',
        authMethod: 'tls_client_auth',
        tlsClientAuthSanDns: 'Client.Example.COM',
        scopes: ['accounts'],
      },
    ],
  });
  t.teardown(() => other.close());
  const good = await issueCertificate(ti.pki.ca, {
    subject: 'CN=x',
    usage: 'client',
    dns: ['client.example.com'],
  });
  const bad = await issueCertificate(ti.pki.ca, {
    subject: 'CN=x',
    usage: 'client',
    dns: ['evil.example.com'],
  });
  const ok = await other.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'san-client' },
    { credential: asCredential(good) },
  );
  t.equal(ok.status, 200, outcome(ok));
  const no = await other.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'san-client' },
    { credential: asCredential(bad) },
  );
  t.equal(no.status, 401);
  t.equal(no.json.error, 'invalid_client');
});

t.test('self_signed_tls_client_auth: the registered certificate gets a bound token', async (t) => {
  const r = await tokenRequest('self-signed', ti.pki.selfSigned);
  t.equal(r.status, 200, outcome(r));
  t.same(decodeJwt(r.json.access_token as string).cnf, { 'x5t#S256': ti.pki.selfSigned.thumbprint });
});

t.test('self_signed_tls_client_auth: an unregistered self-signed certificate is refused', async (t) => {
  const stranger = await selfSignedCertificate({ subject: 'CN=self-signed-client', usage: 'client' });
  const r = await tokenRequest('self-signed', asCredential(stranger));
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
  t.match(r.json.error_description, /not registered/);
  const caIssued = await tokenRequest('self-signed', ti.pki.clientA);
  t.equal(caIssued.status, 401, 'a CA-issued certificate is not a registered one either');
});

t.test('self_signed_tls_client_auth: a JWK without x5c matches by public key', async (t) => {
  const { X509Certificate } = await import('node:crypto');
  const jwk = new X509Certificate(ti.pki.selfSigned.der).publicKey.export({ format: 'jwk' });
  const other = await startTestIssuer({
    clients: [
      {
        clientId: 'self-by-key',
        authMethod: 'self_signed_tls_client_auth',
        jwks: { keys: [jwk] },
        scopes: ['accounts'],
      },
    ],
  });
  t.teardown(() => other.close());
  const ok = await other.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'self-by-key' },
    { credential: ti.pki.selfSigned },
  );
  t.equal(ok.status, 200, outcome(ok));
  const ca = await createCa({ subject: 'CN=x' });
  const bad = await other.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'self-by-key' },
    { credential: asCredential(ca) },
  );
  t.equal(bad.status, 401);
});

t.test('an unknown client_id is invalid_client, and nothing is issued', async (t) => {
  const r = await tokenRequest('nobody', ti.pki.clientA);
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
});

t.test('a certificate client registered for private_key_jwt cannot use its certificate alone', async (t) => {
  const r = await tokenRequest('jwt-client', ti.pki.clientA);
  t.equal(r.status, 401);
  t.equal(r.json.error, 'invalid_client');
  t.match(r.json.error_description, /private_key_jwt/);
});
