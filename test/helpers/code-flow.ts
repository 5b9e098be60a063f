/**
 * The authorization code flow from the client's side, for tests: a test issuer with a FAPI web client
 * (`acme-web`, private_key_jwt, request objects signed with the same key) and two end-users, PAR with a
 * signed request object, a cookie-keeping "browser" for the login and consent forms without chromium,
 * and the token request over mTLS.
 */
import { randomBytes } from 'node:crypto';
import type { JWTPayload } from 'jose';
import {
  ASSERTION_TYPE,
  clientAssertion,
  httpsRequest,
  startTestIssuer,
  type HttpsResponse,
  type TestIssuer,
  type TestIssuerOptions,
} from './issuer.js';
import { clientSigningKey, pkcePair, signedRequestObject, type ClientSigningKey } from './request-objects.js';
import type { TestCredential } from './pki.js';

export const WEB_CLIENT_ID = 'acme-web';
export const REDIRECT_URI = 'https://client.example/cb';
export const ALICE = { username: 'alice', password: 'alice-password-1', acr: 'urn:example:acr:strong' };
export const BOB = { username: 'bob', password: 'bob-password-1' };

export interface CodeFlowIssuer extends TestIssuer {
  webKey: ClientSigningKey;
  /** Client assertion (private_key_jwt) for `acme-web`. */
  assertion(clientId?: string): Promise<Record<string, string>>;
  /** Signs a request object for `acme-web` with defaults for every required parameter. */
  requestObject(
    claims?: JWTPayload,
    opts?: {
      lifetimeSeconds?: number;
      now?: number;
      key?: ClientSigningKey;
      header?: Record<string, unknown>;
    },
  ): Promise<string>;
  /** POST /par with the client assertion and `request`. */
  par(request: string, extra?: Record<string, string>): Promise<HttpsResponse>;
  /** POST /token over mTLS with the client certificate (client A by default). */
  token(params: Record<string, string>, credential?: TestCredential | null): Promise<HttpsResponse>;
}

export function webClient(
  key: ClientSigningKey,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    clientId: WEB_CLIENT_ID,
    clientName: 'Acme Budgeting',
    authMethod: 'private_key_jwt',
    jwks: key.jwks,
    scopes: ['openid', 'accounts', 'profile', 'email'],
    redirectUris: [REDIRECT_URI],
    grantTypes: ['authorization_code', 'refresh_token'],
    responseTypes: ['code'],
    responseModes: ['jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt', 'query'],
    authorizationSignedResponseAlg: 'PS256',
    requestObjectSigningAlg: 'PS256',
    requirePushedAuthorizationRequests: true,
    idTokenSignedResponseAlg: 'PS256',
    ...overrides,
  };
}

export async function startCodeFlowIssuer(
  opts: TestIssuerOptions & {
    webClient?: Record<string, unknown>;
    extraClients?: Record<string, unknown>[];
  } = {},
): Promise<CodeFlowIssuer> {
  const webKey = await clientSigningKey('PS256', 'acme-web-1');
  const issuer = await startTestIssuer({
    ...opts,
    clients: [webClient(webKey, opts.webClient), ...(opts.extraClients ?? []), ...(opts.clients ?? [])],
    config: {
      users: [
        { ...ALICE, claims: { name: 'Alice Doe', email: 'alice@example.com' } },
        { ...BOB, claims: { name: 'Bob Roe' } },
      ],
      ...opts.config,
    },
  });
  const self: CodeFlowIssuer = {
    ...issuer,
    webKey,
    async assertion(clientId = WEB_CLIENT_ID) {
      return {
        client_assertion_type: ASSERTION_TYPE,
        client_assertion: await clientAssertion({
          clientId,
          audience: issuer.issuer.url,
          key: webKey.privateKey,
          kid: webKey.kid,
        }),
      };
    },
    requestObject(claims = {}, o = {}) {
      return signedRequestObject({
        key: o.key ?? webKey,
        clientId: WEB_CLIENT_ID,
        audience: issuer.issuer.url,
        claims: defaultAuthorizationParameters(claims),
        ...(o.lifetimeSeconds !== undefined ? { lifetimeSeconds: o.lifetimeSeconds } : {}),
        ...(o.now !== undefined ? { now: o.now } : {}),
        ...(o.header ? { header: o.header } : {}),
      });
    },
    async par(request, extra = {}) {
      return issuer.postForm('/par', { ...(await self.assertion()), request, ...extra });
    },
    async token(params, credential) {
      return issuer.postForm(
        '/token',
        { ...(await self.assertion()), ...params },
        credential === null ? {} : { credential: credential ?? issuer.pki.clientA },
      );
    },
  };
  return self;
}

/** Every parameter a FAPI 2 code request needs, with a fresh state, nonce and PKCE pair. */
export function defaultAuthorizationParameters(overrides: JWTPayload = {}): JWTPayload {
  return {
    client_id: WEB_CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid accounts',
    state: randomBytes(12).toString('base64url'),
    nonce: randomBytes(12).toString('base64url'),
    code_challenge: pkcePair().challenge,
    code_challenge_method: 'S256',
    ...overrides,
  };
}

/** A minimal browser: keeps the issuer's cookies and follows nothing automatically. */
export class FormBrowser {
  cookies = new Map<string, string>();
  /** `localAddress`: connect from this address (another 127.x address is another source). */
  constructor(
    readonly issuer: TestIssuer,
    readonly localAddress?: string,
  ) {}

  private remember(res: HttpsResponse): void {
    const set = res.headers['set-cookie'];
    for (const line of Array.isArray(set) ? set : set ? [set] : []) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      if (/Max-Age=0/i.test(line)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  private cookieHeader(): Record<string, string> {
    return this.cookies.size ? { cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ') } : {};
  }
  async get(pathAndQuery: string): Promise<HttpsResponse> {
    const res = await httpsRequest(this.issuer.issuer.url + pathAndQuery, {
      ca: this.issuer.pki.ca.certPem,
      headers: this.cookieHeader(),
      ...(this.localAddress !== undefined && { localAddress: this.localAddress }),
    });
    this.remember(res);
    return res;
  }
  async post(
    pathname: string,
    form: Record<string, string>,
    headers: Record<string, string> = {},
  ): Promise<HttpsResponse> {
    const res = await httpsRequest(this.issuer.issuer.url + pathname, {
      ca: this.issuer.pki.ca.certPem,
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        origin: new URL(this.issuer.issuer.url).origin,
        ...this.cookieHeader(),
        ...headers,
      },
      body: new URLSearchParams(form).toString(),
      ...(this.localAddress !== undefined && { localAddress: this.localAddress }),
    });
    this.remember(res);
    return res;
  }
  /** Submits the page's first form (hidden fields kept) with `fields` added. */
  async submit(page: HttpsResponse, fields: Record<string, string>): Promise<HttpsResponse> {
    const form = parseForm(page.text);
    return this.post(new URL(form.action, this.issuer.issuer.url).pathname, { ...form.hidden, ...fields });
  }
}

export function parseForm(html: string): { action: string; hidden: Record<string, string> } {
  const action = /<form[^>]*action="([^"]*)"/.exec(html)?.[1];
  if (!action) throw new Error(`no form in page: ${html.slice(0, 300)}`);
  const hidden: Record<string, string> = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g))
    hidden[m[1]!] = m[2]!
      .replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'")
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&amp;/g, '&');
  return { action, hidden };
}

/** The parameters of an authorization response redirect (query or fragment). */
export function responseParameters(location: string): URLSearchParams {
  const url = new URL(location);
  return url.hash ? new URLSearchParams(url.hash.slice(1)) : url.searchParams;
}
