/**
 * The backchannel authentication endpoint's refusals over HTTP (CIBA Core §13), the CIBA grant's
 * refusals at the token endpoint (§11), discovery, and start-up refusals of bad CIBA registrations.
 * Every refusal is checked for its status, error code and no-store, and for creating nothing.
 */
import t, { type Test } from 'tap';
import { issuerConfigSchema } from '../../../src/issuer/config.js';
import { startIssuer } from '../../../src/issuer/server.js';
import {
  ALICE,
  BOB,
  CIBA_GRANT,
  notificationToken,
  startCibaIssuer,
  type CibaIssuer,
} from '../../helpers/ciba.js';
import { outcome } from '../../helpers/issuer.js';
import { clientSigningKey, unsignedJwt } from '../../helpers/request-objects.js';

let ci: CibaIssuer;
t.before(async () => {
  ci = await startCibaIssuer({
    clients: [
      {
        clientId: 'coded',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Acme,CN=client-a',
        scopes: ['openid'],
        grantTypes: [CIBA_GRANT],
        backchannelTokenDeliveryMode: 'poll',
        cibaProfile: 'ciba-core',
        backchannelUserCodeParameter: true,
      },
    ],
    config: {
      users: [
        { ...ALICE, claims: {} },
        { ...BOB, claims: {}, userCode: '4711-2024' },
      ],
    },
  });
});
t.teardown(() => ci?.close());

const base = { scope: 'openid accounts', login_hint: ALICE.username, binding_message: 'NEG-1' };

async function refused(
  t: Test,
  r: Promise<{ status: number; json: Record<string, unknown>; headers: Record<string, unknown> }>,
  status: number,
  error: string,
  description?: RegExp,
) {
  const res = await r;
  t.equal(res.status, status, `${error}: ${String(res.json.error_description)}`);
  t.equal(res.json.error, error);
  if (description) t.match(res.json.error_description, description);
  t.equal(res.headers['cache-control'], 'no-store');
  t.notOk(res.json.auth_req_id, 'no auth_req_id');
}

t.test(
  'discovery advertises the endpoint (and its mTLS alias), modes, algorithms and user_code',
  async (t) => {
    const d = (await ci.get('/.well-known/openid-configuration')).json;
    t.equal(d.backchannel_authentication_endpoint, `${ci.issuer.url}/backchannel-authentication`);
    t.match(d.mtls_endpoint_aliases, {
      backchannel_authentication_endpoint: `${ci.issuer.mtlsUrl}/backchannel-authentication`,
    });
    t.same(d.backchannel_token_delivery_modes_supported, ['poll', 'ping', 'push']);
    t.same(d.backchannel_authentication_request_signing_alg_values_supported, ['PS256', 'ES256']);
    t.equal(d.backchannel_user_code_parameter_supported, true);
    t.ok((d.grant_types_supported as string[]).includes(CIBA_GRANT));
  },
);

t.test(
  'signed request rules (FAPI-CIBA): unsigned, alg none, wrong key, expired, too long, replayed',
  async (t) => {
    await refused(
      t,
      ci.backchannel('ciba-poll', base),
      400,
      'invalid_request',
      /signed authentication request/,
    );
    await refused(
      t,
      ci.backchannel('ciba-poll', {
        request: unsignedJwt({ ...base, iss: 'ciba-poll', aud: ci.issuer.url }),
      }),
      400,
      'invalid_request',
      /alg "none"/,
    );
    const stranger = await clientSigningKey('PS256', 'ciba-poll-1');
    await refused(
      t,
      ci.backchannel('ciba-poll', { request: await ci.requestObject(base, { key: stranger }) }),
      400,
      'invalid_request',
      /signature/,
    );
    const now = Math.floor(Date.now() / 1000);
    await refused(
      t,
      ci.backchannel('ciba-poll', {
        request: await ci.requestObject(base, { now: now - 400, lifetimeSeconds: 300 }),
      }),
      400,
      'invalid_request',
      /expired/,
    );
    await refused(
      t,
      ci.backchannel('ciba-poll', { request: await ci.requestObject(base, { lifetimeSeconds: 3601 }) }),
      400,
      'invalid_request',
      /60 minutes/,
    );
    await refused(
      t,
      ci.backchannel('ciba-poll', {
        request: await ci.requestObject({ ...base, aud: 'https://elsewhere.example' }),
      }),
      400,
      'invalid_request',
      /aud/,
    );
    await refused(
      t,
      ci.backchannel('ciba-poll', { request: await ci.requestObject(base), login_hint: BOB.username }),
      400,
      'invalid_request',
      /inside the request object only/,
    );
    const once = await ci.requestObject(base);
    const first = await ci.backchannel('ciba-poll', { request: once });
    t.equal(first.status, 200, outcome(first));
    await refused(
      t,
      ci.backchannel('ciba-poll', { request: once }),
      400,
      'invalid_request',
      /jti has already been used/,
    );
  },
);

t.test(
  'parameters: two hints, no hint, unknown user, scope, binding message, notification token',
  async (t) => {
    const signed = async (claims: Record<string, unknown>) =>
      ci.backchannel('ciba-poll', { request: await ci.requestObject({ ...base, ...claims }) });
    await refused(t, signed({ id_token_hint: 'a.b.c' }), 400, 'invalid_request', /exactly one hint/);
    await refused(t, signed({ login_hint: undefined }), 400, 'invalid_request', /exactly one of/);
    await refused(t, signed({ login_hint: 'mallory' }), 400, 'unknown_user_id');
    await refused(t, signed({ scope: 'openid payments' }), 400, 'invalid_scope');
    await refused(t, signed({ scope: 'accounts' }), 400, 'invalid_request', /openid/);
    await refused(t, signed({ binding_message: undefined }), 400, 'invalid_binding_message', /required/);
    await refused(t, signed({ binding_message: 'x'.repeat(65) }), 400, 'invalid_binding_message');
    await refused(t, signed({ requested_expiry: -5 }), 400, 'invalid_request', /requested_expiry/);
    await refused(
      t,
      ci.backchannel('ciba-push', {
        scope: 'openid',
        login_hint: ALICE.username,
        client_notification_token: 'too-short',
      }),
      400,
      'invalid_request',
      /128 bits/,
    );
    await refused(
      t,
      ci.backchannel('ciba-push', { scope: 'openid', login_hint: ALICE.username }),
      400,
      'invalid_request',
      /client_notification_token is required/,
    );
  },
);

t.test('user_code: missing and wrong codes are refused for a user who has one', async (t) => {
  const form = { scope: 'openid', login_hint: BOB.username };
  const asCoded = (extra: Record<string, string> = {}) =>
    ci.postForm(
      '/backchannel-authentication',
      { client_id: 'coded', ...form, ...extra },
      { credential: ci.pki.clientA },
    );
  await refused(t, asCoded(), 400, 'missing_user_code');
  await refused(t, asCoded({ user_code: '0000' }), 400, 'invalid_user_code');
  const ok = await asCoded({ user_code: '4711-2024' });
  t.equal(ok.status, 200, outcome(ok));
});

t.test(
  'client authentication: unknown or unauthenticated client, client not registered for CIBA',
  async (t) => {
    await refused(
      t,
      ci.postForm(
        '/backchannel-authentication',
        { client_id: 'ciba-poll', ...base },
        { credential: ci.pki.clientB },
      ),
      401,
      'invalid_client',
    );
    await refused(
      t,
      ci.postForm('/backchannel-authentication', { client_id: 'nobody', ...base }),
      401,
      'invalid_client',
    );
    await refused(
      t,
      ci.postForm(
        '/backchannel-authentication',
        { client_id: 'tls-a', ...base },
        { credential: ci.pki.clientA },
      ),
      400,
      'unauthorized_client',
    );
  },
);

t.test("token endpoint: unknown, other client's and reused auth_req_id are invalid_grant", async (t) => {
  const started = await ci.backchannel('ciba-poll', { request: await ci.requestObject(base) });
  t.equal(started.status, 200, outcome(started));
  const id = started.json.auth_req_id as string;
  await refused(t, ci.poll('ciba-poll', 'no-such-request'), 400, 'invalid_grant');
  await refused(t, ci.poll('ciba-ping', id, ci.pki.clientA), 400, 'invalid_grant', /unknown auth_req_id/);
  const missing = await ci.postForm(
    '/token',
    { grant_type: CIBA_GRANT, client_id: 'ciba-poll' },
    { credential: ci.pki.clientA },
  );
  t.equal(missing.json.error, 'invalid_request');
  await refused(
    t,
    ci.postForm(
      '/token',
      { grant_type: CIBA_GRANT, auth_req_id: id, client_id: 'tls-a' },
      { credential: ci.pki.clientA },
    ),
    400,
    'unauthorized_client',
  );
  t.equal(
    (await ci.poll('ciba-poll', id)).json.error,
    'authorization_pending',
    'the request itself is untouched',
  );
});

t.test(
  'start-up refuses push for FAPI-CIBA clients and FAPI-CIBA clients without request keys',
  async (t) => {
    const raw = {
      issuer: 'https://localhost:0',
      tls: { cert: ci.pki.server.certFile, key: ci.pki.server.keyFile, clientCa: ci.pki.ca.certFile },
      signingKeys: [{ file: ci.pki.server.keyFile, alg: 'PS256', kid: 'k' }],
      accessTokens: { audience: 'https://api.example' },
      logging: { level: 'silent' },
    };
    const client = {
      clientId: 'c',
      authMethod: 'tls_client_auth',
      tlsClientAuthSubjectDn: 'CN=c',
      scopes: ['openid'],
      grantTypes: [CIBA_GRANT],
      backchannelClientNotificationEndpoint: 'https://client.example/notify',
    };
    const push = issuerConfigSchema.safeParse({
      ...raw,
      clients: [{ ...client, backchannelTokenDeliveryMode: 'push' }],
    });
    t.notOk(push.success);
    t.match(JSON.stringify(push.error?.issues), /push mode is not allowed under the FAPI-CIBA profile/);
    const noKeys = issuerConfigSchema.parse({
      ...raw,
      clients: [{ ...client, backchannelTokenDeliveryMode: 'poll' }],
    });
    await t.rejects(startIssuer(noKeys), /clients\[0\]\.jwks: this CIBA client must sign/);
    const noOpenid = issuerConfigSchema.safeParse({
      ...raw,
      clients: [{ ...client, scopes: ['accounts'], backchannelTokenDeliveryMode: 'poll' }],
    });
    t.match(JSON.stringify(noOpenid.error?.issues), /list openid in scopes/);
    t.ok(notificationToken().length >= 22);
  },
);
