/**
 * CIBA from the client's side, for tests: a test issuer with one client per delivery mode, a client
 * notification endpoint that records what it receives, signed authentication requests, and the token
 * request with the CIBA grant. The device page is driven separately (chromium).
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { JWTPayload } from 'jose';
import type { BrowserContext } from 'playwright-core';
import {
  ASSERTION_TYPE,
  clientAssertion,
  startTestIssuer,
  type HttpsResponse,
  type TestIssuer,
  type TestIssuerOptions,
} from './issuer.js';
import { testPki, type TestCredential, type TestPki } from './pki.js';
import { clientSigningKey, signedRequestObject, type ClientSigningKey } from './request-objects.js';

export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
export const ALICE = { username: 'alice', password: 'alice-password-1' };
export const BOB = { username: 'bob', password: 'bob-password-1' };

export interface Notification {
  authorization: string | undefined;
  body: Record<string, unknown>;
}

export interface NotificationReceiver {
  url: string;
  received: Notification[];
  /** Resolves when `count` notifications have arrived (rejects after `timeoutMs`). */
  waitFor(count: number, timeoutMs?: number): Promise<Notification[]>;
  close(): Promise<void>;
}

/** A client notification endpoint (CIBA §10.2/§10.3) over HTTPS with the test server certificate. */
export async function startNotificationReceiver(pki: TestPki, status = 204): Promise<NotificationReceiver> {
  const received: Notification[] = [];
  const waiters: (() => void)[] = [];
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        /* recorded as {} */
      }
      received.push({ authorization: req.headers.authorization, body });
      res.writeHead(status).end();
      for (const w of waiters.splice(0)) w();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://localhost:${(server.address() as AddressInfo).port}/ciba-notify`;
  return {
    url,
    received,
    async waitFor(count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (received.length < count) {
        if (Date.now() > deadline) throw new Error(`only ${received.length} of ${count} notifications`);
        await new Promise<void>((r) => {
          waiters.push(r);
          setTimeout(r, 200);
        });
      }
      return received;
    },
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

export interface NotificationAttempt {
  at: number;
  authReqId: string;
  authorization: string | undefined;
  body: Record<string, unknown>;
  answered?: number;
}

/**
 * A client notification endpoint that fails: it answers 503 until `accept()`, after holding each request
 * for `holdMs`, and records every attempt and the most it ever had open at once for one auth_req_id.
 */
export async function startFlakyNotificationEndpoint(pki: TestPki, holdMs = 0) {
  const hits: NotificationAttempt[] = [];
  const open = new Map<string, number>();
  const mostOpen = new Map<string, number>();
  let status = 503;
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as Record<string, unknown>;
      const hit: NotificationAttempt = {
        at: Date.now(),
        authReqId: String(body.auth_req_id),
        authorization: req.headers.authorization,
        body,
      };
      hits.push(hit);
      const now = (open.get(hit.authReqId) ?? 0) + 1;
      open.set(hit.authReqId, now);
      mostOpen.set(hit.authReqId, Math.max(now, mostOpen.get(hit.authReqId) ?? 0));
      let closed = false;
      const close = () => {
        if (closed) return;
        closed = true;
        open.set(hit.authReqId, (open.get(hit.authReqId) ?? 1) - 1);
      };
      // A replica killed mid-attempt drops its connection: that attempt is over.
      res.on('close', close);
      const answer = () => {
        hit.answered = status;
        if (!res.destroyed) res.writeHead(status).end();
        close();
      };
      if (holdMs > 0) setTimeout(answer, holdMs);
      else answer();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `https://localhost:${(server.address() as AddressInfo).port}/notify`,
    hits,
    of: (authReqId: string) => hits.filter((h) => h.authReqId === authReqId),
    inFlight: (authReqId: string) => open.get(authReqId) ?? 0,
    mostAtOnce: (authReqId: string) => mostOpen.get(authReqId) ?? 0,
    accept: () => (status = 204),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A 128+ bit client_notification_token. */
export const notificationToken = () => randomBytes(24).toString('base64url');

export interface CibaIssuer extends TestIssuer {
  pollKey: ClientSigningKey;
  pingKey: ClientSigningKey;
  ping: NotificationReceiver;
  push: NotificationReceiver;
  /** A signed authentication request of `clientId` (ciba-poll by default) with overridable claims. */
  requestObject(
    claims: JWTPayload,
    opts?: { clientId?: string; key?: ClientSigningKey; lifetimeSeconds?: number; now?: number },
  ): Promise<string>;
  /** POST /backchannel-authentication as `clientId`, authenticated by its method. */
  backchannel(clientId: string, params: Record<string, string>): Promise<HttpsResponse>;
  /** POST /token with the CIBA grant as `clientId`. */
  poll(clientId: string, authReqId: string, credential?: TestCredential | null): Promise<HttpsResponse>;
}

/**
 * Clients: `ciba-poll` (FAPI-CIBA, tls_client_auth as client A, poll), `ciba-ping` (FAPI-CIBA,
 * private_key_jwt, ping), `ciba-push` (ciba-core, tls_client_auth as client B, push). All get refresh
 * tokens. The issuer retries notifications from 50 ms (instead of 1 s) to keep tests short.
 */
export async function startCibaIssuer(
  opts: TestIssuerOptions & { pushUrl?: string; ciba?: Record<string, unknown> } = {},
): Promise<CibaIssuer> {
  const pki = await testPki();
  const pollKey = await clientSigningKey('PS256', 'ciba-poll-1');
  const pingKey = await clientSigningKey('PS256', 'ciba-ping-1');
  const ping = await startNotificationReceiver(pki);
  const push = await startNotificationReceiver(pki);
  const common = { scopes: ['openid', 'accounts'], grantTypes: [CIBA_GRANT, 'refresh_token'] };
  const ti = await startTestIssuer({
    ...opts,
    clients: [
      {
        clientId: 'ciba-poll',
        clientName: 'Acme Call Centre',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Acme,CN=client-a',
        jwks: pollKey.jwks,
        backchannelTokenDeliveryMode: 'poll',
        backchannelAuthenticationRequestSigningAlg: 'PS256',
        cibaProfile: 'fapi-ciba',
        ...common,
      },
      {
        clientId: 'ciba-ping',
        clientName: 'Acme Point of Sale',
        authMethod: 'private_key_jwt',
        jwks: pingKey.jwks,
        backchannelTokenDeliveryMode: 'ping',
        backchannelClientNotificationEndpoint: ping.url,
        backchannelAuthenticationRequestSigningAlg: 'PS256',
        cibaProfile: 'fapi-ciba',
        ...common,
      },
      {
        clientId: 'ciba-push',
        clientName: 'Acme Kiosk',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Other,CN=client-b',
        backchannelTokenDeliveryMode: 'push',
        backchannelClientNotificationEndpoint: opts.pushUrl ?? push.url,
        cibaProfile: 'ciba-core',
        ...common,
      },
      ...(opts.clients ?? []),
    ],
    config: {
      users: [
        { ...ALICE, claims: { name: 'Alice Doe', email: 'alice@example.com' } },
        { ...BOB, claims: { name: 'Bob Roe' } },
      ],
      ciba: { expiresInSeconds: 60, intervalSeconds: 1, devicePath: '/device', ...opts.ciba },
      ...opts.config,
    },
    options: { ciba: { notificationBaseDelayMs: 50, notificationCa: pki.ca.certPem }, ...opts.options },
  });
  const credentialOf = (clientId: string) =>
    clientId === 'ciba-poll' ? pki.clientA : clientId === 'ciba-push' ? pki.clientB : undefined;
  const authParams = async (clientId: string): Promise<Record<string, string>> =>
    clientId === 'ciba-ping'
      ? {
          client_assertion_type: ASSERTION_TYPE,
          client_assertion: await clientAssertion({
            clientId,
            audience: ti.issuer.url,
            key: pingKey.privateKey,
            kid: pingKey.kid,
          }),
        }
      : { client_id: clientId };
  return {
    ...ti,
    pollKey,
    pingKey,
    ping,
    push,
    requestObject(claims, o = {}) {
      const clientId = o.clientId ?? 'ciba-poll';
      return signedRequestObject({
        key: o.key ?? (clientId === 'ciba-ping' ? pingKey : pollKey),
        clientId,
        audience: ti.issuer.url,
        claims,
        header: { typ: 'JWT' },
        ...(o.lifetimeSeconds !== undefined && { lifetimeSeconds: o.lifetimeSeconds }),
        ...(o.now !== undefined && { now: o.now }),
      });
    },
    async backchannel(clientId, params) {
      const credential = credentialOf(clientId);
      return ti.postForm(
        '/backchannel-authentication',
        { ...(await authParams(clientId)), ...params },
        credential ? { credential } : {},
      );
    },
    async poll(clientId, authReqId, credential) {
      const c = credential === null ? undefined : (credential ?? credentialOf(clientId) ?? pki.clientA);
      return ti.postForm(
        '/token',
        { grant_type: CIBA_GRANT, auth_req_id: authReqId, ...(await authParams(clientId)) },
        c ? { credential: c } : {},
      );
    },
    async close() {
      await ti.close();
      await ping.close();
      await push.close();
    },
  };
}

/**
 * The user's part, in a browser: open the device page, sign in, and Approve or Deny the request showing
 * `bindingMessage`. Resolves with the page's status text.
 */
export async function decideOnDevice(
  context: BrowserContext,
  issuerUrl: string,
  o: { user?: { username: string; password: string }; bindingMessage: string; decision: 'Approve' | 'Deny' },
): Promise<string> {
  const user = o.user ?? ALICE;
  await context.clearCookies();
  const page = await context.newPage();
  try {
    await page.goto(`${issuerUrl}/device`);
    await page.getByLabel('Username').fill(user.username);
    await page.getByLabel('Password').fill(user.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(/\/device$/);
    const request = page.getByRole('region').filter({ hasText: o.bindingMessage });
    // The page lists what is pending when it is rendered; a request stored a moment later shows on reload.
    for (let i = 0; i < 10 && !(await request.isVisible()); i++) {
      await page.waitForTimeout(500);
      await page.reload();
    }
    await request.getByRole('button', { name: o.decision }).click();
    await page.waitForURL(/result=/);
    return (await page.getByRole('status').textContent()) ?? '';
  } finally {
    await page.close();
  }
}
