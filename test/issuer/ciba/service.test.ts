import t, { type Test } from 'tap';
import https from 'node:https';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { testPki } from '../../helpers/pki.js';
import { clientSchema, type ClientConfig } from '../../../src/issuer/config.js';
import { createCibaMetrics } from '../../../src/issuer/ciba/metrics.js';
import { NotificationSender } from '../../../src/issuer/ciba/notification.js';
import type { TokenResponse } from '../../../src/issuer/grants/grant.js';
import { CibaService, type CibaGrant } from '../../../src/issuer/ciba/service.js';
import type { CibaUser } from '../../../src/issuer/ciba/hints.js';
import { memoryCibaStore } from '../../helpers/ciba-store.js';
import { deviceHandle } from '../../../src/issuer/ciba/device-page.js';

const issuer = 'https://issuer.test';
const notificationToken = () => randomBytes(24).toString('base64url');

async function clientKeys() {
  const { publicKey, privateKey } = await generateKeyPair('PS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'PS256', use: 'sig' };
  return { privateKey, jwks: { keys: [jwk] } };
}

async function notificationEndpoint(t: Test, status = 204) {
  const pki = await testPki();
  const received: { authorization?: string; body: Record<string, unknown> }[] = [];
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      received.push({
        authorization: req.headers.authorization,
        body: JSON.parse(body) as Record<string, unknown>,
      });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  return { pki, received, url: `https://localhost:${(server.address() as AddressInfo).port}/notify` };
}

async function setup(t: Test, opts: { url?: string; ca?: string } = {}) {
  let now = 1_800_000_000;
  const fapiKeys = await clientKeys();
  const otherKeys = await clientKeys();
  const url = opts.url ?? 'https://localhost:9/notify';
  const clients: ClientConfig[] = [
    clientSchema.parse({
      clientId: 'acme-poll',
      clientName: 'Acme Call Centre',
      authMethod: 'private_key_jwt',
      jwks: fapiKeys.jwks,
      scopes: ['openid', 'accounts'],
      grantTypes: ['urn:openid:params:grant-type:ciba'],
      backchannelTokenDeliveryMode: 'poll',
      backchannelAuthenticationRequestSigningAlg: 'PS256',
    }),
    clientSchema.parse({
      clientId: 'acme-ping',
      authMethod: 'private_key_jwt',
      jwks: otherKeys.jwks,
      scopes: ['openid', 'accounts'],
      grantTypes: ['urn:openid:params:grant-type:ciba'],
      backchannelTokenDeliveryMode: 'ping',
      backchannelClientNotificationEndpoint: url,
      cibaProfile: 'ciba-core',
    }),
    clientSchema.parse({
      clientId: 'acme-push',
      authMethod: 'private_key_jwt',
      jwks: otherKeys.jwks,
      scopes: ['openid', 'accounts'],
      grantTypes: ['urn:openid:params:grant-type:ciba'],
      backchannelTokenDeliveryMode: 'push',
      backchannelClientNotificationEndpoint: url,
      cibaProfile: 'ciba-core',
    }),
  ];
  const users: CibaUser[] = [
    { sub: 'alice', username: 'alice', claims: { email: 'alice@example.com' } },
    { sub: 'bob', username: 'bob', claims: {}, userCode: '4711' },
  ];
  const registry = new Registry();
  const metrics = createCibaMetrics(registry);
  const issued: CibaGrant[] = [];
  const revoked: string[] = [];
  const sender = new NotificationSender({ baseDelayMs: 10, ...(opts.ca !== undefined && { ca: opts.ca }) });
  const service = new CibaService({
    issuer,
    expiresInSeconds: 120,
    intervalSeconds: 5,
    clockSkewSeconds: 30,
    signingAlgorithms: ['PS256', 'ES256'],
    store: memoryCibaStore(t, () => now),
    sender,
    tokens: {
      issue: (grant) => {
        issued.push(grant);
        const response: TokenResponse = {
          access_token: `at-${issued.length}`,
          token_type: 'Bearer',
          expires_in: 600,
          scope: grant.scopes.join(' '),
          refresh_token: `rt-${issued.length}`,
          id_token: 'id.token.jwt',
        };
        return Promise.resolve({ response, grantId: `grant-${issued.length}` });
      },
      revokeGrant: (grantId) => {
        revoked.push(grantId);
        return Promise.resolve();
      },
    },
    users: {
      byUsername: (u) => Promise.resolve(users.find((x) => x.username === u)),
      bySubject: (u) => Promise.resolve(users.find((x) => x.sub === u)),
      byEmail: (e) => Promise.resolve(users.find((x) => x.claims.email === e)),
    },
    clients: (id) => Promise.resolve(clients.find((c) => c.clientId === id)),
    issuerKeys: createLocalJWKSet({ keys: [] }),
    metrics,
    logger: pino({ level: 'silent' }),
    now: () => now,
  });
  t.teardown(() => service.close());
  const client = (id: string) => {
    const config = clients.find((c) => c.clientId === id)!;
    return { config, keys: createLocalJWKSet(config.jwks as { keys: [] }) };
  };
  const sign = (claims: Record<string, unknown>, key: CryptoKey = fapiKeys.privateKey) =>
    new SignJWT({
      aud: issuer,
      iss: 'acme-poll',
      exp: now + 300,
      iat: now,
      nbf: now,
      jti: randomBytes(8).toString('hex'),
      ...claims,
    })
      .setProtectedHeader({ alg: 'PS256', kid: 'k1' })
      .sign(key);
  return {
    service,
    client,
    sign,
    issued,
    revoked,
    registry,
    otherKeys,
    advance: (s: number) => (now += s),
  };
}

const counter = async (registry: Registry, name: string) =>
  (await registry.getSingleMetric(name)!.get()).values.map((v) => ({ labels: v.labels, value: v.value }));

t.test('poll mode: pending, slow_down, approve on the device, tokens once, then invalid_grant', async (t) => {
  const s = await setup(t);
  const request = await s.sign({ scope: 'openid accounts', login_hint: 'alice', binding_message: 'W4-XK' });
  const started = await s.service.startAuthentication(s.client('acme-poll'), { request }, 'thumb-A');
  t.match(started, { ok: true, value: { expires_in: 120, interval: 5 } });
  if (!started.ok) return;
  const id = started.value.auth_req_id;
  t.ok(Buffer.from(id, 'base64url').length >= 16, 'auth_req_id carries >= 128 bits');
  const poll = (thumb = 'thumb-A') => s.service.redeem(s.client('acme-poll').config, id, thumb);
  t.match(await poll(), { ok: false, error: { status: 400, error: 'authorization_pending' } });
  s.advance(2);
  t.match(await poll(), { ok: false, error: { error: 'slow_down', description: /10 s/ } });
  const pending = await s.service.pendingFor('alice');
  t.match(pending, [
    { clientName: 'Acme Call Centre', bindingMessage: 'W4-XK', scopes: ['openid', 'accounts'] },
  ]);
  t.same(await s.service.pendingFor('bob'), [], 'another user sees nothing');
  t.equal(await s.service.decide('bob', pending[0]!.handle, 'approve', 0), 'unavailable');
  t.equal(await s.service.decide('alice', pending[0]!.handle, 'approve', 1_800_000_001), 'approved');
  t.equal(await s.service.decide('alice', pending[0]!.handle, 'deny', 0), 'unavailable', 'decided once');
  s.advance(1);
  t.match(await poll('thumb-B'), { ok: true, value: { access_token: 'at-1' } });
  t.match(s.issued, [
    { certificateThumbprint: 'thumb-B', authReqId: id, authTime: 1_800_000_001, mode: 'poll' },
  ]);
  t.match(await poll(), { ok: false, error: { error: 'invalid_grant', description: /already been used/ } });
  t.equal(s.issued.length, 1);
  t.match(await s.service.redeem(s.client('acme-ping').config, id, undefined), {
    ok: false,
    error: { error: 'invalid_grant', description: 'unknown auth_req_id' },
  });
  t.match(await counter(s.registry, 'fapi_issuer_ciba_token_requests_total'), [
    { labels: { outcome: 'authorization_pending' }, value: 1 },
    { labels: { outcome: 'slow_down' }, value: 1 },
    { labels: { outcome: 'issued' }, value: 1 },
    { labels: { outcome: 'invalid_grant' }, value: 2 },
  ]);
});

t.test('poll mode: deny gives access_denied, silence gives expired_token', async (t) => {
  const s = await setup(t);
  const start = async () => {
    const r = await s.service.startAuthentication(
      s.client('acme-poll'),
      { request: await s.sign({ scope: 'openid', login_hint: 'alice', binding_message: 'x' }) },
      undefined,
    );
    if (!r.ok) throw new Error(r.error.description);
    return r.value.auth_req_id;
  };
  const denied = await start();
  t.equal(await s.service.decide('alice', deviceHandle(denied), 'deny', 0), 'denied');
  t.match(await s.service.redeem(s.client('acme-poll').config, denied, undefined), {
    ok: false,
    error: { error: 'access_denied' },
  });
  const silent = await start();
  s.advance(121);
  t.match(await s.service.redeem(s.client('acme-poll').config, silent, undefined), {
    ok: false,
    error: { error: 'expired_token' },
  });
  t.equal(await s.service.decide('alice', deviceHandle(silent), 'approve', 0), 'expired');
  t.equal(s.issued.length, 0);
});

t.test('refused authentication requests (CIBA §13) create nothing', async (t) => {
  const s = await setup(t);
  const poll = s.client('acme-poll');
  const base = { scope: 'openid accounts', login_hint: 'alice', binding_message: 'W4-XK' };
  const refused = async (form: Record<string, string>, error: string, description: RegExp, c = poll) =>
    t.match(await s.service.startAuthentication(c, form, undefined), {
      ok: false,
      error: { error, description },
    });
  await refused(base, 'invalid_request', /signed authentication request/);
  await refused({ request: await s.sign(base, s.otherKeys.privateKey) }, 'invalid_request', /signature/);
  await refused(
    { request: await s.sign({ ...base, exp: 1_800_000_000 - 60 }) },
    'invalid_request',
    /expired/,
  );
  await refused(
    { request: await s.sign({ ...base, id_token_hint: 'x.y.z' }) },
    'invalid_request',
    /exactly one hint/,
  );
  await refused({ request: await s.sign({ ...base, login_hint: 'mallory' }) }, 'unknown_user_id', /user/);
  await refused(
    { request: await s.sign({ ...base, binding_message: undefined }) },
    'invalid_binding_message',
    /required/,
  );
  await refused(
    { request: await s.sign({ ...base, scope: 'openid payments' }) },
    'invalid_scope',
    /payments/,
  );
  const unsignedAlg = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(base)).toString('base64url')}.`;
  await refused({ request: unsignedAlg }, 'invalid_request', /alg "none"/);
  const once = await s.sign({ ...base, jti: 'same-jti' });
  t.match(await s.service.startAuthentication(poll, { request: once }, undefined), { ok: true });
  await refused({ request: once }, 'invalid_request', /jti has already been used/);
  await refused(
    { scope: 'openid', login_hint: 'alice', client_notification_token: 'short' },
    'invalid_request',
    /128 bits/,
    s.client('acme-ping'),
  );
  t.equal((await s.service.pendingFor('alice')).length, 1, 'only the one accepted request exists');
  const byMode = await counter(s.registry, 'fapi_issuer_ciba_authentication_requests_total');
  t.match(
    byMode.find((v) => v.labels.outcome === 'unknown_user_id'),
    { value: 1 },
  );
});

t.test('user_code: required and checked in constant time when the client enables it', async (t) => {
  const s = await setup(t);
  const c = s.client('acme-ping');
  const withCode = { ...c, config: { ...c.config, backchannelUserCodeParameter: true } };
  const form = { scope: 'openid', login_hint: 'bob', client_notification_token: notificationToken() };
  t.match(await s.service.startAuthentication(withCode, form, undefined), {
    ok: false,
    error: { error: 'missing_user_code' },
  });
  t.match(await s.service.startAuthentication(withCode, { ...form, user_code: '0000' }, undefined), {
    ok: false,
    error: { error: 'invalid_user_code' },
  });
  t.match(await s.service.startAuthentication(withCode, { ...form, user_code: '4711' }, undefined), {
    ok: true,
  });
});

t.test(
  'ping mode: the decision is announced with the client_notification_token, then tokens are polled',
  async (t) => {
    const ep = await notificationEndpoint(t);
    const s = await setup(t, { url: ep.url, ca: ep.pki.ca.certPem });
    const bearer = notificationToken();
    const r = await s.service.startAuthentication(
      s.client('acme-ping'),
      { scope: 'openid', login_hint: 'alice', client_notification_token: bearer },
      undefined,
    );
    if (!r.ok) return t.fail('start');
    t.equal(await s.service.decide('alice', deviceHandle(r.value.auth_req_id), 'approve', 0), 'approved');
    await s.service.settled();
    t.same(ep.received, [{ authorization: `Bearer ${bearer}`, body: { auth_req_id: r.value.auth_req_id } }]);
    t.match(await s.service.redeem(s.client('acme-ping').config, r.value.auth_req_id, undefined), {
      ok: true,
    });
  },
);

t.test('push mode: the token response is delivered, bound to the backchannel certificate', async (t) => {
  const ep = await notificationEndpoint(t);
  const s = await setup(t, { url: ep.url, ca: ep.pki.ca.certPem });
  const bearer = notificationToken();
  const r = await s.service.startAuthentication(
    s.client('acme-push'),
    { scope: 'openid accounts', login_hint: 'alice', client_notification_token: bearer },
    'thumb-backchannel',
  );
  t.match(r, { ok: true, value: { expires_in: 120 } });
  if (!r.ok) return;
  t.notOk('interval' in r.value, 'push clients never poll');
  t.match(await s.service.redeem(s.client('acme-push').config, r.value.auth_req_id, 'x'), {
    ok: false,
    error: { error: 'unauthorized_client' },
  });
  await s.service.decide('alice', deviceHandle(r.value.auth_req_id), 'approve', 0);
  await s.service.settled();
  t.same(ep.received, [
    {
      authorization: `Bearer ${bearer}`,
      body: {
        auth_req_id: r.value.auth_req_id,
        access_token: 'at-1',
        token_type: 'Bearer',
        expires_in: 600,
        scope: 'openid accounts',
        refresh_token: 'rt-1',
        id_token: 'id.token.jwt',
      },
    },
  ]);
  t.match(s.issued, [{ certificateThumbprint: 'thumb-backchannel', mode: 'push' }]);
});

t.test('push mode: a denial is pushed as an error payload (CIBA §12)', async (t) => {
  const ep = await notificationEndpoint(t);
  const s = await setup(t, { url: ep.url, ca: ep.pki.ca.certPem });
  const r = await s.service.startAuthentication(
    s.client('acme-push'),
    { scope: 'openid', login_hint: 'alice', client_notification_token: notificationToken() },
    undefined,
  );
  if (!r.ok) return t.fail('start');
  await s.service.decide('alice', deviceHandle(r.value.auth_req_id), 'deny', 0);
  await s.service.settled();
  t.match(ep.received, [{ body: { auth_req_id: r.value.auth_req_id, error: 'access_denied' } }]);
  t.equal(s.issued.length, 0);
});

t.test(
  'push mode: an endpoint that is down is retried until expiry, counted, and the tokens revoked',
  async (t) => {
    const pki = await testPki();
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const s = await setup(t, { url: `https://127.0.0.1:${port}/down`, ca: pki.ca.certPem });
    // The sender retries on wall-clock time: put the service clock there too, so expiry is 2 s away.
    s.advance(Math.floor(Date.now() / 1000) - 1_800_000_000);
    const r = await s.service.startAuthentication(
      s.client('acme-push'),
      // requested_expiry is real wall-clock time for the sender: keep it short.
      {
        scope: 'openid',
        login_hint: 'alice',
        client_notification_token: notificationToken(),
        requested_expiry: '2',
      },
      undefined,
    );
    if (!r.ok) return t.fail('start');
    await s.service.decide('alice', deviceHandle(r.value.auth_req_id), 'approve', 0);
    await s.service.settled();
    const counts = await counter(s.registry, 'fapi_issuer_ciba_notifications_total');
    t.match(
      counts.find((c) => c.labels.result === 'abandoned'),
      { labels: { mode: 'push' }, value: 1 },
    );
    t.ok((counts.find((c) => c.labels.result === 'failed')?.value ?? 0) >= 1, 'failed attempts counted');
    t.same(s.revoked, ['grant-1'], 'the undelivered tokens are revoked');
  },
);
