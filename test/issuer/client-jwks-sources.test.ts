import t from 'tap';
import https from 'node:https';
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

t.test('private_key_jwt with keys from jwksFile and from jwks_uri (fetched over HTTPS)', async (t) => {
  const pki = await testPki();
  const fileKeys = await rsaClientKeys('file-1');
  const jwksFile = path.join(pki.dir, 'client-file.jwks.json');
  writeFileSync(jwksFile, JSON.stringify({ keys: [fileKeys.publicJwk] }));

  const remoteKeys = await rsaClientKeys('remote-1');
  let fetches = 0;
  const jwksServer = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: [remoteKeys.publicJwk] }));
  });
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
  t.teardown(() => jwksServer.close());
  const jwksUri = `https://localhost:${(jwksServer.address() as AddressInfo).port}/jwks`;
  const dispatcher = new Agent({ connect: { ca: pki.ca.certPem } });
  t.teardown(() => dispatcher.close());
  const fetchTrustingTestCa = ((url: string, init: Record<string, unknown>) =>
    undiciFetch(url, { ...init, dispatcher })) as unknown as FetchImplementation;

  const ti = await startTestIssuer({
    clients: [
      { clientId: 'file-client', authMethod: 'private_key_jwt', jwksFile, scopes: ['accounts'] },
      { clientId: 'remote-client', authMethod: 'private_key_jwt', jwksUri, scopes: ['accounts'] },
    ],
    options: { fetch: fetchTrustingTestCa },
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
