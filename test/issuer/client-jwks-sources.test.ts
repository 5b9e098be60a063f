import t, { type Test } from 'tap';
import https from 'node:https';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch } from 'undici';
import type { FetchImplementation } from 'jose';
import { Writable } from 'node:stream';
import pino from 'pino';
import {
  ASSERTION_TYPE,
  clientAssertion,
  outcome,
  rsaClientKeys,
  startTestIssuer,
} from '../helpers/issuer.js';
import { testPki } from '../helpers/pki.js';

type TestPki = Awaited<ReturnType<typeof testPki>>;

/**
 * A client's key-set server over HTTPS with the test CA's certificate, and the fetch the issuer uses to
 * reach it (trusting that CA). Closed when the test ends.
 */
async function startJwksServer(
  t: Test,
  pki: TestPki,
  handler: (url: string) => { status: number; body: unknown },
): Promise<{ base: string; fetch: FetchImplementation }> {
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const { status, body } = handler(req.url ?? '');
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const dispatcher = new Agent({ connect: { ca: pki.ca.certPem } });
  t.teardown(() => dispatcher.close());
  const fetch = ((url: string, init: Record<string, unknown>) =>
    undiciFetch(url, { ...init, dispatcher })) as unknown as FetchImplementation;
  return { base: `https://localhost:${(server.address() as AddressInfo).port}`, fetch };
}

t.test('private_key_jwt with keys from jwksFile and from jwks_uri (fetched over HTTPS)', async (t) => {
  const pki = await testPki();
  const fileKeys = await rsaClientKeys('file-1');
  const jwksFile = path.join(pki.dir, 'client-file.jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [fileKeys.publicJwk] }));

  const remoteKeys = await rsaClientKeys('remote-1');
  let fetches = 0;
  const jwks = await startJwksServer(t, pki, () => {
    fetches++;
    return { status: 200, body: { keys: [remoteKeys.publicJwk] } };
  });
  const jwksUri = `${jwks.base}/jwks`;
  const ti = await startTestIssuer({
    clients: [
      { clientId: 'file-client', authMethod: 'private_key_jwt', jwksFile, scopes: ['accounts'] },
      { clientId: 'remote-client', authMethod: 'private_key_jwt', jwksUri, scopes: ['accounts'] },
    ],
    options: { fetch: jwks.fetch },
  });
  t.teardown(() => ti.close());
  const tokenWith = async (clientId: string, key: Awaited<ReturnType<typeof rsaClientKeys>>) =>
    ti.postForm(
      '/token',
      {
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion({
          clientId,
          audience: ti.issuer.url,
          key: key.privateKey,
          kid: key.publicJwk.kid,
        }),
      },
      { credential: ti.pki.clientA },
    );
  const fromFile = await tokenWith('file-client', fileKeys);
  t.equal(fromFile.status, 200, outcome(fromFile));
  const fromUri = await tokenWith('remote-client', remoteKeys);
  t.equal(fromUri.status, 200, outcome(fromUri));
  t.equal(fetches, 1);

  const wrong = await tokenWith('remote-client', fileKeys);
  t.equal(wrong.status, 401, 'a key the client never published is refused');

  // jose itself refuses RSA keys under 2048 bits for PS256 (sign and verify); start-up checks cover
  // inline and file sets (startup-checks.test.ts).
});

t.test('jwks_uri: several keys and no kid, a published private key, an unreachable set', async (t) => {
  const pki = await testPki();
  const first = await rsaClientKeys('k-1');
  const second = await rsaClientKeys('k-2');
  const leaked = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const leakedJwk = { ...leaked.privateKey.export({ format: 'jwk' }), kid: 'leaked', alg: 'ES256' };
  const sets: Record<string, unknown> = {
    '/two': { keys: [first.publicJwk, second.publicJwk] },
    '/leaked': { keys: [leakedJwk] },
  };
  const jwks = await startJwksServer(t, pki, (url) => {
    const set = sets[url];
    return set ? { status: 200, body: set } : { status: 503, body: { error: 'unavailable' } };
  });
  const base = jwks.base;
  const ti = await startTestIssuer({
    clients: [
      { clientId: 'two-keys', authMethod: 'private_key_jwt', jwksUri: `${base}/two`, scopes: ['accounts'] },
      { clientId: 'leaky', authMethod: 'private_key_jwt', jwksUri: `${base}/leaked`, scopes: ['accounts'] },
      { clientId: 'gone', authMethod: 'private_key_jwt', jwksUri: `${base}/gone`, scopes: ['accounts'] },
    ],
    options: { fetch: jwks.fetch },
  });
  t.teardown(() => ti.close());
  const token = async (clientId: string, key: KeyObject, alg = 'PS256') =>
    ti.postForm(
      '/token',
      {
        grant_type: 'client_credentials',
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion({ clientId, audience: ti.issuer.url, key, alg }),
      },
      { credential: ti.pki.clientA },
    );

  // RFC 7515 §4.1.4: kid is optional; every key of the set that fits the algorithm is tried.
  const bySecond = await token('two-keys', second.privateKey);
  t.equal(bySecond.status, 200, outcome(bySecond));
  const byFirst = await token('two-keys', first.privateKey);
  t.equal(byFirst.status, 200, outcome(byFirst));
  const foreign = await token('two-keys', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey);
  t.equal(foreign.status, 401);
  t.match(foreign.json.error_description, /signature/);

  const leaky = await token('leaky', leaked.privateKey, 'ES256');
  t.equal(leaky.status, 401, 'a key published with its private part is compromised: refused');
  t.equal(leaky.json.error, 'invalid_client');
  t.match(leaky.json.error_description, /private key material/);

  const gone = await token('gone', first.privateKey);
  t.equal(gone.status, 401, 'fails closed when the key set cannot be fetched');
  t.equal(gone.json.error, 'invalid_client');
  t.match(gone.json.error_description, /jwks_uri could not be used/);
  t.notOk('access_token' in gone.json);
});

t.test('logs name clients and outcomes but never tokens, assertions or secrets', async (t) => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const ti = await startTestIssuer({ options: { logger: pino({ level: 'debug' }, sink) } });
  t.teardown(() => ti.close());
  const assertion = await clientAssertion({
    clientId: 'jwt-client',
    audience: ti.issuer.url,
    key: ti.jwtClient.privateKey,
  });
  const ok = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion },
    { credential: ti.pki.clientA },
  );
  t.equal(ok.status, 200);
  await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: assertion },
    { credential: ti.pki.clientA },
  );
  await ti.postForm('/token', {
    grant_type: 'client_credentials',
    client_id: 'secret-client',
    client_secret: ti.clientSecret,
  });
  await ti.postForm(
    '/introspect',
    { client_id: 'tls-a', token: ok.json.access_token! },
    { credential: ti.pki.clientA },
  );
  const log = lines.join('');
  t.match(log, /"msg":"token issued"/);
  t.match(log, /"reason":"assertion_replayed"/);
  t.match(log, /"reason":"client_secret_post_refused"/);
  t.notMatch(log, ok.json.access_token!, 'no access token');
  t.notMatch(log, assertion, 'no client assertion');
  t.notMatch(log, ti.clientSecret, 'no client secret');
  t.notMatch(log, /eyJ/, 'no JWT at all');
});
