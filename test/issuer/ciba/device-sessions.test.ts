import t from 'tap';
import { createMemoryStorage } from '../../../src/issuer/storage/memory-store.js';
import type { IssuerStorage } from '../../../src/issuer/storage/store.js';
import { ALICE, startCibaIssuer, type CibaIssuer } from '../../helpers/ciba.js';
import { FormBrowser, parseForm } from '../../helpers/code-flow.js';

/** Counts browser sessions written to the store. */
let sessionWrites = 0;
let ci: CibaIssuer;
t.before(async () => {
  ci = await startCibaIssuer({
    options: {
      storage: (config, clock): IssuerStorage => {
        const storage = createMemoryStorage({ clients: config.clients, clock });
        const put = storage.state.put.bind(storage.state);
        storage.state.put = (kind, id, value, expiresAtMs) => {
          if (kind.name === 'browser_session') sessionWrites++;
          return put(kind, id, value, expiresAtMs);
        };
        return storage;
      },
    },
  });
});
t.teardown(() => ci.close());

t.test('anonymous visits of the device page store nothing; a sign-in stores one session', async (t) => {
  const before = sessionWrites;
  for (let i = 0; i < 200; i++) {
    const page = await new FormBrowser(ci).get('/device');
    t.equal(page.status, 200);
    if (i === 0) t.match(page.text, /password/i, 'the sign-in form');
  }
  t.equal(sessionWrites, before, '200 visits without a cookie: no session stored');

  const browser = new FormBrowser(ci);
  const signIn = await browser.get('/device');
  const wrong = await browser.submit(signIn, { username: ALICE.username, password: 'wrong' });
  t.equal(wrong.status, 401);
  t.equal(sessionWrites, before, 'a failed sign-in stores nothing either');

  const ok = await browser.submit(wrong, { username: ALICE.username, password: ALICE.password });
  t.equal(ok.status, 303, ok.text.slice(0, 200));
  t.equal(sessionWrites, before + 1, 'the sign-in stores the session');
  const requests = await browser.get('/device');
  t.equal(requests.status, 200);
  t.match(requests.text, /alice/, 'signed in');
});

t.test('the sign-in form needs the cookie it was served with', async (t) => {
  const first = new FormBrowser(ci);
  const page = await first.get('/device');
  const form = parseForm(page.text);
  const other = new FormBrowser(ci);
  await other.get('/device');
  const crossed = await other.post('/device', {
    ...form.hidden,
    username: ALICE.username,
    password: ALICE.password,
  });
  t.equal(crossed.status, 403, 'the CSRF token of another browser is refused');
  const noCookie = await new FormBrowser(ci).post('/device', {
    ...form.hidden,
    username: ALICE.username,
    password: ALICE.password,
  });
  t.equal(noCookie.status, 400, 'without a cookie: start again');
});
