/**
 * A client that asked for ES256 everywhere: request objects verified as ES256, the JARM response and
 * the ID token signed with the issuer's P-256 key (kid of that key), hashes still SHA-256 left halves.
 */
import t from 'tap';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { leftHalfHash } from '../../../src/issuer/tokens/id-token.js';
import {
  ALICE,
  FormBrowser,
  REDIRECT_URI,
  WEB_CLIENT_ID,
  startCodeFlowIssuer,
} from '../../helpers/code-flow.js';
import { ASSERTION_TYPE, clientAssertion } from '../../helpers/issuer.js';
import { testPki } from '../../helpers/pki.js';
import { clientSigningKey, pkcePair, signedRequestObject } from '../../helpers/request-objects.js';

t.test('ES256 request object, JARM response and ID token', async (t) => {
  const pki = await testPki();
  const write = (name: string, key: ReturnType<typeof generateKeyPairSync>['privateKey']) => {
    const file = path.join(pki.dir, `${name}-${randomBytes(3).toString('hex')}.pem`);
    writeFileSync(file, key.export({ type: 'pkcs8', format: 'pem' }));
    return file;
  };
  const ps = write('ps', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
  const es = write('es', generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
  const clientKey = await clientSigningKey('ES256', 'acme-es-1');
  const as = await startCodeFlowIssuer({
    webClient: {
      jwks: clientKey.jwks,
      requestObjectSigningAlg: 'ES256',
      authorizationSignedResponseAlg: 'ES256',
      idTokenSignedResponseAlg: 'ES256',
      tokenEndpointAuthSigningAlg: 'ES256',
    },
    config: {
      signingKeys: [
        { file: ps, alg: 'PS256', kid: 'as-ps' },
        { file: es, alg: 'ES256', kid: 'as-es' },
      ],
    },
  });
  t.teardown(() => as.close());
  const keys = createLocalJWKSet((await as.get('/jwks')).json as never);
  const discovery = (await as.get('/.well-known/openid-configuration')).json;
  t.same(discovery['authorization_signing_alg_values_supported'], ['PS256', 'ES256']);

  const { verifier, challenge } = pkcePair();
  const state = 'es-state';
  const request = await signedRequestObject({
    key: clientKey,
    clientId: WEB_CLIENT_ID,
    audience: as.issuer.url,
    claims: {
      client_id: WEB_CLIENT_ID,
      response_type: 'code',
      response_mode: 'jwt',
      redirect_uri: REDIRECT_URI,
      scope: 'openid accounts',
      state,
      nonce: 'es-nonce',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    },
  });
  // The client's assertion must be ES256 too (tokenEndpointAuthSigningAlg).
  const assertion = async () => ({
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await clientAssertion({
      clientId: WEB_CLIENT_ID,
      audience: as.issuer.url,
      key: clientKey.privateKey,
      alg: 'ES256',
      kid: clientKey.kid,
    }),
  });
  const psSigned = await as.requestObject({ code_challenge: challenge });
  const refused = await as.postForm('/par', { ...(await assertion()), request: psSigned });
  t.equal(refused.status, 400, 'a PS256 request object is refused for an ES256 client');
  t.equal(refused.json['error'], 'invalid_request_object');

  const par = await as.postForm('/par', { ...(await assertion()), request });
  t.equal(par.status, 201, par.text);
  const browser = new FormBrowser(as);
  const login = await browser.get(
    `/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(par.json['request_uri'] as string)}`,
  );
  const consent = await browser.submit(login, { username: ALICE.username, password: ALICE.password });
  const done = await browser.submit(consent, { decision: 'approve' });
  const response = new URL(done.headers['location'] as string).searchParams.get('response')!;
  t.same(decodeProtectedHeader(response), { alg: 'ES256', kid: 'as-es' });
  const { payload } = await jwtVerify(response, keys, {
    issuer: as.issuer.url,
    audience: WEB_CLIENT_ID,
    algorithms: ['ES256'],
  });
  t.equal(payload['state'], state);

  const tok = await as.postForm(
    '/token',
    {
      ...(await assertion()),
      grant_type: 'authorization_code',
      code: payload['code'] as string,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    },
    { credential: as.pki.clientA },
  );
  t.equal(tok.status, 200, tok.text);
  const idToken = tok.json['id_token'] as string;
  t.same(decodeProtectedHeader(idToken), { alg: 'ES256', kid: 'as-es', typ: 'JWT' });
  const { payload: id } = await jwtVerify(idToken, keys, {
    issuer: as.issuer.url,
    audience: WEB_CLIENT_ID,
    algorithms: ['ES256'],
  });
  t.equal(id['at_hash'], leftHalfHash(tok.json['access_token'] as string, 'ES256'));
  t.equal(id['nonce'], 'es-nonce');
  t.equal(
    decodeProtectedHeader(tok.json['access_token'] as string).alg,
    'PS256',
    'access tokens: the active key',
  );
});
