/**
 * The hostile soak's traffic: what a good client and an attacker send to a gateway and an issuer at
 * once. Good requests go through undici pools that stay connected (as a real client's would); hostile
 * ones are the attacks the hardening checks refuse, sent as an attacker would: over the same pools where
 * an HTTP client can express them, as raw bytes over TLS where it cannot (duplicate Host, abandoned
 * bodies), and as bare TCP connections for the TLS-level attacks (no ClientHello, floods to the cap).
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import { createSigner } from 'fast-jwt';
import { exportJWK, generateKeyPair } from 'jose';
import { Agent, buildConnector, request } from 'undici';
import {
  ASSERTION_TYPE,
  assertionSigner,
  introspectionForm,
  ISSUER_CLIENTS,
  tlsClientCredentialsForm,
  type IssuerFixture,
} from './issuers.js';
import { ROUTE } from './options.js';
import {
  mintAccessToken,
  mintManyTokens,
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TOKEN_KID,
  TOKEN_SCOPE,
  type BenchPki,
} from './pki.js';
import { createSigningKey } from '../test/helpers/tokens.js';

export type ServerName = 'gateway' | 'issuer';

/**
 * What one attempt got back: an HTTP status, or what happened to the connection instead. `tls_refused`:
 * the server ended the handshake (a TLS-level refusal); `server_closed`: it closed a connection that had
 * sent nothing; `abandoned`: the driver gave up on purpose (a slow body, a flood connection it held).
 */
export type Observation =
  | { status: number }
  | {
      connection:
        'tls_refused' | 'server_closed' | 'abandoned' | 'reset' | 'timeout' | 'error' | 'refused_at_cap';
      detail?: string;
      /**
       * When a pool's new connection failed before it was established (TCP connect and TLS handshake):
       * a request that never had a connection, unlike one whose established connection was reset.
       */
      newConnectionFailedAt?: number;
    };

/** Connection attempts of the driver's pools that failed before they were established, and when. */
const failedConnects = new WeakMap<object, number>();

/** The pools' connections: how many were opened, how many failed before they were established. */
export const poolConnections = { opened: 0, failed: 0 };

/** undici's own connector, noting which errors come from a connection that was never established. */
function noteFailedConnects(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  return (opts, callback) =>
    connect(opts, (...args) => {
      const [err] = args;
      if (err) {
        poolConnections.failed++;
        failedConnects.set(err, Date.now());
      } else poolConnections.opened++;
      callback(...args);
    });
}

export interface Action {
  name: string;
  server: ServerName;
  good: boolean;
  weight: number;
  run(): Promise<Observation[]>;
}

/** Client CIBA set-up added to the issuer for the soak: a poll client, a user_code client, two users. */
export const CIBA_CLIENT = 'bench-ciba';
export const CIBA_USER_CODE_CLIENT = 'bench-ciba-uc';
const ALICE = { username: 'alice', password: 'alice-password-1' };
const BOB = { username: 'bob', password: 'bob-password-1', userCode: '4711' };
const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

/**
 * The lifetime of the issuer's access tokens and of the soak's client assertions. The issuer keeps every
 * access token it issued (introspection, revocation) and every assertion jti (replay, RFC 7523 §3 item 7)
 * until it expires, so its state grows for one lifetime and then holds steady; short lifetimes let it
 * reach that steady state within the warm-up, and the soak then measures growth beyond it.
 */
export const SOAK_LIFETIME_SECONDS = 60;

/**
 * The issuer settings the soak adds: users, CIBA clients, short-lived access tokens, assertions and CIBA
 * requests, the connection cap.
 */
export function soakIssuerSettings(
  f: IssuerFixture,
  connectionCap: number,
): NonNullable<IssuerFixture['settings']> {
  const ciba = {
    authMethod: 'tls_client_auth',
    tlsClientAuthSubjectDn: f.clientSubjectDn,
    scopes: ['openid', TOKEN_SCOPE],
    grantTypes: [CIBA_GRANT],
    backchannelTokenDeliveryMode: 'poll',
    cibaProfile: 'ciba-core',
    // The ID tokens of the CIBA grant (never redeemed here) are signed with the issuer's one key.
    idTokenSignedResponseAlg: 'ES256',
  };
  return {
    users: [ALICE, BOB],
    accessTokens: { audience: TOKEN_AUDIENCE, ttlSeconds: SOAK_LIFETIME_SECONDS, format: 'jwt' },
    clientAssertions: { maxLifetimeSeconds: SOAK_LIFETIME_SECONDS, clockSkewSeconds: 30 },
    ciba: { expiresInSeconds: 30, intervalSeconds: 5, devicePath: '/device' },
    limits: { maxConnections: connectionCap },
    clients: [
      { clientId: CIBA_CLIENT, ...ciba },
      { clientId: CIBA_USER_CODE_CLIENT, ...ciba, backchannelUserCodeParameter: true },
    ],
  };
}

export interface Endpoints {
  gateway: { url: string; port: number };
  /** The issuer's mTLS listener (token, introspection, backchannel) and its plain-TLS one (device page). */
  issuer: { mtlsBase: string; mtlsPort: number; publicBase: string; publicPort: number };
}

export interface Traffic {
  actions: Action[];
  /** Agents to close at the end. */
  close(): Promise<void>;
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

async function answer(
  url: string,
  opts: { dispatcher: Agent; method?: string; headers?: Record<string, string>; body?: string },
): Promise<Observation[]> {
  try {
    const res = await request(url, {
      dispatcher: opts.dispatcher,
      method: (opts.method ?? 'GET') as 'GET',
      headers: opts.headers,
      body: opts.body,
      headersTimeout: 15_000,
      bodyTimeout: 15_000,
    });
    await res.body.dump();
    return [{ status: res.statusCode }];
  } catch (err) {
    return [connectionFailure(err)];
  }
}

function connectionFailure(err: unknown): Observation {
  const e = err as { code?: string; message?: string };
  const detail = `${e.code ?? ''} ${e.message ?? String(err)}`.trim();
  const failedAt = typeof err === 'object' && err !== null ? failedConnects.get(err) : undefined;
  const seen = classifyFailure(e.code ?? '', detail);
  return failedAt === undefined
    ? seen
    : { ...seen, detail: `new connection: ${detail}`, newConnectionFailedAt: failedAt };
}

function classifyFailure(code: string, detail: string): Observation & { connection: string } {
  if (/TIMEOUT/.test(code)) return { connection: 'timeout', detail };
  // Closed before the handshake: the server's connection cap dropped it on accept.
  if (/before secure TLS connection was established/.test(detail))
    return { connection: 'tls_refused', detail };
  if (/ECONNRESET|UND_ERR_SOCKET|other side closed/i.test(detail)) return { connection: 'reset', detail };
  return { connection: 'error', detail };
}

interface RawOptions {
  port: number;
  tls: tls.ConnectionOptions;
  /** Bytes to send; with `abandonAfterMs` the connection is destroyed that long after sending them. */
  send: string | Buffer;
  abandonAfterMs?: number;
  timeoutMs?: number;
}

/** Raw bytes over TLS, for what an HTTP client will not send; the status of the first answer, if any. */
export function rawExchange(o: RawOptions): Promise<Observation> {
  return new Promise((resolve) => {
    let settled = false;
    let received = '';
    const done = (obs: Observation) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(obs);
    };
    const socket = tls.connect({ host: '127.0.0.1', port: o.port, servername: 'localhost', ...o.tls });
    const timer = setTimeout(
      () => done(o.abandonAfterMs !== undefined ? { connection: 'abandoned' } : { connection: 'timeout' }),
      o.abandonAfterMs ?? o.timeoutMs ?? 15_000,
    );
    let established = false;
    // Closed before the handshake finished: a new connection that failed, as in a pool (connectionFailure).
    const failed = (seen: Observation): Observation =>
      established || !('connection' in seen)
        ? seen
        : { ...seen, detail: `new connection: ${seen.detail ?? ''}`, newConnectionFailedAt: Date.now() };
    socket.on('secureConnect', () => {
      established = true;
      socket.write(o.send);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(received);
      if (m) done({ status: Number(m[1]) });
    });
    socket.on('error', (err) => done(failed(connectionFailure(err))));
    socket.on('close', () => done(failed({ connection: 'reset', detail: 'closed without an answer' })));
  });
}

/** A TLS handshake that the server should refuse (e.g. no client certificate where one is required). */
function refusedHandshake(port: number, options: tls.ConnectionOptions): Promise<Observation> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (obs: Observation) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(obs);
    };
    const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ...options });
    // TLS 1.3: the client finishes first and learns of the refusal from the alert that follows.
    socket.on('secureConnect', () =>
      socket.write(`GET ${ROUTE} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`),
    );
    socket.on('data', (chunk: Buffer) => {
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString('latin1'));
      done(m ? { status: Number(m[1]) } : { connection: 'error', detail: 'unexpected bytes' });
    });
    socket.on('error', () => done({ connection: 'tls_refused' }));
    socket.on('close', () => done({ connection: 'tls_refused' }));
    setTimeout(() => done({ connection: 'timeout' }), 15_000);
  });
}

export async function createTraffic(
  pki: BenchPki,
  f: IssuerFixture,
  at: Endpoints,
  distinctTokens: number,
): Promise<Traffic> {
  const caPem = pki.ca.certPem;
  const clientA = { cert: pki.client.certPem, key: pki.client.keyPem, ca: caPem };
  const clientB = { cert: pki.gatewayClient.certPem, key: pki.gatewayClient.keyPem, ca: caPem };
  // Connections that stay up for the whole soak (a client's pool), one agent per identity.
  const agent = (identity: typeof clientA, connections: number) =>
    new Agent({
      connect: noteFailedConnects({ ...identity, servername: 'localhost' }),
      connections,
      keepAliveTimeout: 4_000,
    });
  // Good and hostile requests never share a connection: a refusal that closes its connection (a 431, a
  // malformed request) must not make a good client reconnect, possibly while a flood holds the cap.
  const asA = agent(clientA, 8);
  const asB = agent(clientB, 4);
  const hostileA = agent(clientA, 4);
  const hostileB = agent(clientB, 2);
  const anonymous = new Agent({
    connect: noteFailedConnects({ ca: caPem, servername: 'localhost' }),
    connections: 4,
  });

  const tokens = await mintManyTokens(pki, distinctTokens, 7200);
  const expired = await mintAccessToken(pki, { expiresIn: -120 });
  const otherKey = await createSigningKey('ES256', TOKEN_KID);
  const foreignKey = await mintAccessToken(pki, { key: otherKey.privateKey, expiresIn: 7200 });
  const unknownKidKey = await createSigningKey('ES256', 'not-in-the-jwks');
  const unknownKid = await mintAccessToken(pki, { key: unknownKidKey.privateKey, expiresIn: 7200 });
  let next = 0;
  const token = () => tokens[next++ % tokens.length]!;

  const sign = assertionSigner(f, SOAK_LIFETIME_SECONDS);
  const foreign = await generateKeyPair('ES256', { extractable: true });
  const signForeign = createSigner({
    key: createPrivateKey({ key: await exportJWK(foreign.privateKey), format: 'jwk' })
      .export({ format: 'pem', type: 'pkcs8' })
      .toString(),
    algorithm: 'ES256',
    kid: f.jwtClient.publicJwk.kid,
  });
  const now = () => Math.floor(Date.now() / 1000);
  const foreignAssertionForm = () =>
    new URLSearchParams({
      grant_type: 'client_credentials',
      scope: TOKEN_SCOPE,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: signForeign({
        iss: ISSUER_CLIENTS.jwt,
        sub: ISSUER_CLIENTS.jwt,
        aud: TOKEN_ISSUER,
        jti: randomUUID(),
        iat: now(),
        exp: now() + SOAK_LIFETIME_SECONDS,
      }),
    }).toString();
  // One assertion used once (a good request) and then replayed; a fresh one every minute so that the
  // replayed one is refused as a replay, not as expired.
  let replayed = { form: sign(1)[0]!, at: 0 };

  const g = at.gateway.url;
  const tokenUrl = `${at.issuer.mtlsBase}/token`;
  const introspectUrl = `${at.issuer.mtlsBase}/introspect`;
  const backchannelUrl = `${at.issuer.mtlsBase}/backchannel-authentication`;
  const deviceUrl = `${at.issuer.publicBase}/device`;
  let lastIssued: string | undefined;

  const bearer = (t: string) => ({ authorization: `Bearer ${t}` });
  const gw = (name: string, weight: number, run: () => Promise<Observation[]>, good = false): Action => ({
    name,
    server: 'gateway',
    good,
    weight,
    run,
  });
  const is = (name: string, weight: number, run: () => Promise<Observation[]>, good = false): Action => ({
    name,
    server: 'issuer',
    good,
    weight,
    run,
  });
  const rawGateway = (send: string, abandonAfterMs?: number) =>
    rawExchange({ port: at.gateway.port, tls: clientA, send, abandonAfterMs }).then((o) => [o]);
  const rawIssuer = (send: string) =>
    rawExchange({ port: at.issuer.mtlsPort, tls: clientA, send }).then((o) => [o]);

  const queryVariants = [
    'access_token',
    '%61ccess_token',
    'access%5Ftoken',
    'access_token[]',
    'access_token;x',
  ];
  const formVariants: Record<string, string>[] = [
    { 'content-type': 'application/x-www-form-urlencoded' },
    { 'content-type': 'application/x-www-form-urlencoded; charset=iso-8859-1' },
    { 'content-type': 'application/x-www-form-urlencoded', 'content-encoding': 'gzip' },
  ];
  const pathVariants = [
    `${ROUTE}/..;/payments`,
    `${ROUTE}/%252e%252e/payments`,
    `${ROUTE}/%2e%2e/payments`,
    `${ROUTE}/.%3b/payments`,
  ];
  const malformedForms: { headers: Record<string, string>; body: string }[] = [
    { headers: FORM, body: `${tlsClientCredentialsForm()}&client_id=${ISSUER_CLIENTS.tls}` },
    { headers: FORM, body: 'grant_type=client_credentials&client_id=%ZZ' },
    { headers: { 'content-type': 'text/plain' }, body: tlsClientCredentialsForm() },
    { headers: FORM, body: `${tlsClientCredentialsForm()}&pad=${'x'.repeat(256 * 1024)}` },
    { headers: FORM, body: 'grant_type=client_credentials&client_id=nobody-registered' },
  ];
  let variant = 0;
  const pick = <T>(list: readonly T[]): T => list[variant++ % list.length]!;

  /** GET the device page without a cookie, then post a wrong password with what it gave. */
  const wrongPassword = async (): Promise<Observation[]> => {
    try {
      const page = await request(deviceUrl, { dispatcher: anonymous, headersTimeout: 15_000 });
      const html = await page.body.text();
      const cookie = String(page.headers['set-cookie'] ?? '').split(';')[0]!;
      const csrf = /name="csrf_token" value="([^"]+)"/.exec(html)?.[1] ?? '';
      // Half the guesses spray fresh usernames: state keyed by them must stay bounded.
      const username = variant++ % 2 === 0 ? ALICE.username : `user-${randomUUID()}`;
      const posted = await answer(deviceUrl, {
        dispatcher: anonymous,
        method: 'POST',
        headers: { ...FORM, cookie, origin: TOKEN_ISSUER },
        body: new URLSearchParams({
          csrf_token: csrf,
          username,
          password: `guess-${randomUUID()}`,
        }).toString(),
      });
      return [{ status: page.statusCode }, ...posted];
    } catch (err) {
      return [connectionFailure(err)];
    }
  };

  const actions: Action[] = [
    // Good traffic.
    gw(
      'gateway GET, valid bound token',
      30,
      () => answer(g, { dispatcher: asA, headers: bearer(token()) }),
      true,
    ),
    gw(
      'gateway POST form, token in header',
      5,
      () =>
        answer(g, {
          dispatcher: asA,
          method: 'POST',
          headers: { ...bearer(token()), ...FORM },
          body: 'amount=10&currency=EUR',
        }),
      true,
    ),
    is(
      'client_credentials, tls_client_auth',
      8,
      async () => {
        try {
          const res = await request(tokenUrl, {
            dispatcher: asA,
            method: 'POST',
            headers: FORM,
            body: tlsClientCredentialsForm(),
            headersTimeout: 15_000,
          });
          const json = (await res.body.json()) as { access_token?: string };
          if (json.access_token) lastIssued = json.access_token;
          return [{ status: res.statusCode }];
        } catch (err) {
          return [connectionFailure(err)];
        }
      },
      true,
    ),
    is(
      'client_credentials, private_key_jwt',
      6,
      () => answer(tokenUrl, { dispatcher: asA, method: 'POST', headers: FORM, body: sign(1)[0]! }),
      true,
    ),
    is(
      'introspection',
      6,
      () =>
        lastIssued === undefined
          ? Promise.resolve([])
          : answer(introspectUrl, {
              dispatcher: asB,
              method: 'POST',
              headers: FORM,
              body: introspectionForm(lastIssued),
            }),
      true,
    ),
    // Hostile traffic at the gateway.
    gw('no token', 3, () => answer(g, { dispatcher: hostileA })),
    gw('garbage token', 3, () =>
      answer(g, { dispatcher: hostileA, headers: bearer(`garbage.${randomUUID()}.x`) }),
    ),
    gw('expired token', 3, () => answer(g, { dispatcher: hostileA, headers: bearer(expired) })),
    gw('token signed by a foreign key', 3, () =>
      answer(g, { dispatcher: hostileA, headers: bearer(foreignKey) }),
    ),
    gw('token with an unknown kid', 1, () =>
      answer(g, { dispatcher: hostileA, headers: bearer(unknownKid) }),
    ),
    gw('stolen token, another certificate', 3, () =>
      answer(g, { dispatcher: hostileB, headers: bearer(token()) }),
    ),
    gw('token in the query', 2, () =>
      answer(`${g}?${pick(queryVariants)}=${token()}`, { dispatcher: hostileA }),
    ),
    gw('token in a form body', 2, () =>
      answer(g, {
        dispatcher: hostileA,
        method: 'POST',
        headers: pick(formVariants),
        body: `access_token=${token()}`,
      }),
    ),
    gw('path confusion', 2, () =>
      answer(`${g.slice(0, g.indexOf(ROUTE))}${pick(pathVariants)}`, {
        dispatcher: hostileA,
        headers: bearer(token()),
      }),
    ),
    gw('duplicate Host', 1, () =>
      rawGateway(
        `GET ${ROUTE} HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nAuthorization: Bearer ${token()}\r\nConnection: close\r\n\r\n`,
      ),
    ),
    gw('oversized headers', 1, () =>
      answer(g, {
        dispatcher: hostileA,
        headers: { ...bearer(token()), 'x-padding': 'x'.repeat(20 * 1024) },
      }),
    ),
    gw('slow form body, abandoned', 0.5, () =>
      rawGateway(
        `POST ${ROUTE} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\namount=${'1'.repeat(1000)}`,
        1500,
      ),
    ),
    gw('TLS without a client certificate', 0.5, () =>
      refusedHandshake(at.gateway.port, { ca: caPem }).then((o) => [o]),
    ),
    // Hostile traffic at the issuer.
    is('client assertion signed by a foreign key', 3, () =>
      answer(tokenUrl, { dispatcher: hostileA, method: 'POST', headers: FORM, body: foreignAssertionForm() }),
    ),
    is('replayed client assertion', 3, () => {
      const fresh = Date.now() - replayed.at > 60_000;
      if (fresh) replayed = { form: sign(1)[0]!, at: Date.now() };
      return answer(tokenUrl, { dispatcher: hostileA, method: 'POST', headers: FORM, body: replayed.form });
    }),
    is('unsupported grant type', 2, () =>
      answer(tokenUrl, {
        dispatcher: hostileA,
        method: 'POST',
        headers: FORM,
        body: pick([
          `grant_type=password&client_id=${ISSUER_CLIENTS.tls}&username=a&password=b`,
          `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&client_id=${ISSUER_CLIENTS.tls}`,
          `grant_type=authorization_code&client_id=${ISSUER_CLIENTS.tls}&code=x`,
        ]),
      }),
    ),
    is('malformed form', 3, () => {
      const form = pick(malformedForms);
      return answer(tokenUrl, {
        dispatcher: hostileA,
        method: 'POST',
        headers: form.headers,
        body: form.body,
      });
    }),
    is('device page without a cookie', 3, () => answer(deviceUrl, { dispatcher: anonymous })),
    is('device page, wrong password', 1.5, wrongPassword),
    is('backchannel over the per-user cap', 1.5, () =>
      answer(backchannelUrl, {
        dispatcher: hostileA,
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({
          client_id: CIBA_CLIENT,
          scope: `openid ${TOKEN_SCOPE}`,
          login_hint: variant++ % 4 === 0 ? `nobody-${randomUUID()}` : ALICE.username,
          binding_message: 'soak',
        }).toString(),
      }),
    ),
    is('wrong user_code', 1, () =>
      answer(backchannelUrl, {
        dispatcher: hostileA,
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({
          client_id: CIBA_USER_CODE_CLIENT,
          scope: `openid ${TOKEN_SCOPE}`,
          login_hint: BOB.username,
          user_code: String(1000 + Math.floor(Math.random() * 9000)).replace(BOB.userCode, '0000'),
          binding_message: 'soak',
        }).toString(),
      }),
    ),
    is('oversized headers (issuer)', 0.5, () =>
      answer(tokenUrl, {
        dispatcher: hostileA,
        method: 'POST',
        headers: { ...FORM, 'x-padding': 'x'.repeat(20 * 1024) },
        body: tlsClientCredentialsForm(),
      }),
    ),
    is('malformed HTTP (issuer)', 0.5, () =>
      rawIssuer('POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n'),
    ),
    is('duplicate Host (issuer)', 0.5, () =>
      rawIssuer(
        `POST /token HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${tlsClientCredentialsForm().length}\r\nConnection: close\r\n\r\n${tlsClientCredentialsForm()}`,
      ),
    ),
  ];
  return {
    actions,
    async close() {
      await Promise.all([asA, asB, hostileA, hostileB, anonymous].map((a) => a.close()));
    },
  };
}

/**
 * TCP connections that never send a ClientHello, `count` open at a time: each one the server closes
 * (its handshake timeout) is observed and replaced.
 */
export function silentConnections(
  port: number,
  count: number,
  observe: (o: Observation) => void,
): { stop(): void } {
  let stopped = false;
  const open = new Set<net.Socket>();
  const connect = () => {
    if (stopped) return;
    const socket = net.connect(port, '127.0.0.1');
    open.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      open.delete(socket);
      if (stopped) return;
      observe({ connection: 'server_closed' });
      setTimeout(connect, 100);
    });
  };
  for (let i = 0; i < count; i++) connect();
  return {
    stop() {
      stopped = true;
      for (const s of open) s.destroy();
      open.clear();
    },
  };
}

/**
 * Opens `count` bare TCP connections at once and holds them `holdMs`: the ones the server closes in that
 * time were over its connection cap (refused); the driver closes the rest itself (abandoned).
 */
export async function connectionFlood(port: number, count: number, holdMs: number): Promise<Observation[]> {
  const sockets: { socket: net.Socket; closedByServer: boolean }[] = [];
  for (let i = 0; i < count; i++) {
    const entry = { socket: net.connect(port, '127.0.0.1'), closedByServer: false };
    entry.socket.on('error', () => undefined);
    entry.socket.on('close', () => (entry.closedByServer = true));
    sockets.push(entry);
  }
  await new Promise((r) => setTimeout(r, holdMs));
  const seen = sockets.map((s): Observation =>
    s.closedByServer ? { connection: 'server_closed' } : { connection: 'abandoned' },
  );
  for (const s of sockets) s.socket.destroy();
  return seen;
}
