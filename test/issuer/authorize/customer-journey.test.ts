/**
 * The demo's customer journey as docs/code-flow.md tells it: `fapi-gateway demo` prints the relying party's
 * URL; in chromium, Start -> sign in -> Approve ends on a page showing the verified JARM response, the
 * certificate-bound token, the ID token checks and the bank API's answers through the gateway.
 */
import t from 'tap';
import { JOURNEY_USER } from '../../../src/demo/customer-journey.js';
import { artifactPath, freshContext, launchChromium } from '../../helpers/browser.js';
import { startDemo } from '../../helpers/demo.js';

t.test(
  'npm start: the customer journey runs PAR + JAR + PKCE + JARM, then the bank API through the gateway',
  async (t) => {
    const demo = await startDemo(t);
    const out = demo.out();
    const url = /customer journey (https:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1];
    t.ok(url, 'the demo prints the customer journey URL');
    t.match(out, new RegExp(`sign in as ${JOURNEY_USER.username} / ${JOURNEY_USER.password}`));

    const browser = await launchChromium();
    t.teardown(() => browser.close());
    const context = await freshContext(browser);
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    await page.goto(url!);
    await page.getByRole('button', { name: 'Start' }).click();
    await page.getByLabel('Username').fill(JOURNEY_USER.username);
    await page.getByLabel('Password').fill(JOURNEY_USER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('heading', { name: /your accounts/ }).waitFor({ timeout: 30_000 });
    const text = (await page.textContent('body')) ?? '';
    await page.screenshot({ path: artifactPath('customer-journey.png'), fullPage: true });
    t.match(text, /✔ JARM response verified/);
    t.match(text, /✔ Certificate-bound access token/);
    t.match(text, /"x5t#S256": "[A-Za-z0-9_-]{43}"/);
    t.match(text, /✔ ID token/);
    t.match(text, /"acr": "urn:example:acr:strong"/);
    t.match(text, /✔ GET \/accounts through the gateway: 200/);
    t.match(text, /"clientId": "acme-web"/);
    t.match(text, /Everyday current account/);
    t.match(text, /✔ GET \/accounts\/acc-001\/balances through the gateway: 200/);
    t.match(text, /1520\.45/);
    t.notMatch(text, /✘/);
    t.same(errors, [], 'no CSP violations or script errors');

    // Start again in the same browser: signed in and consented, the journey completes without pages.
    await page.getByRole('link', { name: 'Start again' }).click();
    await page.getByRole('button', { name: 'Start' }).click();
    await page.getByRole('heading', { name: /your accounts/ }).waitFor({ timeout: 30_000 });
    t.match((await page.textContent('body')) ?? '', /✔ GET \/accounts through the gateway: 200/);

    demo.child.kill('SIGINT');
    t.equal(await demo.exited, 0);
    t.equal(demo.err(), '', 'nothing on stderr');
  },
);
