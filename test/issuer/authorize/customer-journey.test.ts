/**
 * The demo's customer journey end to end in chromium: the relying party pushes a signed request, the
 * user signs in and approves at the issuer, the JARM response is verified, the code is redeemed over
 * mTLS, and the bank API answers through the gateway to the certificate-bound token.
 */
import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { startBankApi } from '../../../src/demo/bank-api.js';
import {
  JOURNEY_USER,
  customerJourneyClient,
  startCustomerJourney,
  type CustomerJourney,
} from '../../../src/demo/customer-journey.js';
import { gatewayConfigSchema } from '../../../src/gateway/config.js';
import { startGateway } from '../../../src/gateway/server.js';
import { artifactPath, freshContext, launchChromium } from '../../helpers/browser.js';
import { startTestIssuer } from '../../helpers/issuer.js';
import { testPki } from '../../helpers/pki.js';
import { clientSigningKey } from '../../helpers/request-objects.js';

t.test('customer journey: PAR + JAR + PKCE + JARM, then the bank API through the gateway', async (t) => {
  const pki = await testPki();
  const key = await clientSigningKey('PS256', 'acme-web-1');
  const jwksFile = path.join(pki.dir, `acme-web-${Date.now()}.jwks.json`);
  writeFileSync(jwksFile, JSON.stringify(key.jwks));
  let issuerUrl = '';
  let gatewayUrl = '';
  const rp: CustomerJourney = await startCustomerJourney({
    tls: { cert: pki.server.certPem, key: pki.server.keyPem },
    ca: pki.ca.certPem,
    issuer: () => issuerUrl,
    apiBaseUrl: () => gatewayUrl,
    signingKey: key.privateKey,
    kid: key.kid,
    clientCert: { cert: pki.clientA.certPem, key: pki.clientA.keyPem },
    apiPaths: ['/accounts', '/accounts/acc-001/balances'],
  });
  t.teardown(() => rp.close());
  const issuer = await startTestIssuer({
    clients: [customerJourneyClient({ redirectUri: rp.redirectUri, jwksFile })],
    config: { users: [JOURNEY_USER] },
  });
  t.teardown(() => issuer.close());
  issuerUrl = issuer.issuer.url;
  const bank = await startBankApi({ port: 0 });
  t.teardown(() => bank.close());
  const gateway = await startGateway(
    gatewayConfigSchema.parse({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
      upstream: { url: bank.url },
      tokens: {
        issuer: issuerUrl,
        audience: 'https://api.example',
        jwksUri: `${issuerUrl}/jwks`,
        jwksCa: pki.ca.certFile,
      },
      routes: [{ path: '/accounts', methods: ['GET'], scopes: ['accounts'] }],
      logging: { level: 'silent' },
    }),
    { logger: pino({ level: 'silent' }), defaultMetrics: false },
  );
  t.teardown(() => gateway.close());
  await gateway.whenReady();
  gatewayUrl = `https://localhost:${gateway.listenPort}`;

  const browser = await launchChromium();
  t.teardown(() => browser.close());
  const context = await freshContext(browser);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  await page.goto(rp.url);
  await page.getByRole('button', { name: 'Start' }).click();
  await page.getByLabel('Username').fill(JOURNEY_USER.username);
  await page.getByLabel('Password').fill(JOURNEY_USER.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.getByRole('heading', { name: /your accounts/ }).waitFor({ timeout: 30_000 });
  const text = (await page.textContent('body')) ?? '';
  await page.screenshot({ path: artifactPath('customer-journey.png'), fullPage: true });
  t.match(text, /JARM response verified/);
  t.match(text, /Certificate-bound access token/);
  t.match(text, new RegExp(pki.clientA.thumbprint.replace(/[-]/g, '\\-')));
  t.match(text, /✔ ID token/);
  t.match(text, /GET \/accounts through the gateway: 200/);
  t.match(text, /Everyday current account/);
  t.match(text, /GET \/accounts\/acc-001\/balances through the gateway: 200/);
  t.match(text, /1520\.45/);
  t.notMatch(text, /✘/);
  t.same(errors, [], 'no CSP violations');
});
