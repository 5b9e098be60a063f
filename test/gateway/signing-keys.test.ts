// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
/**
 * Key selection and per-key verifiers (src/jose/key-ring.ts): which of the issuer's keys may verify
 * which token, with real keys and real signatures; a signature verifies only over its own signing input,
 * with its own key and algorithm.
 */
import t from 'tap';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { SignJWT } from 'jose';
import { KeyRing } from '../../src/jose/key-ring.js';

type Pair = { publicKey: KeyObject; privateKey: KeyObject };
const ec = (namedCurve: string): Pair => generateKeyPairSync('ec', { namedCurve });
const rsa = (modulusLength: number): Pair => generateKeyPairSync('rsa', { modulusLength });
const jwkOf = (p: Pair, extra: Record<string, unknown> = {}) => ({
  ...p.publicKey.export({ format: 'jwk' }),
  ...extra,
});
const sign = (p: Pair, alg: string, kid?: string) =>
  new SignJWT({ sub: 's' })
    .setProtectedHeader({ alg, typ: 'at+jwt', ...(kid ? { kid } : {}) })
    .sign(p.privateKey);
const ALL = ['PS256', 'ES256', 'ES384', 'EdDSA', 'RS256'];
/** What the verifier's caller hands over once it has decoded a token: signing input and signature. */
const parts = (token: string) => {
  const dot = token.lastIndexOf('.');
  return { input: token.slice(0, dot), signature: token.slice(dot + 1) };
};

t.test('a token verifies only with the key and algorithm it names', async (t) => {
  const a = ec('P-256');
  const b = ec('P-256');
  const ring = new KeyRing({ keys: [jwkOf(a, { kid: 'a' }), jwkOf(b, { kid: 'b' })] }, ALL);
  t.equal(ring.size, 2);
  const sel = ring.select('ES256', 'a');
  t.equal(sel.kind, 'key');
  if (sel.kind !== 'key') return;
  const good = await sign(a, 'ES256', 'a');
  t.equal(sel.verifySignature(parts(good)), true);
  const forged = await sign(b, 'ES256', 'a');
  t.equal(sel.verifySignature(parts(forged)), false, 'b signed, a named: refused');
  t.match(sel.verify(good), { header: { kid: 'a' }, payload: { sub: 's' } }, 'the full verifier decodes too');
  t.throws(() => sel.verify(forged), { code: 'FAST_JWT_INVALID_SIGNATURE' }, 'and refuses the same');
  const { input, signature } = parts(good);
  t.equal(sel.verifySignature({ input: input + 'x', signature }), false, 'another signing input: refused');
  t.equal(sel.verifySignature({ input, signature: '' }), false, 'no signature: refused');
  t.equal(
    sel.verifySignature({ input, signature: signature.slice(0, 40) }),
    false,
    'a truncated signature: refused',
  );
  const raw = Buffer.from(signature, 'base64url');
  t.equal(
    sel.verifySignature({ input, signature: Buffer.concat([raw, Buffer.alloc(1)]).toString('base64url') }),
    false,
    'a signature longer than R || S: refused',
  );
  t.equal(ring.select('ES256', 'c').kind, 'none', 'unknown kid');
  t.equal(ring.select('ES384', 'a').kind, 'none', 'P-256 key cannot serve ES384');
  t.equal(ring.select('PS256', 'a').kind, 'none', 'EC key cannot serve PS256');
  t.equal(ring.select('ES256', undefined).kind, 'ambiguous', 'no kid and two candidates');
});

t.test('keys that may not verify are left out of the ring', (t) => {
  const ring = new KeyRing(
    {
      keys: [
        jwkOf(ec('P-256'), { kid: 'enc', use: 'enc' }),
        jwkOf(ec('P-256'), { kid: 'ops', key_ops: ['encrypt'] }),
        jwkOf(ec('P-256'), { kid: 'alg', alg: 'ES384' }),
        jwkOf(rsa(1024), { kid: 'short' }),
        { kty: 'EC', crv: 'P-256', x: 'broken', y: 'broken', kid: 'broken' },
      ],
    },
    ALL,
  );
  t.equal(ring.size, 0, 'encryption keys, wrong key_ops, mismatched alg, RSA < 2048 bits and broken keys');
  t.end();
});

t.test('algorithms outside the configured list are never prepared', (t) => {
  const p = ec('P-256');
  const ring = new KeyRing({ keys: [jwkOf(p, { kid: 'k' })] }, ['PS256']);
  t.equal(ring.size, 0);
  t.equal(ring.select('ES256', 'k').kind, 'none');
  t.end();
});

t.test('RSA (PS256, RS256) and Ed25519 keys verify their own algorithms', async (t) => {
  const r = rsa(2048);
  const ed: Pair = generateKeyPairSync('ed25519');
  const ring = new KeyRing({ keys: [jwkOf(r, { kid: 'r' }), jwkOf(ed, { kid: 'e' })] }, ALL);
  for (const alg of ['PS256', 'RS256']) {
    const sel = ring.select(alg, 'r');
    if (sel.kind !== 'key') {
      t.fail(`${alg} not prepared`);
      continue;
    }
    t.equal(sel.verifySignature(parts(await sign(r, alg, 'r'))), true, alg);
  }
  const sel = ring.select('EdDSA', 'e');
  t.equal(sel.kind, 'key');
  if (sel.kind === 'key') t.equal(sel.verifySignature(parts(await sign(ed, 'EdDSA', 'e'))), true, 'EdDSA');
  const ps = ring.select('PS256', 'r');
  const rs256 = await sign(r, 'RS256', 'r');
  if (ps.kind === 'key')
    t.equal(ps.verifySignature(parts(rs256)), false, 'an RS256 token is not verified as PS256');
  const rs = ring.select('RS256', 'r');
  const ps256 = await sign(r, 'PS256', 'r');
  if (rs.kind === 'key')
    t.equal(rs.verifySignature(parts(ps256)), false, 'a PS256 token is not verified as RS256');
});
