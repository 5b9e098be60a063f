// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
/** Start-up refusals of authorization code clients the FAPI profiles forbid, each with its key path. */
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../../../src/config/load.js';
import { issuerConfigSchema } from '../../../src/issuer/config.js';
import { prepareIssuer } from '../../../src/issuer/startup-checks.js';
import { testPki } from '../../helpers/pki.js';
import { clientSigningKey } from '../../helpers/request-objects.js';
import { webClient } from '../../helpers/code-flow.js';

async function problemsOf(
  client: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<string[]> {
  const pki = await testPki();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const file = path.join(pki.dir, `sk-${randomBytes(3).toString('hex')}.pem`);
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const raw = {
    issuer: 'https://localhost:0',
    tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
    signingKeys: [{ file, alg: 'PS256', kid: 'k1' }],
    accessTokens: { audience: 'https://api.example' },
    clients: [client],
    ...extra,
  };
  try {
    prepareIssuer(issuerConfigSchema.parse(raw));
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

t.test('authorization code clients are checked against the profile at start', async (t) => {
  const key = await clientSigningKey();
  t.same(await problemsOf(webClient(key)), [], 'the documented example client starts');
  t.match(await problemsOf(webClient(key, { redirectUris: ['http://client.example/cb'] })), [
    /^clients\[0\]\.redirectUris\[0\]: http:\/\/client\.example\/cb must use https/,
  ]);
  t.match(await problemsOf(webClient(key, { redirectUris: ['https://client.example/cb#x'] })), [
    /redirectUris\[0\].*fragment/,
  ]);
  t.match(await problemsOf(webClient(key, { requirePushedAuthorizationRequests: false })), [
    /clients\[0\]\.requirePushedAuthorizationRequests: the FAPI 2.0 Security Profile requires PAR/,
  ]);
  t.same(
    await problemsOf(
      webClient(key, { requirePushedAuthorizationRequests: false, profile: 'fapi1-advanced' }),
    ),
    [],
  );
  t.match(await problemsOf(webClient(key, { responseTypes: ['code', 'code id_token'] })), [
    /clients\[0\]\.responseTypes: the FAPI 2.0 Security Profile allows only code/,
  ]);
  t.match(
    await problemsOf(
      webClient(key, { jwks: undefined, authMethod: 'tls_client_auth', tlsClientAuthSubjectDn: 'CN=x' }),
    ),
    [/clients\[0\]\.jwks: the authorization_code grant needs the client keys that sign its request objects/],
  );
  t.match(await problemsOf(webClient(key, { authorizationSignedResponseAlg: 'ES256' })), [
    /clients\[0\]\.authorizationSignedResponseAlg: no issuer signing key for ES256/,
  ]);
  t.match(
    await problemsOf(
      webClient(key, { responseTypes: ['code id_token'], profile: 'fapi1-advanced', scopes: ['accounts'] }),
    ),
    [/clients\[0\]\.scopes: response type "code id_token" needs the openid scope/],
  );
});
