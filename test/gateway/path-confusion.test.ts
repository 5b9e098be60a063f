import t from 'tap';
import fc from 'fast-check';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import { compileRoutes, matchRoute, normalisePath } from '../../src/gateway/routes.js';
import { routeSchema } from '../../src/gateway/config.js';

/**
 * Paths that a common back end resolves to a route other than the one the gateway would match:
 * Tomcat/Jetty/Spring drop `;` path parameters before resolving dot segments, and a back end that decodes
 * twice turns `%252e` into `.`.
 */
const CONFUSING_PATHS = [
  '/accounts/..;/payments',
  '/accounts/..;x=1/payments',
  '/accounts/.;/1',
  '/accounts/..%3b/payments',
  '/accounts/..%3B/payments',
  '/accounts/%252e%252e/payments',
  '/accounts/%252E%252E/payments',
  '/accounts/%252f..%252fpayments',
  '/accounts/%255c..%255cpayments',
  '/accounts/%2e%2e;/payments',
  '/accounts/%C0%AE%C0%AE/payments',
];

t.test('paths a back end could resolve differently are refused, never forwarded', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token({ claims: { scope: 'accounts payments' } });
  for (const path of CONFUSING_PATHS) {
    await t.test(path, async (t) => {
      const res = await f.request({ path, token });
      await expectRejection(t, f, res, { status: 400, error: 'invalid_request', reason: 'invalid_path' });
    });
  }
  await t.test(
    'positive control: path parameters on an ordinary segment are forwarded as sent',
    async (t) => {
      const res = await f.request({ path: '/accounts/1;v=2', token });
      t.equal(res.status, 200);
      t.equal(f.upstream.last()!.url, '/accounts/1;v=2');
    },
  );
  await t.test('positive control: an encoded percent that is not an octet is forwarded', async (t) => {
    const res = await f.request({ path: '/accounts/100%25', token });
    t.equal(res.status, 200);
    t.equal(f.upstream.last()!.url, '/accounts/100%25');
  });
});

t.test('normalisePath: pure rules', (t) => {
  for (const p of CONFUSING_PATHS) t.equal(normalisePath(p).ok, false, p);
  t.same(normalisePath('/a/b;c=1/d'), { ok: true, path: '/a/b;c=1/d' });
  t.same(normalisePath('/a/...;/b'), { ok: true, path: '/a/...;/b' });
  t.end();
});

/** Path-ish strings built from the characters that matter to path resolution. */
const pathArbitrary = fc
  .array(
    fc.constantFrom(
      '/',
      '.',
      '..',
      ';',
      '%',
      '%2e',
      '%2E',
      '%25',
      '%2f',
      '%3b',
      '%5c',
      '%41',
      '%7e',
      '%c0%ae',
      'a',
      'accounts',
      'payments',
      '\\',
      '~',
      '1',
    ),
    { maxLength: 14 },
  )
  .map((parts) => '/' + parts.join(''));

t.test('normalisePath properties (fast-check)', (t) => {
  const routes = compileRoutes(
    [{ path: '/accounts' }, { path: '/payments' }].map((r) => routeSchema.parse(r)),
  );
  fc.assert(
    fc.property(fc.oneof(pathArbitrary, fc.string({ maxLength: 40 })), (raw) => {
      const r = normalisePath(raw); // never throws
      if (!r.ok) return;
      // Idempotent: the forwarded path normalises to itself.
      const again = normalisePath(r.path);
      if (!again.ok || again.path !== r.path) throw new Error(`not idempotent: ${raw} -> ${r.path}`);
      // No dot segment survives, not even disguised by a path parameter or an encoding.
      for (const segment of r.path.split('/')) {
        const bare = segment.split(';')[0]!;
        if (bare === '.' || bare === '..') throw new Error(`dot segment left in ${r.path}`);
        if (/%(2e|2f|5c|25[0-9a-f]{2})/i.test(segment)) throw new Error(`encoded dot/separator in ${r.path}`);
      }
      // What is matched is what is forwarded: the matched route's prefix starts the forwarded path.
      const m = matchRoute(routes, r.path, 'GET');
      if (m.kind === 'matched' && !(r.path === m.route.prefix || r.path.startsWith(m.route.prefix + '/'))) {
        throw new Error(`matched ${m.route.prefix} but forwards ${r.path}`);
      }
    }),
    { numRuns: 3000 },
  );
  t.end();
});
