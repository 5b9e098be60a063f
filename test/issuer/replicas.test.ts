/**
 * Two issuer processes sharing one Redis (`storage.type: redis`, a real redis-server), behind one public
 * issuer URL as behind a load balancer: each step of a flow may land on either replica. A code issued by
 * one is redeemed at the other and its replay refused; a request_uri pushed to one is used at the
 * other; a client assertion is accepted once by both together; of two concurrent refreshes of one
 * refresh token on the two replicas exactly one succeeds and the reuse revokes the family.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ALICE, REDIRECT_URI, responseParameters, parseForm, webClient } from '../helpers/code-flow.js';
import {
  ASSERTION_TYPE,
  clientAssertion,
  httpsRequest,
  rsaClientKeys,
  type HttpsResponse,
} from '../helpers/issuer.js';
import { fetchText } from '../helpers/metrics-text.js';
import { startIssuerReplica, type IssuerReplica } from '../helpers/issuer-replica.js';
import { testPki } from '../helpers/pki.js';
import { freePort, startRedisServer } from '../helpers/redis-server.js';
import { clientSigningKey, pkcePair, signedRequestObject } from '../helpers/request-objects.js';

const WEB = 'acme-web';

interface Replica {
  process: IssuerReplica;
  /** This replica's own listeners (the public URL names replica 1's). */
  main: string;
  mtls: string;
}

t.test('two issuer replicas share codes, request_uris, assertions and refresh tokens', async (t) => {
  const pki = await testPki();
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKey = path.join(pki.dir, `replicas-${randomBytes(4).toString('hex')}.pem`);
  writeFileSync(signingKey, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const webKey = await clientSigningKey('PS256', 'web-1');
  const jwtClient = await rsaClientKeys('jwt-1');
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  const issuer = `https://localhost:${ports[0]}`;
  const mtlsBase = `https://localhost:${ports[1]}`;
  const config = (main: number, mtls: number) => ({
    issuer,
    listen: { host: '127.0.0.1', port: main },
    mtls: { host: '127.0.0.1', port: mtls, baseUrl: mtlsBase },
    admin: { host: '127.0.0.1', port: 0 },
    tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
    signingKeys: [{ file: signingKey, alg: 'PS256', kid: 'replicas-1' }],
    accessTokens: { audience: 'https://api.example', ttlSeconds: 300 },
    users: [{ ...ALICE, claims: { name: 'Alice Doe' } }],
    clients: [
      webClient(webKey),
      {
        clientId: 'jwt-client',
        authMethod: 'private_key_jwt',
        jwks: { keys: [jwtClient.publicJwk] },
        scopes: ['accounts'],
      },
    ],
    storage: { type: 'redis', redis: { url: redis.url } },
    logging: { level: 'info' },
  });
  const start = async (main: number, mtls: number): Promise<Replica> => {
    const process = await startIssuerReplica(pki.dir, { config: config(main, mtls) });
    t.teardown(() => process.kill());
    return { process, main: `https://localhost:${main}`, mtls: `https://localhost:${mtls}` };
  };
  const [one, two] = await Promise.all([start(ports[0]!, ports[1]!), start(ports[2]!, ports[3]!)]);
  for (const r of [one, two]) {
    const since = Date.now();
    while ((await fetchText(r.process.adminPort, '/readyz')).status !== 200) {
      if (Date.now() - since > 30_000) throw new Error('replica not ready');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const post = (
    r: Replica,
    pathname: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ) =>
    httpsRequest(r.mtls + pathname, {
      method: 'POST',
      ca: pki.ca.certPem,
      credential: pki.clientA,
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(form).toString(),
    });
  const assertion = async (clientId = WEB) => ({
    client_id: clientId,
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await clientAssertion(
      clientId === WEB
        ? { clientId, audience: issuer, key: webKey.privateKey, kid: webKey.kid }
        : { clientId, audience: issuer, key: jwtClient.privateKey, kid: jwtClient.publicJwk.kid },
    ),
  });

  /** PAR at `pushTo`, sign-in and consent at `browseAt`: the code and the PKCE verifier. */
  const codeVia = async (pushTo: Replica, browseAt: Replica) => {
    const { verifier, challenge } = pkcePair();
    const request = await signedRequestObject({
      key: webKey,
      clientId: WEB,
      audience: issuer,
      claims: {
        client_id: WEB,
        response_type: 'code',
        redirect_uri: REDIRECT_URI,
        scope: 'openid accounts',
        state: randomBytes(8).toString('base64url'),
        nonce: randomBytes(8).toString('base64url'),
        code_challenge: challenge,
        code_challenge_method: 'S256',
      },
    });
    const pushed = await post(pushTo, '/par', { ...(await assertion()), request });
    if (pushed.status !== 201) throw new Error(`PAR: ${pushed.status} ${pushed.text}`);
    const requestUri = String(pushed.json.request_uri);
    const cookies = new Map<string, string>();
    const remember = (res: HttpsResponse) => {
      const set = res.headers['set-cookie'];
      for (const line of Array.isArray(set) ? set : set ? [set] : []) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        cookies.set(pair!.slice(0, eq), pair!.slice(eq + 1));
      }
      return res;
    };
    const cookie = () => [...cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const submit = async (page: HttpsResponse, fields: Record<string, string>) => {
      const form = parseForm(page.text);
      return remember(
        await httpsRequest(browseAt.main + new URL(form.action, issuer).pathname, {
          method: 'POST',
          ca: pki.ca.certPem,
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            // The browser is on the public origin, whichever replica answers.
            origin: new URL(issuer).origin,
            cookie: cookie(),
          },
          body: new URLSearchParams({ ...form.hidden, ...fields }).toString(),
        }),
      );
    };
    const login = remember(
      await httpsRequest(
        `${browseAt.main}/authorize?client_id=${WEB}&request_uri=${encodeURIComponent(requestUri)}`,
        { ca: pki.ca.certPem },
      ),
    );
    if (login.status !== 200) throw new Error(`authorize: ${login.status} ${login.text.slice(0, 300)}`);
    const consent = await submit(login, { username: ALICE.username, password: ALICE.password });
    const done = consent.status === 303 ? consent : await submit(consent, { decision: 'approve' });
    if (done.status !== 303) throw new Error(`consent: ${done.status} ${done.text.slice(0, 300)}`);
    const code = responseParameters(String(done.headers['location'])).get('code');
    if (!code) throw new Error(`no code in ${String(done.headers['location'])}`);
    return { code, verifier };
  };
  const redeem = async (r: Replica, code: string, verifier: string) =>
    post(r, '/token', {
      ...(await assertion()),
      grant_type: 'authorization_code',
      code,
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
    });
  const refresh = async (r: Replica, refreshToken: string) =>
    post(r, '/token', { ...(await assertion()), grant_type: 'refresh_token', refresh_token: refreshToken });

  await t.test('a request_uri pushed to 1 is used at 2; its code redeemed at 2, replayed at 1', async (t) => {
    const { code, verifier } = await codeVia(one, two);
    const tokens = await redeem(two, code, verifier);
    t.equal(tokens.status, 200, `tokens issued (${String(tokens.json.error ?? 'ok')})`);
    const replay = await redeem(one, code, verifier);
    t.equal(replay.status, 400);
    t.equal(replay.json.error, 'invalid_grant');
    const after = await refresh(two, String(tokens.json.refresh_token));
    t.equal(after.status, 400, 'the replay revoked the tokens issued from the code');
    t.equal(after.json.error, 'invalid_grant');
  });

  await t.test('one client assertion is accepted once by both replicas together', async (t) => {
    const form = { ...(await assertion('jwt-client')), grant_type: 'client_credentials', scope: 'accounts' };
    t.equal((await post(one, '/token', form)).status, 200);
    const replay = await post(two, '/token', form);
    t.equal(replay.status, 401);
    t.equal(replay.json.error, 'invalid_client');
  });

  await t.test('two concurrent refreshes on two replicas: exactly one succeeds', async (t) => {
    const { code, verifier } = await codeVia(two, one);
    const tokens = await redeem(one, code, verifier);
    t.equal(tokens.status, 200, `tokens issued (${String(tokens.json.error ?? 'ok')})`);
    const rt = String(tokens.json.refresh_token);
    const [a, b] = await Promise.all([refresh(one, rt), refresh(two, rt)]);
    t.same(
      [a.status, b.status].sort(),
      [200, 400],
      `${String(a.json.error ?? 'ok')} / ${String(b.json.error ?? 'ok')}`,
    );
    const winner = a.status === 200 ? a : b;
    const next = await refresh(one, String(winner.json.refresh_token));
    t.equal(next.status, 400, "the reuse revoked the family: the winner's new refresh token is dead too");
    t.equal(next.json.error, 'invalid_grant');
  });
});
