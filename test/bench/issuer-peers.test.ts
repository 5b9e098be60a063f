// The issuer scenarios compare fapi-gateway's issuer with node-oidc-provider doing the same work: each
// must start with the bench's configuration, issue a certificate-bound JWT access token that verifies with
// its own JWKS, answer introspection, and refuse a client that does not prove who it is.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import pino from 'pino';
import {
  assertionSigner,
  createIssuerFixture,
  introspectionForm,
  INTROSPECTION_PATH,
  ISSUER_CLIENTS,
  issuerConfig,
  oidcProviderSpec,
  tlsClientCredentialsForm,
  TOKEN_PATH,
} from '../../bench/issuers.js';
import { PEER_ROUTES, startOidcProviderPeer } from '../../bench/oidc-provider-peer.js';
import { freePort } from '../../bench/processes.js';
import { createBenchPki, TOKEN_AUDIENCE, TOKEN_ISSUER, TOKEN_KID } from '../../bench/pki.js';
import { issuerConfigSchema } from '../../src/issuer/config.js';
import { startIssuer } from '../../src/issuer/server.js';
import { httpsRequest, outcome, type HttpsResponse } from '../helpers/issuer.js';
import type { TestCredential } from '../helpers/pki.js';

const dir = mkdtempSync(path.join(tmpdir(), 'fapi-bench-issuers-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const pki = await createBenchPki(dir);
const fixture = await createIssuerFixture(pki, dir);
const assertions = assertionSigner(fixture);

interface Server {
  name: string;
  /** Origin of the mTLS listener. */
  base: string;
  close(): Promise<void>;
}

const peer = await startOidcProviderPeer(oidcProviderSpec(fixture));
// The issuer identifier is the bench's, not a listener URL: the listeners are reached by port.
const ports = { listen: await freePort(), mtls: await freePort(), admin: 0 };
const ours = await startIssuer(
  issuerConfigSchema.parse({
    ...issuerConfig(fixture, ports),
    logging: { level: 'silent' },
  }),
  { logger: pino({ level: 'silent' }) },
);
const servers: Server[] = [
  { name: 'node-oidc-provider', base: `https://localhost:${peer.port}`, close: () => peer.close() },
  { name: "fapi-gateway's issuer", base: `https://localhost:${ports.mtls}`, close: () => ours.close() },
];
t.teardown(async () => {
  for (const s of servers) await s.close();
});

t.equal(PEER_ROUTES.token, TOKEN_PATH, 'one token URL path fits both servers');
t.equal(PEER_ROUTES.introspection, INTROSPECTION_PATH, 'one introspection URL path fits both servers');

function post(url: string, form: string, credential: TestCredential | undefined): Promise<HttpsResponse> {
  return httpsRequest(url, {
    ca: pki.ca.certPem,
    ...(credential ? { credential } : {}),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form,
  });
}

for (const server of servers) {
  t.test(server.name, async (t) => {
    const token = (form: string, credential: TestCredential | null = pki.client) =>
      post(server.base + TOKEN_PATH, form, credential ?? undefined);
    const jwksResponse = await httpsRequest(
      server.name === 'node-oidc-provider'
        ? server.base + PEER_ROUTES.jwks
        : `https://localhost:${ports.listen}/jwks`,
      { ca: pki.ca.certPem },
    );
    t.equal(jwksResponse.status, 200, 'publishes its JWKS');
    const jwks = createLocalJWKSet(jwksResponse.json as unknown as { keys: JWK[] });

    const verifyBound = async (accessToken: unknown, clientId: string) => {
      t.type(accessToken, 'string');
      const { payload } = await jwtVerify(String(accessToken), jwks, {
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        typ: 'at+jwt',
        algorithms: ['ES256'],
      });
      t.equal(decodeProtectedHeader(String(accessToken)).kid, TOKEN_KID, 'signed with the shared ES256 key');
      t.equal(payload.client_id, clientId);
      t.same(payload.cnf, { 'x5t#S256': pki.clientThumbprint }, 'bound to the client certificate');
    };

    t.test('tls_client_auth: a JWT access token bound to the certificate', async (t) => {
      const r = await token(tlsClientCredentialsForm());
      t.equal(r.status, 200, outcome(r));
      t.equal(r.json.token_type, 'Bearer');
      await verifyBound(r.json.access_token, ISSUER_CLIENTS.tls);
    });

    t.test(
      'private_key_jwt over mTLS: a bound JWT access token; a replayed assertion is refused',
      async (t) => {
        const [form] = assertions(1);
        const r = await token(form!);
        t.equal(r.status, 200, outcome(r));
        await verifyBound(r.json.access_token, ISSUER_CLIENTS.jwt);
        const replay = await token(form!);
        t.equal(replay.status, 401);
        t.equal(replay.json.error, 'invalid_client');
      },
    );

    t.test('introspection by the resource server', async (t) => {
      const issued = await token(tlsClientCredentialsForm(ISSUER_CLIENTS.opaque));
      t.equal(issued.status, 200, outcome(issued));
      const r = await post(
        server.base + INTROSPECTION_PATH,
        introspectionForm(String(issued.json.access_token)),
        pki.gatewayClient,
      );
      t.equal(r.status, 200, outcome(r));
      t.equal(r.json.active, true);
      t.equal(r.json.client_id, ISSUER_CLIENTS.opaque);
      t.same(r.json.cnf, { 'x5t#S256': pki.clientThumbprint });
      const jwt = await token(tlsClientCredentialsForm());
      const jwtAnswer = await post(
        server.base + INTROSPECTION_PATH,
        introspectionForm(String(jwt.json.access_token)),
        pki.gatewayClient,
      );
      if (server.name === 'node-oidc-provider') {
        // Why (i3) gives node-oidc-provider an opaque token: it refuses to introspect JWTs.
        t.equal(jwtAnswer.status, 400);
        t.equal(jwtAnswer.json.error, 'unsupported_token_type');
      } else {
        t.equal(jwtAnswer.status, 200, outcome(jwtAnswer));
        t.equal(jwtAnswer.json.active, true);
        t.same(jwtAnswer.json.cnf, { 'x5t#S256': pki.clientThumbprint });
      }
    });

    t.test('refuses a client that does not prove who it is', async (t) => {
      const otherCertificate = await token(tlsClientCredentialsForm(), pki.gatewayClient);
      t.equal(otherCertificate.status, 401, 'a certificate with another subject');
      t.equal(otherCertificate.json.error, 'invalid_client');
      t.notOk(otherCertificate.json.access_token);

      const noCertificate = await token(tlsClientCredentialsForm(), null);
      t.equal(noCertificate.status, 401, 'no certificate');
      t.equal(noCertificate.json.error, 'invalid_client');

      const [form] = assertionSigner({
        ...fixture,
        jwtClient: {
          ...fixture.jwtClient,
          privateKey: (await createIssuerFixture(pki, dir)).jwtClient.privateKey,
        },
      })(1);
      const wrongKey = await token(form!);
      t.equal(wrongKey.status, 401, 'an assertion signed with another key');
      t.equal(wrongKey.json.error, 'invalid_client');

      const notAResourceServer = await post(
        server.base + INTROSPECTION_PATH,
        introspectionForm('not-a-token'),
        undefined,
      );
      t.equal(notAResourceServer.status, 401, 'introspection without client authentication');
    });
  });
}
