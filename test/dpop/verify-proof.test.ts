import t, { type Test } from 'tap';
import { SignJWT, base64url, calculateJwkThumbprint, type JWK } from 'jose';
import { publicJwkThumbprint } from '../../src/dpop/proof-keys.js';
import {
  accessTokenHash,
  DpopError,
  MemoryDpopReplayStore,
  verifyDpopProof,
  type DpopErrorCode,
  type DpopProofRequest,
} from '../../src/dpop/index.js';
import { createDpopKey, mintDpopProof, type DpopKey } from '../helpers/dpop.js';

const policy = { algorithms: ['ES256', 'PS256', 'EdDSA'], iatWindowSeconds: 60 };
const NOW = Math.floor(Date.now() / 1000);
const request = (extra: Partial<DpopProofRequest> = {}): DpopProofRequest => ({
  method: 'GET',
  htu: { origins: ['https://localhost'], path: '/accounts' },
  now: NOW,
  ...extra,
});

async function expectCode(t: Test, p: Promise<unknown>, code: DpopErrorCode): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof DpopError, `refused with a DpopError (${code})`);
  t.equal((err as DpopError).code, code);
}

t.test('every allowed algorithm verifies and yields the RFC 7638 thumbprint', async (t) => {
  for (const alg of policy.algorithms) {
    const key = await createDpopKey(alg);
    const proof = await mintDpopProof(key, { iat: NOW });
    const verified = await verifyDpopProof(proof, policy, request());
    t.equal(verified.jkt, key.jkt, `${alg}: jkt`);
    t.equal(verified.alg, alg);
    t.equal(verified.htm, 'GET');
  }
});

t.test('proof rules, each with a positive control', async (t) => {
  const key = await createDpopKey('ES256');
  const ok = (o: Parameters<typeof mintDpopProof>[1] = {}) => mintDpopProof(key, { iat: NOW, ...o });
  const check = async (
    name: string,
    good: Promise<string>,
    bad: Promise<string>,
    code: DpopErrorCode,
    req: Partial<DpopProofRequest> = {},
  ) => {
    await t.test(name, async (t) => {
      await t.resolves(verifyDpopProof(await good, policy, request(req)), 'positive control verifies');
      await expectCode(t, verifyDpopProof(await bad, policy, request(req)), code);
    });
  };

  await t.test('not a compact JWS', async (t) => {
    for (const bad of ['', 'abc', 'a.b', 'a.b.c.d', 'a..b', `${'a'.repeat(9000)}.b.c`, 'e30.e30.']) {
      await expectCode(t, verifyDpopProof(bad, policy, request()), 'ERR_DPOP_PROOF_MALFORMED');
    }
    const good = await ok();
    const [h, p] = good.split('.');
    await expectCode(t, verifyDpopProof(`${h}.${p}.`, policy, request()), 'ERR_DPOP_PROOF_MALFORMED');
    await expectCode(
      t,
      verifyDpopProof(`bm90IGpzb24.${p}.c2ln`, policy, request()),
      'ERR_DPOP_PROOF_MALFORMED',
    );
  });
  await check('typ missing', ok(), ok({ header: { typ: undefined } }), 'ERR_DPOP_PROOF_TYPE');
  await check(
    'typ jwt',
    ok({ header: { typ: 'DPoP+JWT' } }),
    ok({ header: { typ: 'JWT' } }),
    'ERR_DPOP_PROOF_TYPE',
  );
  await check(
    'typ application/dpop+jwt is accepted, at+jwt is not',
    ok({ header: { typ: 'Application/DPoP+jwt' } }),
    ok({ header: { typ: 'at+jwt' } }),
    'ERR_DPOP_PROOF_TYPE',
  );
  await t.test('alg outside the allow-list, none and HMAC', async (t) => {
    const es384 = await createDpopKey('ES384');
    await t.resolves(
      verifyDpopProof(
        await mintDpopProof(es384, { iat: NOW }),
        { ...policy, algorithms: ['ES384'] },
        request(),
      ),
    );
    await expectCode(
      t,
      verifyDpopProof(await mintDpopProof(es384, { iat: NOW }), policy, request()),
      'ERR_DPOP_PROOF_ALGORITHM',
    );
    const secret = new Uint8Array(32).fill(7);
    const hmac = await new SignJWT({ jti: 'x', htm: 'GET', htu: 'https://localhost/accounts', iat: NOW })
      .setProtectedHeader({
        alg: 'HS256',
        typ: 'dpop+jwt',
        jwk: { kty: 'oct', k: base64url.encode(secret) } as JWK,
      })
      .sign(secret);
    await expectCode(
      t,
      verifyDpopProof(hmac, { ...policy, algorithms: ['HS256'] }, request()),
      'ERR_DPOP_PROOF_ALGORITHM',
    );
    const [, payload] = (await ok()).split('.');
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk }))}.${payload}.`;
    await expectCode(
      t,
      verifyDpopProof(none, { ...policy, algorithms: ['none'] }, request()),
      'ERR_DPOP_PROOF_MALFORMED',
    );
    const noneSigned = `${none}c2ln`;
    await expectCode(
      t,
      verifyDpopProof(noneSigned, { ...policy, algorithms: ['none'] }, request()),
      'ERR_DPOP_PROOF_ALGORITHM',
    );
  });
  await check('jwk missing', ok(), ok({ header: { jwk: undefined } }), 'ERR_DPOP_PROOF_KEY');
  await check('jwk private', ok(), ok({ header: { jwk: key.privateJwk } }), 'ERR_DPOP_PROOF_KEY');
  await t.test('jwk of a type that does not match alg', async (t) => {
    const rsa = await createDpopKey('PS256');
    const p384 = await createDpopKey('ES384');
    await t.resolves(verifyDpopProof(await ok(), policy, request()));
    await expectCode(
      t,
      verifyDpopProof(await ok({ header: { jwk: rsa.publicJwk } }), policy, request()),
      'ERR_DPOP_PROOF_KEY',
    );
    await expectCode(
      t,
      verifyDpopProof(await ok({ header: { jwk: p384.publicJwk } }), policy, request()),
      'ERR_DPOP_PROOF_KEY',
    );
    await expectCode(
      t,
      verifyDpopProof(await ok({ header: { jwk: { ...key.publicJwk, x: 'AAAA' } } }), policy, request()),
      'ERR_DPOP_PROOF_KEY',
    );
  });
  await t.test('signature by another key than the embedded one', async (t) => {
    const other = await createDpopKey('ES256');
    await t.resolves(verifyDpopProof(await ok(), policy, request()));
    await expectCode(
      t,
      verifyDpopProof(await ok({ signWith: other.privateKey }), policy, request()),
      'ERR_DPOP_PROOF_SIGNATURE',
    );
    const good = await ok();
    const tampered =
      good.slice(0, good.indexOf('.') + 1) +
      base64url.encode(
        JSON.stringify({ jti: 'x', htm: 'GET', htu: 'https://localhost/accounts', iat: NOW }),
      ) +
      good.slice(good.lastIndexOf('.'));
    await expectCode(t, verifyDpopProof(tampered, policy, request()), 'ERR_DPOP_PROOF_SIGNATURE');
  });
  for (const claim of ['jti', 'htm', 'htu', 'iat']) {
    await check(`${claim} missing`, ok(), ok({ claims: { [claim]: undefined } }), 'ERR_DPOP_PROOF_CLAIMS');
  }
  await check('iat not a number', ok(), ok({ claims: { iat: String(NOW) } }), 'ERR_DPOP_PROOF_CLAIMS');
  await check('htm is case-sensitive', ok({ htm: 'GET' }), ok({ htm: 'get' }), 'ERR_DPOP_PROOF_METHOD');
  await check('htm of another method', ok({ htm: 'GET' }), ok({ htm: 'POST' }), 'ERR_DPOP_PROOF_METHOD');
  await check(
    'htu: scheme and host case-insensitive, query and fragment ignored; another path refused',
    ok({ htu: 'HTTPS://LocalHost/accounts?x=1#frag' }),
    ok({ htu: 'https://localhost/payments' }),
    'ERR_DPOP_PROOF_URI',
  );
  await check(
    'htu: default port equals none; another port refused',
    ok({ htu: 'https://localhost:443/accounts' }),
    ok({ htu: 'https://localhost:8443/accounts' }),
    'ERR_DPOP_PROOF_URI',
  );
  await check('htu: http is refused', ok(), ok({ htu: 'http://localhost/accounts' }), 'ERR_DPOP_PROOF_URI');
  await check('htu: another host', ok(), ok({ htu: 'https://evil.example/accounts' }), 'ERR_DPOP_PROOF_URI');
  await check(
    'htu: path case matters',
    ok(),
    ok({ htu: 'https://localhost/Accounts' }),
    'ERR_DPOP_PROOF_URI',
  );
  await check('htu: not a URL', ok(), ok({ htu: 'not a url' }), 'ERR_DPOP_PROOF_URI');
  await check(
    'htu: a non-default port in the request Host',
    ok({ htu: 'https://localhost:8443/accounts' }),
    ok({ htu: 'https://localhost/accounts' }),
    'ERR_DPOP_PROOF_URI',
    { htu: { origins: ['https://localhost:8443'], path: '/accounts' } },
  );
  await check(
    'iat at the window edge / beyond it (past)',
    ok({ iat: NOW - 60 }),
    ok({ iat: NOW - 61 }),
    'ERR_DPOP_PROOF_IAT',
  );
  await check(
    'iat at the window edge / beyond it (future)',
    ok({ iat: NOW + 60 }),
    ok({ iat: NOW + 61 }),
    'ERR_DPOP_PROOF_IAT',
  );
  await check(
    'ath of the presented token / of another token',
    ok({ accessToken: 'token-a' }),
    ok({ accessToken: 'token-b' }),
    'ERR_DPOP_PROOF_ATH',
    { accessToken: 'token-a' },
  );
  await check('ath missing with a token', ok({ accessToken: 'token-a' }), ok(), 'ERR_DPOP_PROOF_ATH', {
    accessToken: 'token-a',
  });
});

t.test('ath is base64url(SHA-256(token)) (the example of RFC 9449 §7.1)', (t) => {
  t.equal(
    accessTokenHash('Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU'),
    'fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo',
  );
  t.end();
});

t.test('binding: a proof by the key the token names, and by another key', async (t) => {
  const key = await createDpopKey('ES256');
  const other = await createDpopKey('ES256');
  await t.resolves(
    verifyDpopProof(await mintDpopProof(key, { iat: NOW }), policy, request({ expectedJkt: key.jkt })),
  );
  await expectCode(
    t,
    verifyDpopProof(await mintDpopProof(other, { iat: NOW }), policy, request({ expectedJkt: key.jkt })),
    'ERR_DPOP_BINDING',
  );
});

t.test('nonce: checked by the injected verifier, only when given', async (t) => {
  const key = await createDpopKey('ES256');
  const nonce = { isValid: (n: unknown) => n === 'good' };
  await t.resolves(
    verifyDpopProof(await mintDpopProof(key, { iat: NOW, nonce: 'good' }), policy, request({ nonce })),
  );
  await expectCode(
    t,
    verifyDpopProof(await mintDpopProof(key, { iat: NOW, nonce: 'bad' }), policy, request({ nonce })),
    'ERR_DPOP_NONCE',
  );
  await expectCode(
    t,
    verifyDpopProof(await mintDpopProof(key, { iat: NOW }), policy, request({ nonce })),
    'ERR_DPOP_NONCE',
  );
  await t.resolves(verifyDpopProof(await mintDpopProof(key, { iat: NOW, nonce: 'bad' }), policy, request()));
});

t.test('replay: a jti is accepted once per key; a store that cannot answer fails closed', async (t) => {
  const key = await createDpopKey('ES256');
  const other = await createDpopKey('ES256');
  const replayStore = new MemoryDpopReplayStore({ maxEntries: 10, now: () => NOW });
  const proof = await mintDpopProof(key, { iat: NOW, claims: { jti: 'j-1' } });
  await t.resolves(verifyDpopProof(proof, policy, request({ replayStore })));
  await expectCode(t, verifyDpopProof(proof, policy, request({ replayStore })), 'ERR_DPOP_REPLAY');
  await t.resolves(
    verifyDpopProof(
      await mintDpopProof(other, { iat: NOW, claims: { jti: 'j-1' } }),
      policy,
      request({ replayStore }),
    ),
    'the same jti from another key is another proof',
  );
  const broken = { firstUse: () => Promise.reject(new Error('connection refused')) };
  await expectCode(
    t,
    verifyDpopProof(await mintDpopProof(key, { iat: NOW }), policy, request({ replayStore: broken })),
    'ERR_DPOP_REPLAY_STORE',
  );
  const asyncStore = { firstUse: () => Promise.resolve(false) };
  await expectCode(
    t,
    verifyDpopProof(await mintDpopProof(key, { iat: NOW }), policy, request({ replayStore: asyncStore })),
    'ERR_DPOP_REPLAY',
  );
});

t.test('a refused proof does not use up its jti', async (t) => {
  const key: DpopKey = await createDpopKey('ES256');
  const replayStore = new MemoryDpopReplayStore({ maxEntries: 10, now: () => NOW });
  const proof = await mintDpopProof(key, { iat: NOW, htm: 'POST' });
  await expectCode(t, verifyDpopProof(proof, policy, request({ replayStore })), 'ERR_DPOP_PROOF_METHOD');
  t.equal(replayStore.size, 0);
});

t.test('a key seen before is reused only for proofs its own rules still allow', async (t) => {
  for (const alg of policy.algorithms) {
    const key = await createDpopKey(alg);
    t.equal(
      publicJwkThumbprint(key.publicJwk as Record<string, unknown>),
      await calculateJwkThumbprint(key.publicJwk, 'sha256'),
      `${alg}: the RFC 7638 thumbprint, as jose computes it`,
    );
    // First proof: the key is imported and remembered.
    await t.resolves(verifyDpopProof(await mintDpopProof(key, { iat: NOW }), policy, request()));
    for (const [name, extra] of [
      ['use enc', { use: 'enc' }],
      ['another alg', { alg: alg === 'ES256' ? 'ES384' : 'ES256' }],
      ['key_ops without verify', { key_ops: ['encrypt'] }],
    ] as const) {
      const proof = await mintDpopProof(key, { iat: NOW, header: { jwk: { ...key.publicJwk, ...extra } } });
      await expectCode(t, verifyDpopProof(proof, policy, request()), 'ERR_DPOP_PROOF_KEY');
      t.comment(`${alg}: ${name} refused although the same key was verified before`);
    }
    // The remembered key still verifies only its own signatures.
    const other = await createDpopKey(alg);
    const forged = await mintDpopProof(key, { iat: NOW, signWith: other.privateKey });
    await expectCode(t, verifyDpopProof(forged, policy, request()), 'ERR_DPOP_PROOF_SIGNATURE');
  }
});
