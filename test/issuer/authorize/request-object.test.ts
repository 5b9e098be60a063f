// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import { createLocalJWKSet } from 'jose';
import {
  verifyRequestObject,
  type RequestObjectPolicy,
} from '../../../src/issuer/authorize/request-object.js';
import { clientSigningKey, signedRequestObject, unsignedJwt } from '../../helpers/request-objects.js';

const issuer = 'https://as.example';
const clientId = 'acme-web';

t.test('request object verification (RFC 9101 + FAPI)', async (t) => {
  const key = await clientSigningKey('PS256');
  const other = await clientSigningKey('PS256');
  const es = await clientSigningKey('ES256');
  const now = Math.floor(Date.now() / 1000);
  const policy: RequestObjectPolicy = {
    issuer,
    clientId,
    algorithm: 'PS256',
    keys: createLocalJWKSet(key.jwks),
    now: new Date(now * 1000),
    clockSkewSeconds: 30,
  };
  const params = { response_type: 'code', scope: 'openid accounts', redirect_uri: 'https://c/cb' };
  const sign = (
    claims: Record<string, unknown> = {},
    extra: Partial<Parameters<typeof signedRequestObject>[0]> = {},
  ) =>
    signedRequestObject({ key, clientId, audience: issuer, claims: { ...params, ...claims }, now, ...extra });

  const ok = await verifyRequestObject(await sign(), policy);
  t.ok(ok.ok);
  if (ok.ok) {
    t.equal(ok.value['response_type'], 'code');
    t.equal(ok.value['client_id'], clientId);
    t.notOk('exp' in ok.value, 'JWT envelope claims are not parameters');
  }

  const refused = async (jwt: string, pattern: RegExp, p: RequestObjectPolicy = policy) => {
    const r = await verifyRequestObject(jwt, p);
    t.equal(r.ok, false);
    if (!r.ok) {
      t.equal(r.refusal.error, 'invalid_request_object');
      t.match(r.refusal.description, pattern);
    }
  };
  await refused(unsignedJwt({ ...params, iss: clientId, aud: issuer, exp: now + 60, nbf: now }), /alg none/);
  await refused(await sign({}, { key: other }), /signature|no registered key/);
  await refused(await sign({}, { key: es }), /must be signed with PS256/);
  await refused(await sign({ aud: 'https://elsewhere.example' }), /aud must be the issuer/);
  await refused(await sign({ iss: 'someone-else' }), /iss must be the client_id/);
  await refused(await sign({ exp: undefined }), /must contain exp/);
  await refused(await sign({ nbf: undefined }), /must contain nbf/);
  await refused(await sign({ exp: now - 120, nbf: now - 300 }), /expired/);
  await refused(await sign({ nbf: now + 600 }), /not yet valid/);
  await refused(await sign({ nbf: now - 3700, exp: now + 60 }), /nbf is more than 60 minutes in the past/);
  await refused(await sign({}, { lifetimeSeconds: 3601 }), /exceeds 60 minutes/);
  await refused(await sign({ request_uri: 'urn:x' }), /must not contain request_uri/);
  await refused(await sign({ client_id: 'other' }), /client_id does not match/);
  await refused(await sign({}, { header: { typ: 'at+jwt' } }), /typ/);
  await refused('not-a-jwt', /not a valid signed JWT/);
  await refused('a.b.c.d.e', /encrypted/);

  t.ok(
    (await verifyRequestObject(await sign({}, { lifetimeSeconds: 3600 }), policy)).ok,
    '60 minutes is allowed',
  );
  t.ok(
    (await verifyRequestObject(await sign({}, { header: { typ: 'JWT' } }), policy)).ok,
    'typ JWT is accepted',
  );
  // nbf 59 minutes ago with a short lifetime since then: still acceptable
  t.ok((await verifyRequestObject(await sign({ nbf: now - 3540, exp: now + 60 }), policy)).ok);
});
