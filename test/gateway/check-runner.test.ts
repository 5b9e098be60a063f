// test:unit: the check runner and the verifier dispatch over plain values; no sockets.
import t from 'tap';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CheckList, runChecks } from '../../src/gateway/pipeline.js';
import { reject, type Reject } from '../../src/gateway/rejections.js';
import type { Check, Fact, RequestContext } from '../../src/gateway/request-context.js';
import { compileRoutes } from '../../src/gateway/routes.js';
import { routeSchema } from '../../src/gateway/config.js';
import { bindingCheck } from '../../src/gateway/checks/binding.js';
import { TokenVerifiers } from '../../src/gateway/tokens/verifiers.js';
import type {
  ConnectionTokenMemo,
  TokenVerifier,
  VerifiedAccessToken,
} from '../../src/gateway/tokens/verifier.js';

const verified: VerifiedAccessToken = {
  clientId: 'c',
  subject: 's',
  scope: 'a',
  scopes: new Set(['a']),
  binding: { kind: 'mtls', x5t: 'T' },
  expiresAt: Date.now() / 1000 + 60,
};

function context(mode: 'enforce' | 'report-only'): RequestContext {
  const [route] = compileRoutes([routeSchema.parse({ path: '/', mode })]);
  return {
    req: {} as IncomingMessage,
    res: {} as ServerResponse,
    connection: { tokenMemo: {} },
    certificate: { thumbprint: 'T', clientCertHeader: ':x:' },
    startedAt: 0,
    interactionId: 'i',
    path: '/',
    query: '',
    route,
  };
}

function check(
  name: string,
  requires: Fact[],
  provides: Fact[],
  result: Reject | undefined | Promise<Reject | undefined>,
  ran: string[],
  reportable = true,
): Check {
  return {
    name,
    requires,
    provides,
    reportable,
    run: (ctx) => {
      ran.push(name);
      if (name === 'token' && result === undefined) ctx.verified = verified;
      return result;
    },
  };
}

interface Outcome {
  passed: boolean;
  rejected?: Reject;
}

function run(list: CheckList, ctx: RequestContext): Promise<Outcome> {
  return new Promise((resolve, fail) =>
    runChecks(
      list,
      ctx,
      () => resolve({ passed: true }),
      (r) => resolve({ passed: false, rejected: r }),
      fail,
    ),
  );
}

t.test('report-only: failures recorded, dependent checks skipped, independent ones still run', async (t) => {
  for (const asynchronous of [false, true]) {
    const ran: string[] = [];
    const failing = reject('token_missing', 'x');
    const list = new CheckList([
      check('route', [], ['route'], undefined, ran, false),
      check('credentials', [], ['credentials'], asynchronous ? Promise.resolve(failing) : failing, ran),
      check('token', ['credentials'], ['token'], undefined, ran),
      check('scope', ['token'], ['scope'], undefined, ran),
      check('headers', [], ['headers'], reject('invalid_auth_date', 'y'), ran),
    ]);
    const ctx = context('report-only');
    t.same(await run(list, ctx), { passed: true }, `forwarded (async: ${asynchronous})`);
    t.same(ran, ['route', 'credentials', 'headers'], 'token and scope skipped, headers ran');
    t.same(
      ctx.wouldReject?.map((r) => r.reason),
      ['token_missing', 'invalid_auth_date'],
    );
    t.equal(ctx.identity, undefined, 'no identity after a failure');

    const enforced = context('enforce');
    const ranEnforced: string[] = [];
    const strict = new CheckList([
      check('credentials', [], ['credentials'], failing, ranEnforced),
      check('token', ['credentials'], ['token'], undefined, ranEnforced),
    ]);
    t.same(await run(strict, enforced), { passed: false, rejected: failing });
    t.same(ranEnforced, ['credentials']);
  }
});

t.test('report-only never relaxes a non-reportable check; a clean run sets the identity', async (t) => {
  const ran: string[] = [];
  const ctx = context('report-only');
  const tooLarge = reject('body_too_large', 'z');
  const list = new CheckList([check('body', [], ['body'], tooLarge, ran, false)]);
  t.same(await run(list, ctx), { passed: false, rejected: tooLarge });

  const clean = context('report-only');
  const ok = new CheckList([check('token', [], ['token'], undefined, [])]);
  t.same(await run(ok, clean), { passed: true });
  t.equal(clean.identity, verified);
});

t.test('a check list whose requirements no earlier check provides is refused at build time', (t) => {
  t.throws(
    () => new CheckList([check('scope', ['token'], ['scope'], undefined, [])]),
    /scope requires token/,
  );
  t.end();
});

t.test('binding: certificate per request, route policy, DPoP hook', (t) => {
  const binding = bindingCheck();
  const ctx = context('enforce');
  ctx.credentials = { scheme: 'bearer', token: 't' };
  ctx.verified = verified;
  t.equal(binding.run(ctx), undefined);
  t.match(binding.run({ ...ctx, certificate: undefined }), { reason: 'certificate_missing', status: 401 });
  t.match(binding.run({ ...ctx, certificate: { thumbprint: 'U', clientCertHeader: '' } }), {
    reason: 'binding_mismatch',
  });
  const dpopToken = { ...verified, binding: { kind: 'dpop' as const, jkt: 'K' } };
  t.match(binding.run({ ...ctx, verified: dpopToken }), { reason: 'binding_missing' }, 'mtls route');
  const [anyRoute] = compileRoutes([routeSchema.parse({ path: '/', binding: 'any' })]);
  t.match(binding.run({ ...ctx, route: anyRoute, verified: dpopToken }), { reason: 'binding_mismatch' });
  const dpopCtx = {
    ...ctx,
    route: anyRoute,
    verified: dpopToken,
    credentials: { scheme: 'dpop' as const, token: 't' },
  };
  t.match(binding.run(dpopCtx), { reason: 'binding_mismatch' }, 'no DPoP proof check registered');
  const seen: string[] = [];
  const withDpop = bindingCheck((_ctx, b) => {
    seen.push(b.jkt);
    return undefined;
  });
  t.equal(withDpop.run(dpopCtx), undefined);
  t.same(seen, ['K']);
  t.end();
});

class FakeVerifier implements TokenVerifier {
  calls: string[] = [];
  constructor(
    readonly kind: string,
    private readonly answer: VerifiedAccessToken,
  ) {}
  verify(token: string, memo?: ConnectionTokenMemo): VerifiedAccessToken {
    this.calls.push(token);
    if (memo) {
      memo.token = token;
      memo.verified = this.answer;
      memo.owner = this;
    }
    return this.answer;
  }
  ready = () => true;
  whenReady = () => Promise.resolve();
  stop = () => undefined;
}

t.test(
  'verifier dispatch: at+jwt JWS locally, anything else to the opaque verifier; memo per verifier',
  (t) => {
    const jwt = new FakeVerifier('jwt', verified);
    const opaque = new FakeVerifier('introspection', { ...verified, clientId: 'opaque' });
    // The dispatcher only needs the JWT verifier's TokenVerifier side.
    const verifiers = new TokenVerifiers(jwt as never, opaque);
    const enc = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const atJwt = `${enc({ alg: 'PS256', typ: 'at+jwt' })}.${enc({})}.sig`;
    const idToken = `${enc({ alg: 'PS256', typ: 'JWT' })}.${enc({})}.sig`;
    const memo: ConnectionTokenMemo = {};
    t.equal((verifiers.verify(atJwt, memo) as VerifiedAccessToken).clientId, 'c');
    t.equal((verifiers.verify('opaque-token', memo) as VerifiedAccessToken).clientId, 'opaque');
    t.equal((verifiers.verify(idToken, undefined) as VerifiedAccessToken).clientId, 'opaque');
    t.same(jwt.calls, [atJwt]);
    t.same(opaque.calls, ['opaque-token', idToken]);
    // A memo filled by a verifier that is no longer configured (a reload) is not trusted.
    const stale: ConnectionTokenMemo = {
      token: 'opaque-token',
      verified,
      owner: new FakeVerifier('old', verified),
    };
    verifiers.verify('opaque-token', stale);
    t.same(opaque.calls, ['opaque-token', idToken, 'opaque-token']);

    const jwtOnly = new TokenVerifiers(jwt as never, undefined);
    jwtOnly.verify('opaque-token', undefined);
    t.same(jwt.calls, [atJwt, 'opaque-token'], 'JWT-only: every token to the JWT verifier');
    t.ok(verifiers.ready());
    t.end();
  },
);
