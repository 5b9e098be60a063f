/**
 * Server-provided DPoP nonces at the issuer (RFC 9449 §8): with `dpop.nonce.required`, a proof without
 * a current nonce is answered 400 use_dpop_nonce with a `DPoP-Nonce` header, the retry with that nonce
 * succeeds (and gets a fresh nonce), and the challenge does not use up the client assertion.
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { createDpopKey, mintDpopProof, type DpopKey } from '../helpers/dpop.js';
import { ASSERTION_TYPE, clientAssertion, startTestIssuer, type TestIssuer } from '../helpers/issuer.js';
import { testPki } from '../helpers/pki.js';

let ti: TestIssuer;
let key: DpopKey;
t.before(async () => {
  key = await createDpopKey('ES256');
  const secretFile = (await testPki()).write('dpop-nonce-secret', randomBytes(48).toString('base64'));
  ti = await startTestIssuer({ config: { dpop: { nonce: { required: true, secretFile } } } });
});
t.teardown(() => ti.close());

const htu = () => `${ti.issuer.url}/token`;
async function assertion(): Promise<Record<string, string>> {
  return {
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await clientAssertion({
      clientId: 'jwt-client',
      audience: ti.issuer.url,
      key: ti.jwtClient.privateKey,
      kid: 'jwt-client-1',
    }),
  };
}
const token = (auth: Record<string, string>, dpop: string) =>
  ti.postForm(
    '/token',
    { grant_type: 'client_credentials', ...auth },
    { listener: 'main', headers: { dpop } },
  );

t.test('use_dpop_nonce, then the retry with the nonce gets a DPoP-bound token', async (t) => {
  const auth = await assertion();
  const challenge = await token(auth, await mintDpopProof(key, { htm: 'POST', htu: htu() }));
  t.equal(challenge.status, 400);
  t.equal(challenge.json.error, 'use_dpop_nonce');
  const nonce = challenge.headers['dpop-nonce'];
  t.type(nonce, 'string');
  t.match(nonce, /^[A-Za-z0-9_-]{20,}$/);

  const ok = await token(auth, await mintDpopProof(key, { htm: 'POST', htu: htu(), nonce: nonce as string }));
  t.equal(ok.status, 200, `the client assertion was not used up by the challenge: ${ok.text}`);
  t.equal(ok.json['token_type'], 'DPoP');
  t.same(decodeJwt(ok.json.access_token!)['cnf'], { jkt: key.jkt });
  t.type(ok.headers['dpop-nonce'], 'string', 'a fresh nonce on success');
});

t.test('a nonce the issuer never gave out is refused the same way', async (t) => {
  const r = await token(
    await assertion(),
    await mintDpopProof(key, { htm: 'POST', htu: htu(), nonce: 'made-up' }),
  );
  t.equal(r.status, 400);
  t.equal(r.json.error, 'use_dpop_nonce');
  t.type(r.headers['dpop-nonce'], 'string');
});

t.test('without a proof at all, nonces play no part', async (t) => {
  const r = await ti.postForm(
    '/token',
    { grant_type: 'client_credentials', client_id: 'tls-a' },
    { credential: ti.pki.clientA },
  );
  t.equal(r.status, 200);
  t.equal(r.json['token_type'], 'Bearer');
});

t.test('a nonce secret shorter than 32 bytes stops the start, naming the key', async (t) => {
  const short = (await testPki()).write('short-nonce-secret', 'too-short');
  await t.rejects(
    startTestIssuer({ config: { dpop: { nonce: { required: true, secretFile: short } } } }),
    /dpop\.nonce\.secretFile.*32/,
  );
});
