/**
 * `fapi-gateway dpop-proof` prints a proof the issuer accepts (a DPoP-bound token for curl), with `ath`
 * and `nonce` when asked, and refuses bad arguments with exit code 2.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { accessTokenHash } from '../../src/dpop/index.js';
import { runCli } from '../helpers/cli.js';
import { ASSERTION_TYPE, clientAssertion, startTestIssuer, type TestIssuer } from '../helpers/issuer.js';

let ti: TestIssuer;
let keyFile: string;
t.before(async () => {
  ti = await startTestIssuer();
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  keyFile = ti.pki.write('cli-dpop-key.pem', privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
});
t.teardown(() => ti.close());

t.test('the printed proof gets a DPoP-bound token', async (t) => {
  const url = `${ti.issuer.url}/token`;
  const cli = await runCli(['dpop-proof', '--method', 'POST', '--url', url, '--key', keyFile]);
  t.equal(cli.code, 0, cli.stderr);
  const proof = cli.stdout.trim();
  const header = decodeProtectedHeader(proof);
  t.equal(header.typ, 'dpop+jwt');
  t.equal(header.alg, 'ES256');
  t.notOk((header.jwk as JWK).d, 'public key only');
  const r = await ti.postForm(
    '/token',
    {
      grant_type: 'client_credentials',
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await clientAssertion({
        clientId: 'jwt-client',
        audience: ti.issuer.url,
        key: ti.jwtClient.privateKey,
        kid: 'jwt-client-1',
      }),
    },
    { listener: 'main', headers: { dpop: proof } },
  );
  t.equal(r.status, 200, r.text);
  t.equal(r.json['token_type'], 'DPoP');
  t.same(decodeJwt(r.json.access_token!)['cnf'], {
    jkt: await calculateJwkThumbprint(header.jwk as JWK, 'sha256'),
  });
});

t.test('ath, nonce, and htu without the query', async (t) => {
  const cli = await runCli([
    'dpop-proof',
    '--method',
    'get',
    '--url',
    'https://api.example/accounts?x=1#f',
    '--key',
    keyFile,
    '--access-token',
    'token-value',
    '--nonce',
    'n-1',
  ]);
  t.equal(cli.code, 0, cli.stderr);
  t.match(decodeJwt(cli.stdout.trim()), {
    htm: 'GET',
    htu: 'https://api.example/accounts',
    ath: accessTokenHash('token-value'),
    nonce: 'n-1',
  });
});

t.test('bad arguments exit 2 with one line', async (t) => {
  const missing = await runCli(['dpop-proof', '--method', 'POST', '--key', keyFile]);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /missing --url/);
  const http = await runCli(['dpop-proof', '--method', 'POST', '--url', 'http://x/token', '--key', keyFile]);
  t.equal(http.code, 2);
  t.match(http.stderr, /https/);
  const noKey = await runCli([
    'dpop-proof',
    '--method',
    'POST',
    '--url',
    'https://x/t',
    '--key',
    '/nonexistent',
  ]);
  t.equal(noKey.code, 2);
  t.match(noKey.stderr, /cannot read a private key/);
});
