/**
 * Guess limits across replicas: two issuers on one real redis-server (`storage.type: redis`), one frozen
 * clock. Guesses spread over both add up, a wait set through one holds at the other, and a successful
 * sign-in through one resets the count for both.
 */
import t from 'tap';
import { ALICE, BOB, FormBrowser } from '../helpers/code-flow.js';
import { startTestIssuer, type HttpsResponse, type TestIssuer } from '../helpers/issuer.js';
import { fetchText } from '../helpers/metrics-text.js';
import { startRedisServer } from '../helpers/redis-server.js';

t.test('two issuers on one Redis share the guess counts and waits', async (t) => {
  const redis = await startRedisServer();
  t.teardown(() => redis.close());
  let nowMs = Date.now();
  const start = async (): Promise<TestIssuer> => {
    const issuer = await startTestIssuer({
      config: {
        users: [
          { ...ALICE, claims: {} },
          { ...BOB, claims: {} },
        ],
        storage: { type: 'redis', redis: { url: redis.url } },
      },
      options: { clock: () => nowMs },
    });
    t.teardown(() => issuer.close());
    // Ready once its Redis connection is up (before that every page answers 503).
    const since = Date.now();
    while ((await fetchText(issuer.issuer.adminPort!, '/readyz')).status !== 200) {
      if (Date.now() - since > 30_000) throw new Error('issuer not ready');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return issuer;
  };
  const [one, two] = [await start(), await start()];
  const signIn = async (issuer: TestIssuer, password: string): Promise<HttpsResponse> => {
    const browser = new FormBrowser(issuer);
    const page = await browser.get('/device');
    return browser.submit(page, { username: ALICE.username, password });
  };

  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) statuses.push((await signIn(i % 2 === 0 ? one : two, `wrong-${i}`)).status);
  t.same(statuses, [401, 401, 401, 401, 401], 'five wrong passwords, alternating between the replicas');
  for (const [name, issuer] of [
    ['one', one],
    ['two', two],
  ] as const) {
    const res = await signIn(issuer, ALICE.password);
    t.equal(res.status, 429, `replica ${name}: the right password waits`);
    t.equal(res.headers['retry-after'], '30');
  }
  nowMs += 30_000;
  t.equal((await signIn(two, ALICE.password)).status, 303, 'after the wait, through replica two');
  // The success reset the count for both: five more wrong ones are checked again.
  for (let i = 0; i < 5; i++) t.equal((await signIn(one, `again-${i}`)).status, 401);
  t.equal((await signIn(two, ALICE.password)).status, 429, 'and the sixth waits again');

  const keys = await redis.admin().keys('*{ak:*');
  t.ok(keys.length >= 3, `guess counters in Redis: ${keys.length} keys`);
  for (const key of keys) t.ok((await redis.admin().pttl(key)) > 0, `${key} has a TTL`);
});
