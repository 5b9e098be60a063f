/**
 * The whole authorization code flow in Debian chromium: PAR by the client, then the end-user's browser
 * at the authorization endpoint, the login and consent pages (approve and deny), and every response
 * mode back to the client's HTTPS loopback callback; the client then redeems the code over mTLS.
 * Screenshots of the login and consent pages go to test-artifacts/ for review.
 */
import t from 'tap';
import { createLocalJWKSet, decodeJwt, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { leftHalfHash } from '../../../src/issuer/tokens/id-token.js';
import { artifactPath, freshContext, launchChromium } from '../../helpers/browser.js';
import { startCallbackServer, type CallbackServer } from '../../helpers/callback-server.js';
import {
  ALICE,
  BOB,
  WEB_CLIENT_ID,
  startCodeFlowIssuer,
  type CodeFlowIssuer,
} from '../../helpers/code-flow.js';
import { testPki } from '../../helpers/pki.js';
import {
  clientSigningKey,
  pkcePair,
  signedRequestObject,
  type ClientSigningKey,
} from '../../helpers/request-objects.js';

let browser: Browser;
let as: CodeFlowIssuer;
let rp: CallbackServer;
let issuerKeys: JWTVerifyGetKey;
let hybridKey: ClientSigningKey;

t.before(async () => {
  rp = await startCallbackServer(await testPki());
  hybridKey = await clientSigningKey('PS256', 'hybrid-1');
  as = await startCodeFlowIssuer({
    webClient: {
      redirectUris: [rp.redirectUri],
      responseModes: ['jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt', 'query'],
    },
    extraClients: [
      {
        clientId: 'fapi1-hybrid',
        clientName: 'Hybrid Bank App',
        authMethod: 'tls_client_auth',
        tlsClientAuthSubjectDn: 'O=Acme,CN=client-a',
        profile: 'fapi1-advanced',
        jwks: hybridKey.jwks,
        scopes: ['openid', 'accounts'],
        redirectUris: [rp.redirectUri],
        grantTypes: ['authorization_code'],
        responseTypes: ['code id_token'],
        responseModes: ['fragment', 'form_post', 'fragment.jwt', 'form_post.jwt'],
      },
    ],
  });
  issuerKeys = createLocalJWKSet((await as.get('/jwks')).json as never);
  browser = await launchChromium();
});
t.teardown(async () => {
  await browser?.close();
  await as?.close();
  await rp?.close();
});

/** Collects CSP violations and page errors: a strict page must produce none. */
function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return problems;
}

async function startFlow(context: BrowserContext, claims: Record<string, unknown> = {}) {
  const { verifier, challenge } = pkcePair();
  const state = `state-${Math.random().toString(36).slice(2)}`;
  const res = await as.par(
    await as.requestObject({ redirect_uri: rp.redirectUri, code_challenge: challenge, state, ...claims }),
  );
  if (res.status !== 201) throw new Error(`PAR: ${res.status} ${res.text}`);
  const page = await context.newPage();
  const problems = watch(page);
  await page.goto(
    `${as.issuer.url}/authorize?client_id=${WEB_CLIENT_ID}&request_uri=${encodeURIComponent(res.json['request_uri'] as string)}`,
  );
  return { page, verifier, state, problems };
}

async function signIn(page: Page, user: { username: string; password: string } = ALICE) {
  await page.getByLabel('Username').fill(user.username);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

async function arrivedAtCallback(page: Page): Promise<URL> {
  await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { timeout: 30_000 });
  return new URL(page.url());
}

async function redeem(code: string, verifier: string) {
  return as.token({
    grant_type: 'authorization_code',
    code,
    redirect_uri: rp.redirectUri,
    code_verifier: verifier,
  });
}

t.test(
  'login and consent pages: labels, buttons, client and scopes, screenshots, phone layout',
  async (t) => {
    const context = await freshContext(browser, { phone: true });
    t.teardown(() => context.close());
    const { page, verifier, problems } = await startFlow(context, { scope: 'openid accounts' });
    await t.resolves(page.getByRole('heading', { name: 'Sign in' }).waitFor());
    t.match(await page.textContent('body'), /Acme Budgeting asks you to sign in/);
    const fitsPhone = await page.evaluate<boolean>(
      'document.documentElement.scrollWidth <= window.innerWidth',
    );
    t.ok(fitsPhone, 'no horizontal scrolling at 375 px');
    const button = await page.getByRole('button', { name: 'Sign in' }).boundingBox();
    t.ok(button && button.height >= 44, 'touch-sized button');
    await page.screenshot({ path: artifactPath('login-page.png'), fullPage: true });

    await page.getByLabel('Username').fill(ALICE.username);
    await page.getByLabel('Password').fill('wrong password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await t.resolves(page.getByRole('alert').waitFor());
    t.match(await page.getByRole('alert').textContent(), /not correct/);
    await signIn(page);

    await t.resolves(page.getByRole('heading', { name: /Allow Acme Budgeting/ }).waitFor());
    const list = await page.getByRole('list', { name: 'Requested permissions' }).textContent();
    t.match(list, /openid/);
    t.match(list, /accounts/);
    t.ok(
      await page.evaluate<boolean>('document.documentElement.scrollWidth <= window.innerWidth'),
      'consent fits a phone',
    );
    await page.screenshot({ path: artifactPath('consent-page.png'), fullPage: true });
    await page.getByRole('button', { name: 'Approve' }).click();

    const url = await arrivedAtCallback(page);
    const code = url.searchParams.get('code')!;
    t.ok(code);
    t.equal(url.searchParams.get('iss'), as.issuer.url);
    const tok = await redeem(code, verifier);
    t.equal(tok.status, 200, tok.text);
    t.same(problems, [], 'no CSP violations or script errors');
  },
);

t.test('Deny returns access_denied to the client', async (t) => {
  const context = await freshContext(browser);
  t.teardown(() => context.close());
  const { page, state } = await startFlow(context, { prompt: 'consent' });
  await signIn(page);
  await page.getByRole('button', { name: 'Deny' }).click();
  const url = await arrivedAtCallback(page);
  t.equal(url.searchParams.get('error'), 'access_denied');
  t.equal(url.searchParams.get('state'), state);
  t.equal(url.searchParams.get('code'), null);
});

t.test('each response mode through the browser', async (t) => {
  const context = await freshContext(browser);
  t.teardown(() => context.close());
  for (const mode of ['query', 'jwt', 'query.jwt', 'fragment.jwt', 'form_post.jwt'] as const) {
    const hitsBefore = rp.hits.length;
    const { page, verifier, state, problems } = await startFlow(context, {
      response_mode: mode,
      prompt: 'consent',
    });
    if (await page.getByLabel('Username').isVisible()) await signIn(page);
    await page.getByRole('button', { name: 'Approve' }).click();
    const url = await arrivedAtCallback(page);
    let code: string;
    if (mode === 'query') {
      code = url.searchParams.get('code')!;
      t.equal(url.searchParams.get('state'), state);
    } else {
      let response: string | null;
      if (mode === 'fragment.jwt') response = new URLSearchParams(url.hash.slice(1)).get('response');
      else if (mode === 'form_post.jwt') {
        const post = rp.hits.slice(hitsBefore).find((h) => h.method === 'POST');
        t.ok(post, 'form_post.jwt arrives as a POST');
        response = post?.form.get('response') ?? null;
      } else response = url.searchParams.get('response');
      t.ok(response, `${mode}: response JWT`);
      const { payload } = await jwtVerify(response!, issuerKeys, {
        issuer: as.issuer.url,
        audience: WEB_CLIENT_ID,
      });
      t.equal(payload['state'], state, `${mode}: state`);
      t.ok(payload.exp! <= Math.floor(Date.now() / 1000) + 600);
      code = payload['code'] as string;
    }
    const tok = await redeem(code, verifier);
    t.equal(tok.status, 200, `${mode}: code redeems`);
    t.same(decodeJwt(tok.json['access_token'] as string)['cnf'], { 'x5t#S256': as.pki.clientA.thumbprint });
    t.same(problems, [], `${mode}: no CSP violations`);
    await page.close();
  }
});

t.test('signed-in session: consent remembered, no pages; essential acr refused for bob', async (t) => {
  const context = await freshContext(browser);
  t.teardown(() => context.close());
  const first = await startFlow(context);
  await signIn(first.page);
  if (
    await first.page
      .getByRole('button', { name: 'Approve' })
      .isVisible()
      .catch(() => false)
  )
    await first.page.getByRole('button', { name: 'Approve' }).click();
  await arrivedAtCallback(first.page);
  const second = await startFlow(context);
  const url = await arrivedAtCallback(second.page);
  t.ok(url.searchParams.get('code'), 'straight back with a code');

  const bobContext = await freshContext(browser);
  t.teardown(() => bobContext.close());
  const bob = await startFlow(bobContext, {
    claims: { id_token: { acr: { essential: true, values: [ALICE.acr] } } },
  });
  await signIn(bob.page, BOB);
  const denied = await arrivedAtCallback(bob.page);
  t.equal(denied.searchParams.get('error'), 'access_denied');
});

t.test(
  'FAPI 1 Advanced hybrid through the browser: fragment and form_post with a detached-signature ID token',
  async (t) => {
    const context = await freshContext(browser);
    t.teardown(() => context.close());
    for (const mode of ['fragment', 'form_post'] as const) {
      const { verifier, challenge } = pkcePair();
      const state = `hybrid-${mode}`;
      const request = await signedRequestObject({
        key: hybridKey,
        clientId: 'fapi1-hybrid',
        audience: as.issuer.url,
        claims: {
          client_id: 'fapi1-hybrid',
          response_type: 'code id_token',
          response_mode: mode,
          redirect_uri: rp.redirectUri,
          scope: 'openid accounts',
          state,
          nonce: `nonce-${mode}`,
          code_challenge: challenge,
          code_challenge_method: 'S256',
          prompt: 'consent',
        },
      });
      const par = await as.postForm(
        '/par',
        { client_id: 'fapi1-hybrid', request },
        { credential: as.pki.clientA },
      );
      t.equal(par.status, 201, par.text);
      const hitsBefore = rp.hits.length;
      const page = await context.newPage();
      const problems = watch(page);
      await page.goto(
        `${as.issuer.url}/authorize?client_id=fapi1-hybrid&request_uri=${encodeURIComponent(par.json['request_uri'] as string)}`,
      );
      if (await page.getByLabel('Username').isVisible()) await signIn(page);
      await t.resolves(page.getByRole('heading', { name: /Allow Hybrid Bank App/ }).waitFor());
      await page.getByRole('button', { name: 'Approve' }).click();
      const url = await arrivedAtCallback(page);
      let params: URLSearchParams;
      if (mode === 'fragment') params = new URLSearchParams(url.hash.slice(1));
      else {
        await page.waitForLoadState();
        const post = rp.hits.slice(hitsBefore).find((h) => h.method === 'POST');
        t.ok(post, 'form_post arrives as a POST (auto-submitted by the nonce-bound script)');
        params = post?.form ?? new URLSearchParams();
      }
      t.equal(params.get('state'), state);
      t.equal(params.get('iss'), as.issuer.url);
      const code = params.get('code')!;
      const { payload: id } = await jwtVerify(params.get('id_token')!, issuerKeys, {
        issuer: as.issuer.url,
        audience: 'fapi1-hybrid',
      });
      t.equal(id['c_hash'], leftHalfHash(code, 'PS256'), `${mode}: c_hash`);
      t.equal(id['s_hash'], leftHalfHash(state, 'PS256'), `${mode}: s_hash`);
      t.equal(id['nonce'], `nonce-${mode}`);
      const tok = await as.postForm(
        '/token',
        {
          grant_type: 'authorization_code',
          code,
          redirect_uri: rp.redirectUri,
          code_verifier: verifier,
          client_id: 'fapi1-hybrid',
        },
        { credential: as.pki.clientA },
      );
      t.equal(tok.status, 200, `${mode}: code redeems`);
      t.same(problems, [], `${mode}: no CSP violations`);
      await page.close();
    }
  },
);
