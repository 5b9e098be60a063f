import t, { type Test } from 'tap';
import { base64url, SignJWT } from 'jose';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway.js';
import { expectRejection, headerLines } from '../helpers/gateway-assertions.js';
import { createDpopKey, mintDpopProof, type DpopKey, type ProofOptions } from '../helpers/dpop.js';
import { dpopCall, htuFor, type DpopCallOptions } from '../helpers/dpop-gateway.js';

const ROUTES = [
  { path: '/accounts', methods: ['GET', 'POST'], scopes: ['accounts'] },
  { path: '/payments', methods: ['GET', 'POST'], scopes: ['payments'], binding: 'dpop' },
  { path: '/balances', methods: ['GET'], scopes: ['accounts'], binding: 'any' },
];

function dpopToken(f: GatewayFixture, key: DpopKey, claims: Record<string, unknown> = {}): Promise<string> {
  return f.token({ bindTo: null, claims: { cnf: { jkt: key.jkt }, ...claims } });
}

function expectForwarded(t: Test, f: GatewayFixture, res: { status: number; body: string }): void {
  t.equal(res.status, 200, `forwarded: ${res.body}`);
  t.equal(f.upstream.hits, 1, 'reached the upstream once');
  f.upstream.reset();
}

t.test('DPoP-bound tokens on dpop and any routes', async (t) => {
  // The gateway's clock stands still: iat limits are tested to the second, whatever the machine's load.
  const now = Math.floor(Date.now() / 1000);
  const f = await startGatewayFixture(t, { routes: ROUTES }, { clock: () => now });
  const key = await createDpopKey('ES256');
  const token = await dpopToken(f, key);
  const call = (o: Partial<DpopCallOptions> = {}) => dpopCall(f, { key, token, now, ...o });
  const proofRejected = async (tt: Test, res: Parameters<typeof expectRejection>[2], reason: string) =>
    expectRejection(tt, f, res, { status: 401, error: 'invalid_dpop_proof', reason, challenge: 'dpop' });

  await t.test('every configured algorithm: ES256, PS256, EdDSA', async (t) => {
    for (const alg of ['ES256', 'PS256', 'EdDSA']) {
      const k = await createDpopKey(alg);
      const res = await dpopCall(f, { key: k, token: await dpopToken(f, k), now });
      expectForwarded(t, f, res);
    }
  });

  await t.test('the upstream gets the identity; logs never hold the proof or the token', async (t) => {
    const proof = await mintDpopProof(key, { htu: htuFor(f, '/payments'), accessToken: token, iat: now });
    const res = await call({ proof });
    t.equal(res.status, 200);
    const seen = f.upstream.last()!;
    t.equal(seen.headers['x-authenticated-client-id'], 'client-a');
    t.equal(seen.headers['x-authenticated-subject'], 'user-1');
    f.upstream.reset();
    t.notOk(f.logText().includes(proof), 'no proof in the logs');
    t.notOk(f.logText().includes(proof.split('.')[2]!), 'not even its signature');
    t.notOk(f.logText().includes(token.split('.')[2]!), 'no token in the logs');
  });

  await t.test('on an any route too, and the scheme is case-insensitive', async (t) => {
    expectForwarded(t, f, await call({ path: '/balances' }));
    expectForwarded(t, f, await call({ scheme: 'dpop' }));
    expectForwarded(t, f, await call({ scheme: 'DPOP' }));
    expectForwarded(t, f, await call({ proofHeaderName: 'dpop' }));
  });

  await t.test('the DPoP header: missing, or sent twice', async (t) => {
    await proofRejected(t, await call({ proof: null }), 'dpop_proof_missing');
    const one = await mintDpopProof(key, { htu: htuFor(f, '/payments'), accessToken: token, iat: now });
    const two = await mintDpopProof(key, { htu: htuFor(f, '/payments'), accessToken: token, iat: now });
    await proofRejected(t, await call({ proof: [one, two] }), 'dpop_proof_multiple');
    expectForwarded(t, f, await call({ proof: two }));
  });

  // Each rule: the positive control first (it must pass), then the negative (refused, counted, not forwarded).
  const other = await createDpopKey('ES256');
  const es384 = await createDpopKey('ES384');
  const rsa = await createDpopKey('PS256');
  const nowS = () => now;
  const hmacSecret = new Uint8Array(32).fill(9);
  const rules: {
    name: string;
    reason: string;
    good?: ProofOptions;
    bad: ProofOptions | (() => Promise<string>);
    path?: string;
  }[] = [
    { name: 'not a JWS', reason: 'dpop_proof_malformed', bad: () => Promise.resolve('not-a-proof') },
    {
      name: 'typ dpop+jwt (also application/dpop+jwt) / JWT',
      reason: 'dpop_proof_type',
      good: { header: { typ: 'application/DPoP+JWT' } },
      bad: { header: { typ: 'JWT' } },
    },
    { name: 'typ missing', reason: 'dpop_proof_type', bad: { header: { typ: undefined } } },
    {
      name: 'alg outside dpop.algorithms (ES384)',
      reason: 'dpop_proof_algorithm',
      bad: () => mintDpopProof(es384, { htu: htuFor(f, '/payments'), accessToken: token, iat: now }),
    },
    {
      name: 'alg HS256 (a MAC is never accepted)',
      reason: 'dpop_proof_algorithm',
      bad: () =>
        new SignJWT({ jti: 'h', htm: 'GET', htu: htuFor(f, '/payments'), iat: nowS() })
          .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt' })
          .sign(hmacSecret),
    },
    {
      name: 'alg none',
      reason: 'dpop_proof_algorithm',
      bad: () =>
        Promise.resolve(
          `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'dpop+jwt', jwk: key.publicJwk }))}.${base64url.encode(JSON.stringify({ jti: 'n', htm: 'GET', htu: htuFor(f, '/payments'), iat: nowS() }))}.c2ln`,
        ),
    },
    { name: 'jwk missing', reason: 'dpop_proof_key', bad: { header: { jwk: undefined } } },
    { name: 'jwk private', reason: 'dpop_proof_key', bad: { header: { jwk: key.privateJwk } } },
    {
      name: 'jwk of a type alg does not use (RSA key, ES256)',
      reason: 'dpop_proof_key',
      bad: { header: { jwk: rsa.publicJwk } },
    },
    {
      name: 'signed by another key than its jwk',
      reason: 'dpop_proof_signature',
      bad: { signWith: other.privateKey },
    },
    { name: 'jti missing', reason: 'dpop_proof_claims', bad: { claims: { jti: undefined } } },
    { name: 'htm missing', reason: 'dpop_proof_claims', bad: { claims: { htm: undefined } } },
    { name: 'htu missing', reason: 'dpop_proof_claims', bad: { claims: { htu: undefined } } },
    { name: 'iat missing', reason: 'dpop_proof_claims', bad: { claims: { iat: undefined } } },
    { name: 'htm is case-sensitive', reason: 'dpop_proof_method', bad: { htm: 'get' } },
    { name: 'htm of another method', reason: 'dpop_proof_method', bad: { htm: 'POST' } },
    {
      name: 'htu: scheme and host case-insensitive, query and fragment ignored / another path',
      reason: 'dpop_proof_uri',
      path: '/payments?from=2024',
      good: { htu: htuFor(f, '/payments').replace('https://', 'HTTPS://') + '?other=1#frag' },
      bad: { htu: htuFor(f, '/accounts') },
    },
    {
      name: 'htu: http',
      reason: 'dpop_proof_uri',
      bad: { htu: htuFor(f, '/payments').replace('https:', 'http:') },
    },
    {
      name: 'htu: another host',
      reason: 'dpop_proof_uri',
      bad: { htu: `https://evil.example:${f.gateway.listenPort}/payments` },
    },
    {
      name: 'htu: another port',
      reason: 'dpop_proof_uri',
      bad: { htu: `https://127.0.0.1:${f.gateway.listenPort + 1}/payments` },
    },
    {
      name: 'htu: a sub-path of the route is not the request path',
      reason: 'dpop_proof_uri',
      bad: { htu: htuFor(f, '/payments/1') },
    },
    {
      name: 'iat at -60 s / -61 s',
      reason: 'dpop_proof_iat',
      good: { iat: nowS() - 60 },
      bad: { iat: nowS() - 61 },
    },
    {
      name: 'iat at +60 s / +61 s',
      reason: 'dpop_proof_iat',
      good: { iat: nowS() + 60 },
      bad: { iat: nowS() + 61 },
    },
    { name: 'ath missing', reason: 'dpop_proof_ath', bad: { claims: { ath: undefined } } },
    { name: 'ath of another token', reason: 'dpop_proof_ath', bad: { accessToken: 'another-token' } },
  ];
  for (const rule of rules) {
    await t.test(`proof rule: ${rule.name}`, async (t) => {
      const path = rule.path ?? '/payments';
      expectForwarded(t, f, await call({ path, proofOptions: rule.good ?? {} }));
      const res =
        typeof rule.bad === 'function'
          ? await call({ path, proof: await rule.bad() })
          : await call({ path, proofOptions: rule.bad });
      await proofRejected(t, res, rule.reason);
    });
  }

  await t.test('htu: the default port equals no port (Host without a port)', async (t) => {
    const headers = { host: 'api.bank.test' };
    expectForwarded(
      t,
      f,
      await call({ headers, proofOptions: { htu: 'https://API.Bank.Test:443/payments' } }),
    );
    await proofRejected(
      t,
      await call({ headers, proofOptions: { htu: 'https://api.bank.test:8443/payments' } }),
      'dpop_proof_uri',
    );
  });

  await t.test('replay: a proof is accepted once', async (t) => {
    const proof = await mintDpopProof(key, { htu: htuFor(f, '/payments'), accessToken: token, iat: now });
    expectForwarded(t, f, await call({ proof }));
    await proofRejected(t, await call({ proof }), 'dpop_proof_replay');
  });

  await t.test('the proof key is not the token key: invalid_token', async (t) => {
    expectForwarded(t, f, await call());
    const res = await call({
      proof: await mintDpopProof(other, { htu: htuFor(f, '/payments'), accessToken: token, iat: now }),
    });
    await expectRejection(t, f, res, {
      status: 401,
      error: 'invalid_token',
      reason: 'dpop_binding_mismatch',
      challenge: 'dpop',
    });
  });

  await t.test('binding and scheme must fit the token and the route', async (t) => {
    const mtlsToken = await f.token();
    await t.test('a DPoP-bound token sent as Bearer: invalid_token, Bearer challenge', async (t) => {
      const res = await call({ scheme: 'Bearer' });
      await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
    });
    await t.test('a certificate-bound token sent with DPoP: invalid_token, DPoP challenge', async (t) => {
      const res = await dpopCall(f, { key, token: mtlsToken, path: '/balances', now });
      await expectRejection(t, f, res, {
        status: 401,
        error: 'invalid_token',
        reason: 'binding_mismatch',
        challenge: 'dpop',
      });
    });
    await t.test('an unbound token sent with DPoP: invalid_token, DPoP challenge', async (t) => {
      const unbound = await f.token({ bindTo: null });
      const res = await dpopCall(f, { key, token: unbound, now });
      await expectRejection(t, f, res, {
        status: 401,
        error: 'invalid_token',
        reason: 'binding_missing',
        challenge: 'dpop',
      });
    });
    await t.test('a DPoP-bound token on an mtls route: invalid_token', async (t) => {
      const res = await call({ path: '/accounts' });
      await expectRejection(t, f, res, {
        status: 401,
        error: 'invalid_token',
        reason: 'binding_missing',
        challenge: 'dpop',
      });
    });
    await t.test('a certificate-bound token on a dpop route: invalid_token', async (t) => {
      const res = await f.request({ path: '/payments', token: mtlsToken });
      await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
    });
    await t.test('a certificate-bound token on an any route with its certificate: forwarded', async (t) => {
      expectForwarded(t, f, await f.request({ path: '/balances', token: mtlsToken }));
    });
    await t.test('a refused DPoP request with a malformed token carries the DPoP challenge', async (t) => {
      const res = await call({ token: 'not a token' });
      await expectRejection(t, f, res, {
        status: 400,
        error: 'invalid_request',
        reason: 'multiple_tokens',
        challenge: 'dpop',
      });
    });
  });

  await t.test('no credentials: the challenges of the schemes the route accepts, no error', async (t) => {
    const bare = (path: string) => f.request({ path });
    await expectRejection(t, f, await bare('/payments'), {
      status: 401,
      error: null,
      reason: 'token_missing',
      challenge: 'dpop',
    });
    await expectRejection(t, f, await bare('/balances'), {
      status: 401,
      error: null,
      reason: 'token_missing',
      challenge: 'both',
    });
    await expectRejection(t, f, await bare('/accounts'), {
      status: 401,
      error: null,
      reason: 'token_missing',
    });
  });

  await t.test('no DPoP-Nonce anywhere while nonces are not required', async (t) => {
    const res = await call();
    t.equal(res.status, 200);
    t.same(headerLines(res, 'dpop-nonce'), []);
    f.upstream.reset();
  });
});

t.test('nonces (RFC 9449 §8, §9): issue, accept, stale, rotation; every answer carries one', async (t) => {
  let now = Math.floor(Date.now() / 1000);
  const rotate = 2;
  const f = await startGatewayFixture(
    t,
    { routes: ROUTES, dpop: { nonce: { required: true, rotateSeconds: rotate } } },
    { clock: () => now },
  );
  const key = await createDpopKey('EdDSA');
  const token = await dpopToken(f, key);
  const call = (o: Partial<DpopCallOptions> = {}) => dpopCall(f, { key, token, now, ...o });
  const nonceOf = (res: { rawHeaders: string[] }) => {
    const lines = headerLines(res as Parameters<typeof headerLines>[0], 'dpop-nonce');
    return lines;
  };
  const useNonce = async (tt: Test, res: Parameters<typeof expectRejection>[2]) => {
    await expectRejection(tt, f, res, {
      status: 401,
      error: 'use_dpop_nonce',
      reason: 'dpop_nonce',
      challenge: 'dpop',
    });
    const lines = nonceOf(res);
    tt.equal(lines.length, 1, 'exactly one DPoP-Nonce');
    tt.match(lines[0], /^[\x21\x23-\x5b\x5d-\x7e]+$/, '1*NQCHAR');
    return lines[0]!;
  };

  let nonce = '';
  await t.test('a proof without a nonce: 401 use_dpop_nonce with the nonce to use', async (t) => {
    nonce = await useNonce(t, await call());
  });
  await t.test('the retry with it is forwarded; the answer carries the nonce and no-store', async (t) => {
    const res = await call({
      proofOptions: { nonce },
      headers: { 'x-echo-cache-control': 'public, max-age=3600', 'x-echo-dpop-nonce': 'from-upstream' },
    });
    t.equal(res.status, 200, res.body);
    t.same(nonceOf(res), [nonce], "one DPoP-Nonce, the gateway's, not the upstream's");
    t.same(headerLines(res, 'cache-control'), ['no-store'], "no-store replaces the upstream's caching");
    f.upstream.reset();
  });
  await t.test('a nonce not issued by the gateway: use_dpop_nonce', async (t) => {
    await useNonce(t, await call({ proofOptions: { nonce: 'made-up' } }));
  });
  await t.test('accepted for two to three periods, then stale', async (t) => {
    const issuedWindowStart = Math.floor(now / rotate) * rotate;
    now = issuedWindowStart + 3 * rotate - 1; // the last second of the second window after
    let res = await call({ proofOptions: { nonce } });
    t.equal(res.status, 200, 'still accepted');
    const rotated = nonceOf(res)[0];
    t.not(rotated, nonce, 'the answers already carry the current nonce');
    f.upstream.reset();
    now = issuedWindowStart + 3 * rotate; // three windows later: stale
    res = await call({ proofOptions: { nonce } });
    const fresh = await useNonce(t, res);
    t.not(fresh, nonce, 'a fresh nonce to retry with');
    res = await call({ proofOptions: { nonce: fresh } });
    t.equal(res.status, 200, 'the fresh nonce works');
    f.upstream.reset();
  });
  await t.test('every answer on a route accepting DPoP carries the nonce, refusals too', async (t) => {
    const res = await f.request({ path: '/balances' });
    await expectRejection(t, f, res, {
      status: 401,
      error: null,
      reason: 'token_missing',
      challenge: 'both',
    });
    t.equal(nonceOf(res).length, 1);
    const mtls = await f.request({ path: '/balances', token: await f.token() });
    t.equal(mtls.status, 200);
    t.equal(nonceOf(mtls).length, 1, 'also a Bearer call on an any route');
    t.same(headerLines(mtls, 'cache-control'), ['no-store']);
    f.upstream.reset();
  });
  await t.test('an mtls route carries no nonce', async (t) => {
    const res = await f.request({ path: '/accounts', token: await f.token() });
    t.equal(res.status, 200);
    t.same(nonceOf(res), []);
    f.upstream.reset();
  });
  await t.test('a valid nonce does not excuse another fault', async (t) => {
    const bare = await f.request({ path: '/payments' });
    await expectRejection(t, f, bare, {
      status: 401,
      error: null,
      reason: 'token_missing',
      challenge: 'dpop',
    });
    const current = nonceOf(bare)[0]!;
    const res = await call({ proofOptions: { nonce: current, htm: 'POST' } });
    await expectRejection(t, f, res, {
      status: 401,
      error: 'invalid_dpop_proof',
      reason: 'dpop_proof_method',
      challenge: 'dpop',
    });
    t.same(nonceOf(res), [current]);
  });
});

t.test('dpop.publicOrigins: htu names the public origin, not the Host the gateway sees', async (t) => {
  const f = await startGatewayFixture(t, {
    routes: ROUTES,
    dpop: { publicOrigins: ['https://api.bank.example'], algorithms: ['ES256'] },
  });
  const key = await createDpopKey('ES256');
  const token = await dpopToken(f, key);
  const res = await dpopCall(f, { key, token, proofOptions: { htu: 'https://API.bank.example/payments' } });
  t.equal(res.status, 200, res.body);
  f.upstream.reset();
  const viaHost = await dpopCall(f, { key, token });
  await expectRejection(t, f, viaHost, {
    status: 401,
    error: 'invalid_dpop_proof',
    reason: 'dpop_proof_uri',
    challenge: 'dpop',
    algs: 'ES256',
  });
});

t.test('configuration: the dpop block is checked', (t) => {
  const base = { tls: {}, upstream: {}, tokens: {}, routes: [] };
  const problems = (dpop: unknown) => {
    const r = gatewayConfigSchema.safeParse({ ...base, dpop });
    return r.success ? [] : r.error.issues.filter((i) => i.path[0] === 'dpop').map((i) => i.path.join('.'));
  };
  t.same(problems({ algorithms: ['HS256'] }), ['dpop.algorithms.0'], 'no MAC');
  t.same(problems({ algorithms: ['none'] }), ['dpop.algorithms.0'], 'no none');
  t.same(problems({ algorithms: [] }), ['dpop.algorithms'], 'at least one');
  t.same(problems({ publicOrigins: ['https://api.bank.example/v1'] }), ['dpop.publicOrigins.0'], 'no path');
  t.same(problems({ publicOrigins: ['http://api.bank.example'] }), ['dpop.publicOrigins.0'], 'https only');
  t.same(problems({ nonce: { required: true, rotateSeconds: 0 } }), ['dpop.nonce.rotateSeconds']);
  t.same(problems({ replayStore: { type: 'disk' } }), ['dpop.replayStore.type']);
  t.same(problems({ iatWindowSeconds: 60, nonce: { required: true, rotateSeconds: 2 } }), []);
  t.end();
});
