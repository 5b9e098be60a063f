/**
 * The demo's "customer journey": a small relying party (a budgeting app, client `acme-web`) served over
 * HTTPS by the demo. "Start" pushes a signed request object with PKCE to the issuer's PAR endpoint
 * (private_key_jwt + the client certificate), sends the browser to the authorization endpoint, verifies
 * the JARM response (signature, iss, aud, exp, state), redeems the code over mTLS (the access token is
 * bound to the client certificate), checks the ID token (nonce, at_hash), and calls the banking API
 * through the gateway with the bound token and the same certificate, showing each step's result.
 */
import { createHash, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { SignJWT, createLocalJWKSet, decodeJwt, jwtVerify, type JWK } from 'jose';
import type { ClientConfig } from '../issuer/config.js';
import {
  html,
  renderErrorPage,
  renderPage,
  type PageResponse,
  type SafeHtml,
} from '../issuer/pages/index.js';
import { leftHalfHash } from '../issuer/tokens/id-token.js';

export const JOURNEY_CLIENT_ID = 'acme-web';

/** The demo's end-user (development only: a password in a config file). */
export const JOURNEY_USER = {
  username: 'alice',
  password: 'alice-demo-password',
  claims: { name: 'Alice Doe', email: 'alice@example.com' },
  acr: 'urn:example:acr:strong',
};

export interface CustomerJourneyOptions {
  host?: string;
  port?: number;
  /** HTTPS server certificate and key (PEM) of the relying party. */
  tls: { cert: string; key: string };
  /** CA (PEM) that issued the issuer's and the gateway's server certificates. */
  ca: string;
  /** The issuer identifier (discovery is read from it); a function when known only after start. */
  issuer: string | (() => string);
  /** Base URL of the gateway in front of the banking API. */
  apiBaseUrl: string | (() => string);
  /** The client's private_key_jwt / request object key (PS256) and its kid. */
  signingKey: KeyObject;
  kid: string;
  /** The client certificate (PEM) for mTLS: token binding at the issuer, presentation at the gateway. */
  clientCert: { cert: string; key: string };
  clientId?: string;
  /** API paths shown after sign-in. */
  apiPaths?: string[];
}

export interface CustomerJourney {
  url: string;
  redirectUri: string;
  close(): Promise<void>;
}

/** The issuer registration of the journey's client (add it to the issuer configuration). */
export function customerJourneyClient(opts: {
  redirectUri: string;
  jwksFile: string;
  clientId?: string;
}): Record<string, unknown> {
  return {
    clientId: opts.clientId ?? JOURNEY_CLIENT_ID,
    clientName: 'Acme Budgeting',
    authMethod: 'private_key_jwt',
    jwksFile: opts.jwksFile,
    scopes: ['openid', 'accounts'],
    redirectUris: [opts.redirectUri],
    grantTypes: ['authorization_code', 'refresh_token'],
    responseTypes: ['code'],
    responseModes: ['jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt', 'query'],
    authorizationSignedResponseAlg: 'PS256',
    requestObjectSigningAlg: 'PS256',
    requirePushedAuthorizationRequests: true,
    idTokenSignedResponseAlg: 'PS256',
  } satisfies Partial<Record<keyof ClientConfig, unknown>>;
}

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: Record<string, unknown> | undefined;
}

/** One HTTPS request trusting only the demo CA, optionally presenting the client certificate. */
function request(
  url: string,
  opts: {
    ca: string;
    method?: string;
    form?: Record<string, string>;
    headers?: Record<string, string>;
    cert?: { cert: string; key: string };
  },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
    const req = https.request(
      url,
      {
        method: opts.method ?? (body ? 'POST' : 'GET'),
        ca: opts.ca,
        ...(opts.cert ? { cert: opts.cert.cert, key: opts.cert.key } : {}),
        headers: {
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...opts.headers,
        },
        timeout: 10_000,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: Record<string, unknown> | undefined;
          try {
            json = JSON.parse(text) as Record<string, unknown>;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${url} did not answer in time`)));
    req.on('error', reject);
    req.end(body);
  });
}

interface Journey {
  state: string;
  nonce: string;
  verifier: string;
  createdAt: number;
}

interface Metadata {
  issuer: string;
  authorization_endpoint: string;
  pushed_authorization_request_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  mtls_endpoint_aliases?: Record<string, string>;
}

const COOKIE = '__Host-acme-journey';

function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

function step(title: string, ok: boolean, detail: SafeHtml | string): SafeHtml {
  return html`<section>
    <h2>${ok ? '✔' : '✘'} ${title}</h2>
    ${detail}
  </section>`;
}

export async function startCustomerJourney(opts: CustomerJourneyOptions): Promise<CustomerJourney> {
  const clientId = opts.clientId ?? JOURNEY_CLIENT_ID;
  const issuerUrl = () => (typeof opts.issuer === 'function' ? opts.issuer() : opts.issuer);
  const apiBase = () => (typeof opts.apiBaseUrl === 'function' ? opts.apiBaseUrl() : opts.apiBaseUrl);
  const apiPaths = opts.apiPaths ?? ['/accounts', '/accounts/acc-001/balances'];
  const journeys = new Map<string, Journey>();
  let metadata: Metadata | undefined;
  let base = '';

  const discover = async (): Promise<Metadata> => {
    if (metadata) return metadata;
    const res = await request(`${issuerUrl()}/.well-known/openid-configuration`, { ca: opts.ca });
    if (res.status !== 200 || !res.json) throw new Error(`issuer discovery answered ${res.status}`);
    return (metadata = res.json as unknown as Metadata);
  };
  const mtls = (m: Metadata, name: 'token_endpoint' | 'pushed_authorization_request_endpoint') =>
    m.mtls_endpoint_aliases?.[name] ?? m[name];
  const assertion = async (m: Metadata) => ({
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await new SignJWT({})
      .setProtectedHeader({ alg: 'PS256', kid: opts.kid })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(m.issuer)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(randomUUID())
      .sign(opts.signingKey),
  });

  const startPage = (): PageResponse =>
    renderPage({
      title: 'Acme Budgeting',
      body: html`<h1>Acme Budgeting</h1>
        <p>
          A relying party of the demo. <strong>Start</strong> runs the FAPI customer journey: PAR with a
          signed request object and PKCE, sign-in and consent at the issuer, a JARM response, a
          certificate-bound token, then the bank's API through the gateway.
        </p>
        <p class="muted">
          Sign in as <code>${JOURNEY_USER.username}</code> / <code>${JOURNEY_USER.password}</code>.
        </p>
        <form method="post" action="/start">
          <div class="actions"><button class="primary" type="submit">Start</button></div>
        </form>`,
      // The form's answer redirects to the issuer: CSP form-action covers redirects after a submission.
      formTargets: [new URL(issuerUrl()).origin],
    });

  const begin = async (): Promise<PageResponse> => {
    const m = await discover();
    const verifier = randomBytes(32).toString('base64url');
    const journey: Journey = {
      state: randomBytes(16).toString('base64url'),
      nonce: randomBytes(16).toString('base64url'),
      verifier,
      createdAt: Date.now(),
    };
    const requestObject = await new SignJWT({
      client_id: clientId,
      response_type: 'code',
      response_mode: 'query.jwt',
      redirect_uri: `${base}/callback`,
      scope: 'openid accounts',
      state: journey.state,
      nonce: journey.nonce,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    })
      .setProtectedHeader({ alg: 'PS256', kid: opts.kid, typ: 'oauth-authz-req+jwt' })
      .setIssuer(clientId)
      .setAudience(m.issuer)
      .setIssuedAt()
      .setNotBefore('0s')
      .setExpirationTime('5m')
      .setJti(randomUUID())
      .sign(opts.signingKey);
    const par = await request(mtls(m, 'pushed_authorization_request_endpoint'), {
      ca: opts.ca,
      cert: opts.clientCert,
      form: { ...(await assertion(m)), client_id: clientId, request: requestObject },
    });
    if (par.status !== 201 || typeof par.json?.['request_uri'] !== 'string')
      return renderErrorPage({
        status: 502,
        error: 'par_failed',
        description: `PAR answered ${par.status}: ${par.text.slice(0, 300)}`,
      });
    const id = randomBytes(32).toString('base64url');
    for (const [key, j] of journeys) if (Date.now() - j.createdAt > 600_000) journeys.delete(key);
    journeys.set(id, journey);
    const location = `${m.authorization_endpoint}?${new URLSearchParams({ client_id: clientId, request_uri: par.json['request_uri'] }).toString()}`;
    return {
      status: 303,
      headers: {
        Location: location,
        'Set-Cookie': `${COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=600`,
        'Cache-Control': 'no-store',
      },
      body: '',
    };
  };

  const finish = async (query: URLSearchParams, cookie: string | undefined): Promise<PageResponse> => {
    const id = /(?:^|;\s*)__Host-acme-journey=([A-Za-z0-9_-]+)/.exec(cookie ?? '')?.[1];
    const journey = id ? journeys.get(id) : undefined;
    if (id) journeys.delete(id);
    if (!journey)
      return renderErrorPage({
        status: 400,
        error: 'no_journey',
        description: 'No journey in progress in this browser. Start again.',
      });
    const m = await discover();
    const steps: SafeHtml[] = [];
    const jwks = await request(m.jwks_uri, { ca: opts.ca });
    const keys = createLocalJWKSet(jwks.json as unknown as { keys: JWK[] });
    const response = query.get('response');
    if (!response)
      return renderErrorPage({
        status: 400,
        error: 'no_response',
        description: 'The callback carries no JARM response.',
      });
    let jarm;
    try {
      jarm = (await jwtVerify(response, keys, { issuer: m.issuer, audience: clientId, maxTokenAge: '10m' }))
        .payload;
    } catch (err) {
      return renderErrorPage({
        status: 400,
        error: 'jarm_invalid',
        description: `The JARM response did not verify: ${(err as Error).message}`,
      });
    }
    if (jarm['state'] !== journey.state)
      return renderErrorPage({
        status: 400,
        error: 'state_mismatch',
        description: 'The response state is not this journey’s.',
      });
    steps.push(
      step(
        'JARM response verified (signature, iss, aud, exp, state)',
        true,
        html`<pre>${pretty(jarm)}</pre>`,
      ),
    );
    if (typeof jarm['error'] === 'string')
      return renderPage({
        title: 'Journey ended',
        body: html`<h1>The bank said no</h1>
          ${steps}
          <p><a href="/">Start again</a></p>`,
      });

    const token = await request(mtls(m, 'token_endpoint'), {
      ca: opts.ca,
      cert: opts.clientCert,
      form: {
        ...(await assertion(m)),
        grant_type: 'authorization_code',
        code: String(jarm['code']),
        redirect_uri: `${base}/callback`,
        code_verifier: journey.verifier,
      },
    });
    const accessToken = token.json?.['access_token'];
    if (token.status !== 200 || typeof accessToken !== 'string') {
      steps.push(step('Token request', false, html`<pre>${token.text}</pre>`));
    } else {
      const at = decodeJwt(accessToken);
      steps.push(
        step(
          'Certificate-bound access token (RFC 8705)',
          true,
          html`<pre>
${pretty({ scope: token.json?.['scope'], sub: at.sub, client_id: at['client_id'], cnf: at['cnf'], exp: at.exp })}</pre>`,
        ),
      );
      try {
        const id = (
          await jwtVerify(String(token.json?.['id_token']), keys, { issuer: m.issuer, audience: clientId })
        ).payload;
        const ok = id['nonce'] === journey.nonce && id['at_hash'] === leftHalfHash(accessToken, 'PS256');
        steps.push(
          step(
            'ID token (nonce and at_hash checked)',
            ok,
            html`<pre>
${pretty({ sub: id.sub, acr: id['acr'], auth_time: id['auth_time'], nonce_ok: id['nonce'] === journey.nonce, at_hash: id['at_hash'] })}</pre>`,
          ),
        );
      } catch (err) {
        steps.push(step('ID token', false, (err as Error).message));
      }
      for (const path of apiPaths) {
        const api = await request(`${apiBase()}${path}`, {
          ca: opts.ca,
          cert: opts.clientCert,
          headers: { authorization: `Bearer ${accessToken}`, 'x-fapi-interaction-id': randomUUID() },
        });
        steps.push(
          step(
            `GET ${path} through the gateway: ${api.status}`,
            api.status === 200,
            html`<pre>${api.json ? pretty(api.json) : api.text}</pre>`,
          ),
        );
      }
    }
    return renderPage({
      title: 'Your accounts',
      body: html`<h1>Acme Budgeting: your accounts</h1>
        ${steps}
        <p><a href="/">Start again</a></p>`,
    });
  };

  const server = https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://rp.invalid');
    const run = async (): Promise<PageResponse> => {
      if (req.method === 'GET' && url.pathname === '/') return startPage();
      if (req.method === 'POST' && url.pathname === '/start') return begin();
      if (req.method === 'GET' && url.pathname === '/callback')
        return finish(url.searchParams, req.headers.cookie);
      return renderErrorPage({ status: 404, error: 'not_found', description: 'No such page.' });
    };
    req.resume();
    run()
      .catch((err: unknown) =>
        renderErrorPage({
          status: 502,
          error: 'journey_failed',
          description: `The journey failed: ${(err as Error).message}`,
        }),
      )
      .then(
        (page) => {
          res.writeHead(page.status, { ...page.headers, 'Content-Length': Buffer.byteLength(page.body) });
          res.end(page.body);
        },
        () => res.destroy(),
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  // 127.0.0.1, not localhost: cookies are per host, not per port, so the relying party must not share a
  // host name with the issuer (whose session cookie it would otherwise receive).
  base = `https://127.0.0.1:${port}`;
  return {
    url: base,
    redirectUri: `${base}/callback`,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
