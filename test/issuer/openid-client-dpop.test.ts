/**
 * openid-client 6 (a certified relying-party library) with its DPoP support against the issuer over
 * real HTTPS: client_credentials, and the authorization code flow with PAR + JAR + PKCE + JARM, both
 * getting DPoP-bound tokens without any client certificate (private_key_jwt on the plain listener), a
 * refresh, and the tokens used at userinfo with the DPoP scheme (a protected resource call with a fresh
 * proof carrying ath). The same tokens then go through the gateway (a route with `binding: dpop`) to an
 * echo upstream, with openid-client making every proof: the right key is forwarded with the token's
 * identity, another key is refused and nothing is forwarded.
 */
import t, { type Test } from 'tap';
import { Agent, fetch as undiciFetch } from 'undici';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import * as client from 'openid-client';
import { pino } from 'pino';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { startGateway, type GatewayHandle } from '../../src/gateway/server.js';
import { startEchoUpstream, type EchoUpstream } from '../helpers/echo-upstream.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import {
  ALICE,
  FormBrowser,
  REDIRECT_URI,
  startCodeFlowIssuer,
  type CodeFlowIssuer,
} from '../helpers/code-flow.js';

const CLIENT_ID = 'oc-client';
let as: CodeFlowIssuer;
let signingKey: CryptoKey;
let agent: Agent;
let config: client.Configuration;
let gateway: GatewayHandle;
let upstream: EchoUpstream;

t.before(async () => {
  const pair = await generateKeyPair('PS256', { extractable: true });
  signingKey = pair.privateKey;
  const publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'oc-1', alg: 'PS256', use: 'sig' };
  as = await startCodeFlowIssuer({
    extraClients: [
      {
        clientId: CLIENT_ID,
        clientName: 'openid-client',
        authMethod: 'private_key_jwt',
        jwks: { keys: [publicJwk] },
        scopes: ['openid', 'accounts', 'profile'],
        redirectUris: [REDIRECT_URI],
        grantTypes: ['authorization_code', 'refresh_token', 'client_credentials'],
        responseTypes: ['code'],
        responseModes: ['jwt', 'query.jwt'],
        requirePushedAuthorizationRequests: true,
        dpopBoundAccessTokens: true,
      },
    ],
  });
  agent = new Agent({ connect: { ca: as.pki.ca.certPem, servername: 'localhost' } });
  const fetchWithCa = ((url: string, options: Record<string, unknown>) =>
    undiciFetch(url, { ...options, dispatcher: agent })) as unknown as client.CustomFetch;
  config = await client.discovery(
    new URL(as.issuer.url),
    CLIENT_ID,
    { token_endpoint_auth_method: 'private_key_jwt', authorization_signed_response_alg: 'PS256' },
    client.PrivateKeyJwt({ key: signingKey, kid: 'oc-1' }),
    { [client.customFetch]: fetchWithCa },
  );
  config[client.customFetch] = fetchWithCa;

  upstream = await startEchoUpstream();
  gateway = await startGateway(
    gatewayConfigSchema.parse({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      tls: { cert: as.pki.server.certFile, key: as.pki.server.keyFile, clientCa: as.pki.ca.certFile },
      upstream: { url: upstream.url },
      tokens: {
        issuer: as.issuer.url,
        audience: 'https://api.example',
        jwksUri: `${as.issuer.url}/jwks`,
        jwksCa: as.pki.ca.certFile,
      },
      routes: [{ path: '/accounts', methods: ['GET'], scopes: ['accounts'], binding: 'dpop' }],
      logging: { level: 'silent' },
    }),
    { logger: pino({ level: 'silent' }), defaultMetrics: false },
  );
  await gateway.whenReady();
});
t.teardown(async () => {
  await gateway?.close();
  await upstream?.close();
  await as.close();
  await agent.close();
});

const rejections = async (reason: string) =>
  metricValue((await fetchText(gateway.adminPort, '/metrics')).body, 'fapi_gateway_rejections_total', {
    reason,
  }) ?? 0;

/**
 * openid-client calls the gateway with `token` (its own fresh proof of `dpop`'s key, with `ath`), then
 * with a proof of another key: the first reaches the upstream as `clientId`/`subject`, the second is
 * refused (RFC 9449 §7.1) without reaching it.
 */
async function throughTheGateway(
  t: Test,
  token: string,
  dpop: client.DPoPHandle,
  identity: { clientId: string; subject?: string; scope: string },
): Promise<void> {
  const url = new URL(`https://localhost:${gateway.listenPort}/accounts/acc-001`);
  const before = upstream.requests.length;
  const ok = await client.fetchProtectedResource(config, token, url, 'GET', undefined, undefined, {
    DPoP: dpop,
  });
  t.equal(ok.status, 200, 'the gateway forwards the call');
  t.equal(upstream.requests.length, before + 1);
  const seen = upstream.last()!;
  t.equal(seen.url, '/accounts/acc-001');
  t.equal(seen.headers['x-authenticated-client-id'], identity.clientId);
  if (identity.subject !== undefined) t.equal(seen.headers['x-authenticated-subject'], identity.subject);
  t.equal(seen.headers['x-authenticated-scope'], identity.scope);

  const counted = await rejections('dpop_binding_mismatch');
  const thief = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const refused = await client
    .fetchProtectedResource(config, token, url, 'GET', undefined, undefined, { DPoP: thief })
    .then(
      () => undefined,
      (error: unknown) => error,
    );
  t.ok(refused instanceof client.WWWAuthenticateChallengeError, 'openid-client sees a challenge');
  if (!(refused instanceof client.WWWAuthenticateChallengeError)) return;
  t.equal(refused.status, 401, 'a proof of another key is refused');
  t.same(
    refused.cause.map((c) => [c.scheme, c.parameters.error]),
    [['dpop', 'invalid_token']],
    'one DPoP challenge, invalid_token (RFC 9449 §7.1)',
  );
  t.match(refused.response.headers.get('www-authenticate'), /algs="ES256 PS256 EdDSA"$/);
  t.match(await refused.response.json(), { error: 'invalid_token' });
  t.equal(upstream.requests.length, before + 1, 'nothing forwarded');
  t.equal(await rejections('dpop_binding_mismatch'), counted + 1, 'counted as dpop_binding_mismatch');
}

t.test('client_credentials: a DPoP-bound token', async (t) => {
  const dpopKeys = await client.randomDPoPKeyPair('ES256');
  const dpop = client.getDPoPHandle(config, dpopKeys);
  const tokens = await client.clientCredentialsGrant(config, { scope: 'accounts' }, { DPoP: dpop });
  t.equal(tokens.token_type, 'dpop');
  const cnf = decodeJwt(tokens.access_token)['cnf'] as { jkt?: string };
  t.equal(typeof cnf.jkt, 'string');
  t.equal(cnf.jkt, await calculateJwkThumbprint(await exportJWK(dpopKeys.publicKey), 'sha256'));
  await throughTheGateway(t, tokens.access_token, dpop, { clientId: CLIENT_ID, scope: 'accounts' });
});

t.test('authorization code flow: PAR + JAR + PKCE + JARM with DPoP, refresh, userinfo', async (t) => {
  client.useJwtResponseMode(config);
  const dpopKeys = await client.randomDPoPKeyPair('ES256');
  const dpop = client.getDPoPHandle(config, dpopKeys);
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const jar = await client.buildAuthorizationUrlWithJAR(
    config,
    {
      redirect_uri: REDIRECT_URI,
      scope: 'openid accounts',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    },
    { key: signingKey, kid: 'oc-1' },
  );
  t.ok(jar.searchParams.get('request'), 'a signed request object (JAR)');
  const authorizationUrl = await client.buildAuthorizationUrlWithPAR(config, jar.searchParams, {
    DPoP: dpop,
  });
  t.match(authorizationUrl.searchParams.get('request_uri'), /^urn:ietf:params:oauth:request_uri:/);

  const browser = new FormBrowser(as);
  const login = await browser.get(authorizationUrl.pathname + authorizationUrl.search);
  let page = await browser.submit(login, { username: ALICE.username, password: ALICE.password });
  if (page.status !== 303) page = await browser.submit(page, { decision: 'approve' });
  const callback = new URL(page.headers['location'] as string);
  t.ok(callback.searchParams.get('response'), 'the authorization response is a JWT (JARM)');

  const tokens = await client.authorizationCodeGrant(
    config,
    callback,
    { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true },
    undefined,
    { DPoP: dpop },
  );
  t.equal(tokens.token_type, 'dpop');
  const jkt = await calculateJwkThumbprint(await exportJWK(dpopKeys.publicKey), 'sha256');
  t.same(decodeJwt(tokens.access_token)['cnf'], { jkt }, 'bound to the key of the PAR and token proofs');
  t.equal(tokens.claims()?.sub, 'alice');
  t.ok(tokens.refresh_token);

  const info = await client.fetchUserInfo(config, tokens.access_token, 'alice', { DPoP: dpop });
  t.equal(info.sub, 'alice');

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token!, undefined, { DPoP: dpop });
  t.equal(refreshed.token_type, 'dpop');
  t.same(decodeJwt(refreshed.access_token)['cnf'], { jkt });
  const again = await client.fetchUserInfo(config, refreshed.access_token, 'alice', { DPoP: dpop });
  t.equal(again.sub, 'alice');
  const identity = { clientId: CLIENT_ID, subject: 'alice', scope: 'openid accounts' };
  await throughTheGateway(t, tokens.access_token, dpop, identity);
  await throughTheGateway(t, refreshed.access_token, dpop, identity);

  const otherKey = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const refused = await client
    .refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: otherKey })
    .then(
      () => undefined,
      (err: unknown) => err as { error?: string },
    );
  t.equal(refused?.error, 'invalid_grant', 'a refresh with another DPoP key is refused');
});
