/**
 * The introspection-answer rules as a pure function: every answer either verifies a bound token, refuses
 * it with a rejection reason, or is recognised as no answer at all (the endpoint is failing). Property
 * tests: no document makes it throw, and nothing is accepted without `active: true` and a usable `cnf`.
 */
import t from 'tap';
import fc from 'fast-check';
import { interpretIntrospection } from '../../src/gateway/introspection/response.js';
import { REJECTION_REASONS } from '../../src/gateway/rejections.js';

const POLICY = { issuer: 'https://issuer.test', audience: ['https://api.test'], clockSkewSeconds: 5 };
const NOW = 1_800_000_000;

const good = (extra: Record<string, unknown> = {}) => ({
  active: true,
  iss: POLICY.issuer,
  aud: POLICY.audience[0],
  client_id: 'client-a',
  sub: 'user-1',
  scope: 'accounts payments',
  exp: NOW + 60,
  cnf: { 'x5t#S256': 'thumb' },
  ...extra,
});

t.test('an active, bound answer becomes a verified token with its binding', (t) => {
  const mtls = interpretIntrospection(good(), POLICY, NOW);
  t.equal(mtls.kind, 'active');
  if (mtls.kind === 'active') {
    t.same(mtls.token.binding, { kind: 'mtls', x5t: 'thumb' });
    t.equal(mtls.token.clientId, 'client-a');
    t.equal(mtls.token.subject, 'user-1');
    t.same([...mtls.token.scopes], ['accounts', 'payments']);
    t.equal(mtls.token.expiresAt, NOW + 60);
  }
  const dpop = interpretIntrospection(good({ cnf: { jkt: 'jwk-thumb' } }), POLICY, NOW);
  t.ok(
    dpop.kind === 'active' && dpop.token.binding?.kind === 'dpop' && dpop.token.binding.jkt === 'jwk-thumb',
  );
  const audList = interpretIntrospection(good({ aud: ['other', 'https://api.test'] }), POLICY, NOW);
  t.equal(audList.kind, 'active', 'aud as a list containing ours');
  const minimal = interpretIntrospection(
    { active: true, client_id: 'c', sub: 's', cnf: { 'x5t#S256': 'x' } },
    POLICY,
    NOW,
  );
  t.ok(minimal.kind === 'active' && minimal.exp === undefined, 'iss, aud, exp, scope are optional');
  t.end();
});

t.test('each refusal has its reason', (t) => {
  const cases: [string, unknown, string][] = [
    ['inactive', { active: false }, 'token_inactive'],
    ['expired beyond the skew', good({ exp: NOW - 6 }), 'token_expired'],
    ['foreign iss', good({ iss: 'https://evil.test' }), 'token_issuer'],
    ['foreign aud', good({ aud: 'https://other.test' }), 'token_audience'],
    ['aud list without ours', good({ aud: ['a', 'b'] }), 'token_audience'],
    ['nbf in the future', good({ nbf: NOW + 60 }), 'token_not_yet_valid'],
    ['exp not a number', good({ exp: '123' }), 'token_claims'],
    ['no client_id', good({ client_id: undefined }), 'token_claims'],
    ['no sub', good({ sub: '' }), 'token_claims'],
    ['scope not a string', good({ scope: ['accounts'] }), 'token_claims'],
    ['no cnf (bearer token)', good({ cnf: undefined }), 'binding_missing'],
    ['cnf without a known member', good({ cnf: { jwk: {} } }), 'binding_missing'],
    ['cnf x5t#S256 not a string', good({ cnf: { 'x5t#S256': 7 } }), 'binding_missing'],
    ['cnf with two bindings', good({ cnf: { 'x5t#S256': 'a', jkt: 'b' } }), 'token_claims'],
    ['sub not a header value', good({ sub: 'alice\r\nX-Authenticated-Subject: admin' }), 'token_claims'],
    ['client_id not a header value', good({ client_id: 'Jürgen' }), 'token_claims'],
    ['sub with a leading space (a header would drop it)', good({ sub: ' admin' }), 'token_claims'],
    ['client_id with a trailing space', good({ client_id: 'client-a ' }), 'token_claims'],
  ];
  for (const [name, doc, reason] of cases) {
    const v = interpretIntrospection(JSON.parse(JSON.stringify(doc)), POLICY, NOW);
    t.equal(v.kind === 'refused' ? v.reject.reason : v.kind, reason, name);
    if (v.kind === 'refused') t.equal(v.reject.status, REJECTION_REASONS[v.reject.reason].status);
  }
  t.equal(interpretIntrospection(good({ exp: NOW - 4 }), POLICY, NOW).kind, 'active', 'within the skew');
  t.end();
});

t.test('documents that are not introspection answers mean the endpoint is failing', (t) => {
  for (const doc of [null, 'x', 1, [], [{ active: true }], {}, { active: 'true' }, { active: 1 }]) {
    t.equal(interpretIntrospection(doc, POLICY, NOW).kind, 'invalid', JSON.stringify(doc));
  }
  t.end();
});

/** Values an endpoint (or an attacker between it and us) could put in an answer. */
const claimValue = fc.oneof(
  fc.anything(),
  fc.constantFrom(POLICY.issuer, POLICY.audience[0], [POLICY.audience[0]], NOW + 60, NOW - 60, 'client-a'),
);
const cnfValue = fc.oneof(
  fc.anything(),
  fc.record({ 'x5t#S256': fc.oneof(fc.string(), fc.anything()) }, { requiredKeys: [] }),
  fc.record({ jkt: fc.oneof(fc.string(), fc.anything()) }, { requiredKeys: [] }),
);
const answer = fc.record(
  {
    active: fc.oneof(fc.boolean(), fc.anything()),
    iss: claimValue,
    aud: claimValue,
    exp: claimValue,
    nbf: claimValue,
    client_id: claimValue,
    sub: claimValue,
    scope: fc.oneof(fc.string(), claimValue),
    cnf: cnfValue,
  },
  { requiredKeys: [] },
);

t.test('property: no document throws, nothing is accepted without active === true and a cnf', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        answer,
        fc.anything(),
        fc.json().map((j) => JSON.parse(j) as unknown),
      ),
      (doc) => {
        const v = interpretIntrospection(doc, POLICY, NOW);
        if (v.kind !== 'active') return true;
        const d = doc as Record<string, unknown>;
        const cnf = d.cnf as Record<string, unknown>;
        return (
          d.active === true &&
          typeof cnf === 'object' &&
          cnf !== null &&
          v.token.binding !== undefined &&
          (v.token.binding.kind === 'mtls'
            ? cnf['x5t#S256'] === v.token.binding.x5t
            : cnf.jkt === v.token.binding.jkt) &&
          (d.iss === undefined || d.iss === POLICY.issuer) &&
          typeof v.token.clientId === 'string' &&
          v.token.clientId !== '' &&
          (d.exp === undefined || (typeof d.exp === 'number' && d.exp > NOW - POLICY.clockSkewSeconds))
        );
      },
    ),
    { numRuns: 3000 },
  );
  t.pass('3000 documents');
  t.end();
});

t.test('property: every refusal is a known 401 reason', (t) => {
  fc.assert(
    fc.property(answer, (doc) => {
      const v = interpretIntrospection(doc, POLICY, NOW);
      return v.kind !== 'refused' || (v.reject.status === 401 && v.reject.error === 'invalid_token');
    }),
    { numRuns: 2000 },
  );
  t.pass('2000 documents');
  t.end();
});
