import t from 'tap';
import { createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import { createSigningKey, defaultClaims, mintAccessToken, unsignedJwt } from '../helpers/tokens.js';

t.test('access-token validation refuses every forged or invalid token with 401 invalid_token', async (t) => {
  const f = await startGatewayFixture(t);
  const now = Math.floor(Date.now() / 1000);
  const thumbprint = f.pki.clientA.thumbprint;
  const presented: string[] = [];
  const send = async (token: string) => {
    presented.push(token);
    return f.request({ token });
  };
  const invalid = (reason: string) => ({ status: 401, error: 'invalid_token', reason });

  await t.test('expired', async (t) => {
    const res = await send(await f.token({ claims: { exp: now - 60, iat: now - 600 } }));
    await expectRejection(t, f, res, invalid('token_expired'));
  });
  await t.test('nbf in the future (beyond the skew)', async (t) => {
    const res = await send(await f.token({ claims: { nbf: now + 120 } }));
    await expectRejection(t, f, res, invalid('token_not_yet_valid'));
  });
  await t.test('iat in the future (beyond the skew)', async (t) => {
    const res = await send(await f.token({ claims: { iat: now + 120 } }));
    await expectRejection(t, f, res, invalid('token_not_yet_valid'));
  });
  await t.test('nbf within the skew is accepted', async (t) => {
    const res = await send(await f.token({ claims: { nbf: now + 2 } }));
    t.equal(res.status, 200);
    f.upstream.reset();
  });
  await t.test('wrong issuer', async (t) => {
    const res = await send(await f.token({ issuer: 'https://issuer.test/other' }));
    await expectRejection(t, f, res, invalid('token_issuer'));
  });
  await t.test('wrong audience', async (t) => {
    const res = await send(await f.token({ audience: ['https://elsewhere.test'] }));
    await expectRejection(t, f, res, invalid('token_audience'));
  });
  await t.test('missing exp', async (t) => {
    const res = await send(await f.token({ claims: { exp: undefined } }));
    await expectRejection(t, f, res, invalid('token_claims'));
  });
  await t.test('missing client_id', async (t) => {
    const res = await send(await f.token({ claims: { client_id: undefined } }));
    await expectRejection(t, f, res, invalid('token_claims'));
  });
  await t.test('bad signature (payload altered after signing)', async (t) => {
    const token = await f.token();
    const [h, , s] = token.split('.');
    const forged = Buffer.from(
      JSON.stringify({ ...defaultClaims({ thumbprint }), scope: 'accounts admin' }),
    ).toString('base64url');
    const res = await send(`${h}.${forged}.${s}`);
    await expectRejection(t, f, res, invalid('token_signature'));
  });
  await t.test('signed by a key that is not in the JWKS, with the JWKS kid', async (t) => {
    const rogue = await createSigningKey('PS256', f.key.kid);
    const res = await send(await mintAccessToken(rogue, { thumbprint }));
    await expectRejection(t, f, res, invalid('token_signature'));
  });
  await t.test('alg none', async (t) => {
    const token = unsignedJwt({ alg: 'none', typ: 'at+jwt', kid: f.key.kid }, defaultClaims({ thumbprint }));
    const res = await send(token);
    await expectRejection(t, f, res, invalid('token_algorithm'));
  });
  await t.test('HS256 signed with the issuer public key as the HMAC secret', async (t) => {
    const header = { alg: 'HS256', typ: 'at+jwt', kid: f.key.kid };
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${enc(header)}.${enc(defaultClaims({ thumbprint }))}`;
    const secret = JSON.stringify(f.key.publicJwk);
    const sig = createHmac('sha256', secret).update(input).digest('base64url');
    const res = await send(`${input}.${sig}`);
    await expectRejection(t, f, res, invalid('token_algorithm'));
  });
  await t.test('typ JWT instead of at+jwt', async (t) => {
    const res = await send(await f.token({ header: { typ: 'JWT' } }));
    await expectRejection(t, f, res, invalid('token_type'));
  });
  await t.test('typ missing', async (t) => {
    const res = await send(await f.token({ header: { typ: undefined } }));
    await expectRejection(t, f, res, invalid('token_type'));
  });
  await t.test('application/at+jwt is accepted as at+jwt', async (t) => {
    const res = await send(await f.token({ header: { typ: 'application/at+jwt' } }));
    t.equal(res.status, 200);
    f.upstream.reset();
  });
  await t.test('key supplied in an embedded jwk header is never used', async (t) => {
    const attacker = await createSigningKey('PS256', 'attacker');
    const token = await new SignJWT(defaultClaims({ thumbprint }))
      .setProtectedHeader({ alg: 'PS256', typ: 'at+jwt', jwk: attacker.publicJwk })
      .sign(attacker.privateKey);
    const res = await send(token);
    await expectRejection(t, f, res, invalid('token_signature'));
  });
  await t.test('key announced by jku / x5u headers is never fetched', async (t) => {
    const attacker = await createSigningKey('PS256', 'attacker-kid');
    const token = await mintAccessToken(attacker, {
      thumbprint,
      header: { jku: 'https://127.0.0.1:1/jwks', x5u: 'https://127.0.0.1:1/cert' },
    });
    const fetchesBefore = f.jwks.fetches;
    const res = await send(token);
    await expectRejection(t, f, res, invalid('token_key_unknown'));
    t.ok(
      f.jwks.fetches - fetchesBefore <= 1,
      'at most the one cooldown-bounded refetch from the configured JWKS',
    );
  });
  await t.test('not a JWT', async (t) => {
    const res = await send('abc.def');
    await expectRejection(t, f, res, invalid('token_malformed'));
  });
  await t.test('a JWE (five parts) is not an access token here', async (t) => {
    const res = await send('a.b.c.d.e');
    await expectRejection(t, f, res, invalid('token_malformed'));
  });

  t.test('no token, certificate or key material ever appears in the logs', (t) => {
    const logs = f.logText();
    for (const tok of presented) t.notOk(logs.includes(tok), 'token not logged');
    t.notOk(logs.includes(f.pki.clientA.der.toString('base64').slice(0, 60)), 'certificate not logged');
    const lines = f.logs.filter((l) => l.msg === 'request');
    t.ok(lines.length >= presented.length, 'one log line per request');
    const line = lines.find((l) => l.reason === 'token_signature')!;
    t.equal(line.status, 401);
    t.equal(line.outcome, 'rejected');
    t.equal(line.thumbprint, thumbprint);
    t.equal(line.route, '/accounts');
    t.type(line.interactionId, 'string');
    t.type(line.latencyMs, 'number');
    t.end();
  });
});

t.test('claims the gateway forwards as headers must be printable ASCII: refused, never a 502', async (t) => {
  const f = await startGatewayFixture(t);
  for (const [claim, value] of [
    ['sub', 'Jürgen Ñandú'],
    ['sub', '用户-42'],
    ['sub', 'alice\r\nX-Authenticated-Subject: admin'],
    ['sub', 'alice\u0000'],
    ['client_id', 'client\tA'],
    ['scope', 'accounts\u2028admin'],
  ] as const) {
    // Escaped: a raw U+2028 in a test name would break the TAP stream.
    const shown = JSON.stringify(value).replace(
      /[^\x20-\x7e]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
    await t.test(`${claim} ${shown}`, async (t) => {
      const res = await f.request({
        token: await f.token({ claims: { [claim]: value, scope: claim === 'scope' ? value : 'accounts' } }),
      });
      await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'token_claims' });
      t.match(res.json().error_description, new RegExp(`"${claim}".*printable ASCII`));
      t.equal(
        await f.metric('fapi_gateway_upstream_errors_total', { kind: 'other' }),
        0,
        'not blamed on the upstream',
      );
    });
  }
  // A header value's surrounding spaces are dropped by every HTTP parser: " admin" would reach the back end
  // as "admin", another identity.
  for (const [claim, value] of [
    ['sub', ' admin'],
    ['sub', 'admin '],
    ['sub', ' '],
    ['client_id', ' client-b'],
  ] as const) {
    await t.test(`${claim} ${JSON.stringify(value)} (surrounding spaces)`, async (t) => {
      const hits = f.upstream.hits;
      const res = await f.request({ token: await f.token({ claims: { [claim]: value } }) });
      await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'token_claims' });
      t.match(res.json().error_description, new RegExp(`"${claim}" starts or ends with a space`));
      t.equal(f.upstream.hits, hits, 'not forwarded');
    });
  }
  await t.test('positive control: printable ASCII with spaces and punctuation passes', async (t) => {
    const res = await f.request({ token: await f.token({ claims: { sub: 'urn:bank:customer/42 (test)' } }) });
    t.equal(res.status, 200);
    t.equal(f.upstream.last()!.headers['x-authenticated-subject'], 'urn:bank:customer/42 (test)');
  });
});
