// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import {
  applyDecision,
  currentStatus,
  evaluatePoll,
  recordNotificationAttempt,
  markPushed,
  type CibaRequestRecord,
} from '../../../src/issuer/ciba/pending-request.js';
import { updateRequest } from '../../../src/issuer/ciba/store.js';
import { memoryCibaStore } from '../../helpers/ciba-store.js';

const t0 = 1_800_000_000;
const record = (patch: Partial<CibaRequestRecord> = {}): CibaRequestRecord => ({
  authReqId: 'req-1',
  clientId: 'acme-ciba',
  subject: 'alice',
  scopes: ['openid', 'accounts'],
  deliveryMode: 'poll',
  createdAt: t0,
  expiresAt: t0 + 120,
  interval: 5,
  status: 'pending',
  version: 1,
  ...patch,
});

t.test('poll: pending, then slow_down when faster than the interval, which grows by 5 s', (t) => {
  const first = evaluatePoll(record(), 'acme-ciba', t0 + 1);
  t.match(first, {
    kind: 'authorization_pending',
    next: { lastPolledAtMs: (t0 + 1) * 1000, interval: 5, version: 2 },
  });
  const r1 = (first as { next: CibaRequestRecord }).next;
  const fast = evaluatePoll(r1, 'acme-ciba', t0 + 3);
  t.match(fast, { kind: 'slow_down', next: { interval: 10, lastPolledAtMs: (t0 + 3) * 1000, version: 3 } });
  const r2 = (fast as { next: CibaRequestRecord }).next;
  t.match(evaluatePoll(r2, 'acme-ciba', t0 + 12), { kind: 'slow_down' }, 'the new interval applies');
  t.match(evaluatePoll(r2, 'acme-ciba', t0 + 13), { kind: 'authorization_pending' });
  t.end();
});

t.test('poll: approved issues once, then invalid_grant; denied is access_denied', (t) => {
  const approved = record({ status: 'approved', lastPolledAtMs: (t0 + 1) * 1000 });
  const issue = evaluatePoll(approved, 'acme-ciba', t0 + 2);
  t.match(issue, { kind: 'issue', next: { status: 'consumed' } }, 'an approved request is not rate-limited');
  t.match(evaluatePoll((issue as { next: CibaRequestRecord }).next, 'acme-ciba', t0 + 9), {
    kind: 'invalid_grant',
    description: /already been used/,
  });
  t.match(evaluatePoll(record({ status: 'denied' }), 'acme-ciba', t0 + 9), { kind: 'access_denied' });
  t.end();
});

t.test('poll: unknown id, another client, push clients and expiry', (t) => {
  t.match(evaluatePoll(undefined, 'acme-ciba', t0), {
    kind: 'invalid_grant',
    description: 'unknown auth_req_id',
  });
  t.match(evaluatePoll(record(), 'other-client', t0), {
    kind: 'invalid_grant',
    description: 'unknown auth_req_id',
  });
  t.match(evaluatePoll(record({ deliveryMode: 'push' }), 'acme-ciba', t0), { kind: 'unauthorized_client' });
  const exp = evaluatePoll(record(), 'acme-ciba', t0 + 120);
  t.match(exp, { kind: 'expired_token', next: { status: 'expired' } });
  t.match(evaluatePoll(record({ status: 'approved' }), 'acme-ciba', t0 + 500), { kind: 'expired_token' });
  t.equal(currentStatus(record({ status: 'denied' }), t0 + 500), 'denied');
  t.end();
});

t.test('decision: only the request user, only while pending and unexpired', (t) => {
  t.match(applyDecision(record(), 'alice', 'approve', t0 + 5, t0 + 6), {
    kind: 'decided',
    next: { status: 'approved', decidedAt: t0 + 6, authTime: t0 + 5, version: 2 },
  });
  t.match(applyDecision(record(), 'alice', 'deny', t0, t0), { kind: 'decided', next: { status: 'denied' } });
  t.match(applyDecision(record(), 'mallory', 'approve', t0, t0), { kind: 'refused', reason: 'unknown' });
  t.match(applyDecision(undefined, 'alice', 'approve', t0, t0), { kind: 'refused', reason: 'unknown' });
  t.match(applyDecision(record({ status: 'denied' }), 'alice', 'approve', t0, t0), {
    kind: 'refused',
    reason: 'not_pending',
  });
  t.match(applyDecision(record(), 'alice', 'approve', t0, t0 + 121), { kind: 'refused', reason: 'expired' });
  t.match(markPushed(record({ status: 'approved' })), { status: 'consumed', version: 2 });
  const once = recordNotificationAttempt(record(), { delivered: false, abandoned: false, error: 'down' });
  t.match(recordNotificationAttempt(once, { delivered: false, abandoned: true, error: 'still down' }), {
    version: 3,
    notification: { attempts: 2, delivered: false, abandoned: true, lastError: 'still down' },
  });
  t.end();
});

t.test('store: compare-and-set makes redemption consume-once under concurrency', async (t) => {
  let now = t0;
  const store = memoryCibaStore(t, () => now);
  t.ok(await store.insert(record({ status: 'approved' }), t0 + 720));
  t.notOk(await store.insert(record(), t0 + 720), 'ids are unique');
  const poll = () =>
    updateRequest(store, 'req-1', (r) => {
      const o = evaluatePoll(r, 'acme-ciba', now);
      return { result: o.kind, ...('next' in o && o.next && { next: o.next }) };
    });
  const results = await Promise.all([poll(), poll(), poll(), poll()]);
  t.same(results.filter((k) => k === 'issue').length, 1, 'exactly one poll issues tokens');
  t.same(
    results.filter((k) => k !== 'issue'),
    ['invalid_grant', 'invalid_grant', 'invalid_grant'],
  );
  t.notOk(await store.replace(record({ version: 7 })), 'a stale write is refused');
  t.same(
    (await store.listBySubject('alice')).map((r) => r.authReqId),
    ['req-1'],
  );
  t.same(await store.listBySubject('bob'), []);
  now = t0 + 720;
  t.equal(await store.get('req-1'), undefined, 'gone after retention');
});

t.test('store: stored records are copies; claimOnce is single use until its expiry', async (t) => {
  let now = t0;
  const store = memoryCibaStore(t, () => now);
  const r = record();
  await store.insert(r, t0 + 100);
  r.status = 'approved';
  t.equal((await store.get('req-1'))!.status, 'pending');
  t.ok(await store.claimOnce('acme-ciba:jti-1', t0 + 60));
  t.notOk(await store.claimOnce('acme-ciba:jti-1', t0 + 60));
  now = t0 + 61;
  t.ok(await store.claimOnce('acme-ciba:jti-1', t0 + 120), 'reusable after its expiry');
});
