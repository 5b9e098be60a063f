import t from 'tap';
import pino from 'pino';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { startGateway } from '../../src/gateway/server.js';
import { startEchoUpstream } from '../helpers/echo-upstream.js';
import {
  ASSERTION_TYPE,
  clientAssertion,
  httpsRequest,
  outcome,
  startTestIssuer,
} from '../helpers/issuer.js';
import type { TestCredential } from '../helpers/pki.js';

t.test('the gateway accepts an issued token with its certificate and rejects it with another', async (t) => {
  const ti = await startTestIssuer();
  t.teardown(() => ti.close());
  const upstream = await startEchoUpstream();
  t.teardown(() => upstream.close());
  const config = gatewayConfigSchema.parse({
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    tls: { cert: ti.pki.server.certFile, key: ti.pki.server.keyFile, clientCa: ti.pki.ca.certFile },
    upstream: { url: upstream.url },
    tokens: {
      issuer: ti.issuer.url,
      audience: 'https://api.example',
      jwksUri: `${ti.issuer.url}/jwks`,
      jwksCa: ti.pki.ca.certFile,
    },
    routes: [
      { path: '/accounts', methods: ['GET'], scopes: ['accounts'] },
      { path: '/payments', methods: ['POST'], scopes: ['payments'] },
    ],
    logging: { level: 'silent' },
  });
  const gateway = await startGateway(config, { logger: pino({ level: 'silent' }), defaultMetrics: false });
  t.teardown(() => gateway.close());
  await gateway.whenReady();

  const callApi = (token: string, credential: TestCredential, path = '/accounts', body?: string) =>
    httpsRequest(`https://localhost:${gateway.listenPort}${path}`, {
      ca: ti.pki.ca.certPem,
      credential,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });

  const issued = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'tls-a', scope: 'accounts' },
    { credential: ti.pki.clientA },
  );
  t.equal(issued.status, 200, outcome(issued));
  const token = issued.json.access_token!;

  const accepted = await callApi(token, ti.pki.clientA);
  t.equal(accepted.status, 200, accepted.text);
  t.equal(upstream.requests.length, 1, 'forwarded once');
  t.equal(upstream.requests[0]!.headers['x-authenticated-client-id'], 'tls-a');

  const stolen = await callApi(token, ti.pki.clientB);
  t.equal(stolen.status, 401);
  t.match(stolen.headers['www-authenticate'], /error="invalid_token"/);
  t.equal(upstream.requests.length, 1, 'nothing forwarded for the other certificate');

  const noScope = await callApi(token, ti.pki.clientA, '/payments', '{}');
  t.equal(noScope.status, 403, 'a token for accounts cannot pay');
  t.equal(upstream.requests.length, 1);

  // private_key_jwt with a certificate on the connection: bound too, accepted with that certificate only.
  const jwtToken = await ti.postForm(
    '/token',
    {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await clientAssertion({
        clientId: 'jwt-client',
        audience: ti.issuer.url,
        key: ti.jwtClient.privateKey,
      }),
    },
    { credential: ti.pki.clientB },
  );
  t.equal(jwtToken.status, 200, outcome(jwtToken));
  t.equal((await callApi(jwtToken.json.access_token!, ti.pki.clientB)).status, 200);
  t.equal((await callApi(jwtToken.json.access_token!, ti.pki.clientA)).status, 401);

  // No certificate and no DPoP proof at the issuer: no token at all (FAPI needs sender-constrained tokens).
  const unbound = await ti.postForm(
    '/token',
    {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await clientAssertion({
        clientId: 'jwt-client',
        audience: ti.issuer.url,
        key: ti.jwtClient.privateKey,
      }),
    },
    { listener: 'main' },
  );
  t.equal(unbound.status, 400);
  t.equal(unbound.json.error, 'invalid_request');
  t.notOk(unbound.json.access_token, 'nothing to call the gateway with');
});
