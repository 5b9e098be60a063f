// test:unit: pure functions over real keys and values; no sockets, processes or browsers.
import t from 'tap';
import { normalisePath, matchRoute, compileRoutes } from '../../src/gateway/routes.js';
import { isImfFixdate, isUuid } from '../../src/gateway/checks/fapi-headers.js';
import { classifyHandshakeFailure } from '../../src/tls/handshake-failures.js';
import { claimsProblem } from '../../src/gateway/tokens/jwt-claims.js';
import { verifiedTokenFromPayload } from '../../src/gateway/tokens/verified-token.js';
import { bearerChallenge } from '../../src/gateway/responses.js';
import { reject } from '../../src/gateway/rejections.js';
import { routeSchema } from '../../src/gateway/config.js';

t.test('path normalisation (RFC 3986 §5.2.4) and refusals', (t) => {
  const ok = (p: string) => {
    const r = normalisePath(p);
    return r.ok ? r.path : `refused`;
  };
  t.equal(ok('/accounts'), '/accounts');
  t.equal(ok('/accounts/'), '/accounts/');
  t.equal(ok('//accounts//1'), '/accounts/1');
  t.equal(ok('/a/./b/../c'), '/a/c');
  t.equal(ok('/a/b/..'), '/a');
  t.equal(ok('/%7Euser/%41'), '/~user/A');
  t.equal(ok('/..'), 'refused');
  t.equal(ok('/a/../../b'), 'refused');
  for (const bad of [
    '/a%2fb',
    '/a%2Fb',
    '/%2e%2e/x',
    '/a%5cb',
    '/a\\b',
    '/a%00',
    'accounts',
    '*',
    'http://x/a',
  ]) {
    t.equal(ok(bad), 'refused', bad);
  }
  t.end();
});

t.test('route matching: whole segments, first match, 405 with the union of methods', (t) => {
  const routes = compileRoutes(
    [
      { path: '/payments', methods: ['POST'], scopes: ['payments'] },
      { path: '/payments/', methods: ['GET'], scopes: ['read'] },
      { path: '/', methods: ['GET'], scopes: [] },
    ].map((r) => routeSchema.parse(r)),
  );
  t.match(matchRoute(routes, '/payments/1', 'POST'), { kind: 'matched', route: { label: '/payments' } });
  t.match(matchRoute(routes, '/payments', 'GET'), { kind: 'matched', route: { label: '/payments/' } });
  t.match(matchRoute(routes, '/paymentsX', 'GET'), { kind: 'matched', route: { label: '/' } });
  t.match(matchRoute(routes, '/payments', 'DELETE'), { kind: 'method_not_allowed', allow: ['POST', 'GET'] });
  t.match(matchRoute(compileRoutes([routeSchema.parse({ path: '/a' })]), '/b', 'GET'), {
    kind: 'not_found',
  });
  t.end();
});

t.test('FAPI header formats', (t) => {
  t.ok(isUuid('AbCdEf01-2345-6789-abcd-ef0123456789'));
  t.notOk(isUuid('abcdef01-2345-6789-abcd-ef012345678'));
  t.ok(isImfFixdate('Sun, 06 Nov 1994 08:49:37 GMT'));
  t.notOk(isImfFixdate('Sunday, 06-Nov-94 08:49:37 GMT'), 'RFC 850 form');
  t.notOk(isImfFixdate('Sun Nov  6 08:49:37 1994'), 'asctime form');
  t.notOk(isImfFixdate('Mon, 06 Nov 1994 08:49:37 GMT'), 'wrong weekday');
  t.notOk(isImfFixdate('Sun, 06 Nov 1994 25:49:37 GMT'), 'impossible hour');
  t.end();
});

t.test('handshake failure classification', (t) => {
  const e = (code: string, message = '') => Object.assign(new Error(message), { code });
  t.equal(classifyHandshakeFailure(e('ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')), 'no_certificate');
  t.equal(classifyHandshakeFailure(e('ERR_SSL_UNSUPPORTED_PROTOCOL')), 'protocol_version');
  t.equal(classifyHandshakeFailure(e('ERR_SSL_NO_SHARED_CIPHER')), 'cipher');
  t.equal(classifyHandshakeFailure(e('ECONNRESET', 'socket hang up')), 'other');
  t.end();
});

t.test('header and claim rules: one reason each', (t) => {
  const now = 1_700_000_000;
  const policy = {
    issuer: 'https://issuer',
    audience: ['https://api', 'https://other'],
    clockSkewSeconds: 30,
  };
  const header = { alg: 'ES256', typ: 'at+jwt' };
  const good = { iss: 'https://issuer', aud: 'https://api', exp: now + 60, iat: now, nbf: now };
  const problem = (h: Record<string, unknown>, p: Record<string, unknown>) =>
    claimsProblem(h, p, policy, now)?.reason;
  t.equal(problem(header, good), undefined, 'a good token');
  t.equal(problem({ ...header, typ: 'Application/AT+JWT' }, good), undefined, 'typ is case-insensitive');
  t.equal(problem({ ...header, typ: 'JWT' }, good), 'token_type');
  t.equal(problem({ alg: 'ES256' }, good), 'token_type', 'typ missing');
  t.equal(problem(header, { ...good, exp: undefined }), 'token_claims', 'exp missing');
  t.equal(problem(header, { ...good, aud: undefined }), 'token_claims', 'aud missing');
  t.equal(problem(header, { ...good, iss: 'https://evil' }), 'token_issuer');
  t.equal(
    problem(header, { ...good, aud: ['https://x', 'https://other'] }),
    undefined,
    'aud array, one accepted',
  );
  t.equal(problem(header, { ...good, aud: ['https://x'] }), 'token_audience');
  t.equal(problem(header, { ...good, aud: 42 }), 'token_audience');
  t.equal(problem(header, { ...good, exp: 'tomorrow' }), 'token_claims', 'exp not a number');
  t.equal(problem(header, { ...good, nbf: 'now' }), 'token_claims', 'nbf not a number');
  t.equal(problem(header, { ...good, exp: now - 31 }), 'token_expired', 'beyond the skew');
  t.equal(problem(header, { ...good, exp: now - 29 }), undefined, 'within the skew');
  t.equal(problem(header, { ...good, nbf: now + 31 }), 'token_not_yet_valid');
  t.equal(problem(header, { ...good, nbf: now + 29 }), undefined, 'nbf within the skew');
  t.end();
});

t.test('verified token facts', (t) => {
  const now = 1_700_000_000;
  const base = { client_id: 'c', sub: 's', exp: now + 60, iat: now, scope: 'a  b', cnf: { 'x5t#S256': 'T' } };
  t.match(verifiedTokenFromPayload(base, now, 5), {
    clientId: 'c',
    binding: { kind: 'mtls', x5t: 'T' },
    scopes: new Set(['a', 'b']),
  });
  t.match(verifiedTokenFromPayload({ ...base, scope: ['a'] }, now, 5), { reason: 'token_claims' });
  t.match(verifiedTokenFromPayload({ ...base, sub: undefined }, now, 5), { reason: 'token_claims' });
  t.match(verifiedTokenFromPayload({ ...base, iat: now + 6 }, now, 5), { reason: 'token_not_yet_valid' });
  t.match(verifiedTokenFromPayload({ ...base, cnf: 'T' }, now, 5), { binding: undefined });
  t.match(verifiedTokenFromPayload({ ...base, cnf: { jkt: 'K' } }, now, 5), {
    binding: { kind: 'dpop', jkt: 'K' },
  });
  t.end();
});

t.test('challenges carry each attribute once and never a quote from input', (t) => {
  t.equal(bearerChallenge(reject('token_missing', 'x')), 'Bearer realm="fapi-gateway"');
  t.equal(
    bearerChallenge(reject('insufficient_scope', 'needs "more"\\', { scope: 'a b' })),
    'Bearer realm="fapi-gateway", error="insufficient_scope", error_description="needs more", scope="a b"',
  );
  t.equal(bearerChallenge(reject('route_not_found', 'x')), undefined);
  t.end();
});
