/**
 * openid-client 6 (a certified relying-party library) with its DPoP support against the issuer over
 * real HTTPS: client_credentials, and the authorization code flow with PAR + JAR + PKCE + JARM, both
 * getting DPoP-bound tokens without any client certificate (private_key_jwt on the plain listener), a
 * refresh, and the tokens used at userinfo with the DPoP scheme (a protected resource call with a fresh
 * proof carrying ath).
 */
import t from 'tap';
import { Agent, fetch as undiciFetch } from 'undici';
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import * as client from 'openid-client';
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
});
t.teardown(async () => {
  await as.close();
  await agent.close();
});

t.test('client_credentials: a DPoP-bound token', async (t) => {
  const dpopKeys = await client.randomDPoPKeyPair('ES256');
  const dpop = client.getDPoPHandle(config, dpopKeys);
  const tokens = await client.clientCredentialsGrant(config, { scope: 'accounts' }, { DPoP: dpop });
  t.equal(tokens.token_type, 'dpop');
  const cnf = decodeJwt(tokens.access_token)['cnf'] as { jkt?: string };
  t.equal(typeof cnf.jkt, 'string');
  t.equal(cnf.jkt, await calculateJwkThumbprint(await exportJWK(dpopKeys.publicKey), 'sha256'));
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

  const otherKey = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const refused = await client
    .refreshTokenGrant(config, refreshed.refresh_token!, undefined, { DPoP: otherKey })
    .then(
      () => undefined,
      (err: unknown) => err as { error?: string },
    );
  t.equal(refused?.error, 'invalid_grant', 'a refresh with another DPoP key is refused');
});
