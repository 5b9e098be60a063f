import t from 'tap';
import { DEFAULT_ROUTES, startGatewayFixture, type GatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import type { TestResponse } from '../helpers/tls-client.js';

const IDENTITY_HEADERS = ['x-authenticated-client-id', 'x-authenticated-subject', 'x-authenticated-scope'];

/** A shadow route in front of the same API as the enforcing `/accounts`. */
const ROUTES = [
  { path: '/shadow', methods: ['GET', 'POST'], scopes: ['accounts'], mode: 'report-only' },
  ...DEFAULT_ROUTES,
];

interface Call {
  /** Sent to /shadow (report-only) and to /accounts (enforce). */
  send(path: string): Promise<TestResponse>;
  /** Every reason the report-only route records, in check order. */
  reasons: string[];
  /** The enforcing route's refusal. */
  enforced: { status: number; error: string | null };
}

/** The request log line with this interaction id (written when the response has finished). */
async function requestLine(
  f: GatewayFixture,
  interactionId: string,
): Promise<Record<string, unknown> | undefined> {
  for (let i = 0; i < 200; i++) {
    const line = f.logs.find((l) => l.msg === 'request' && l.interactionId === interactionId);
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return undefined;
}

/** The sum of every series of a counter. */
async function counterTotal(f: GatewayFixture, name: string): Promise<number> {
  let total = 0;
  for (const line of (await f.metricsText()).split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.split(' ').pop());
  }
  return total;
}

t.test(
  'report-only routes forward failing calls without identity; enforcing routes refuse them',
  async (t) => {
    const f = await startGatewayFixture(t, { routes: ROUTES, limits: { formBodyBytes: 1024 } });
    const good = await f.token();
    const cases: Record<string, Call> = {
      'FAPI headers (invalid x-fapi-interaction-id)': {
        send: (path) => f.request({ path, token: good, headers: { 'x-fapi-interaction-id': 'not-a-uuid' } }),
        reasons: ['invalid_interaction_id'],
        enforced: { status: 400, error: 'invalid_request' },
      },
      'token presentation (no token)': {
        send: (path) => f.request({ path }),
        reasons: ['token_missing'],
        enforced: { status: 401, error: null },
      },
      'token presentation (token in the query)': {
        send: (path) => f.request({ path: `${path}?access_token=${good}`, token: good }),
        reasons: ['token_in_query'],
        enforced: { status: 400, error: 'invalid_request' },
      },
      'token presentation (token in a form body)': {
        send: async (path) =>
          f.request({
            path,
            method: 'POST',
            token: good,
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: `access_token=${good}&amount=1`,
          }),
        reasons: ['token_in_body'],
        enforced: { status: 400, error: 'invalid_request' },
      },
      'token validation (expired)': {
        send: async (path) => f.request({ path, token: await f.token({ expiresInSeconds: -60 }) }),
        reasons: ['token_expired'],
        enforced: { status: 401, error: 'invalid_token' },
      },
      'token validation (not a JWT)': {
        send: (path) => f.request({ path, token: 'opaque-value' }),
        reasons: ['token_malformed'],
        enforced: { status: 401, error: 'invalid_token' },
      },
      "binding (another client's token)": {
        send: async (path) => f.request({ path, token: await f.token({ bindTo: f.pki.clientB }) }),
        reasons: ['binding_mismatch'],
        enforced: { status: 401, error: 'invalid_token' },
      },
      'binding (unbound token)': {
        send: async (path) => f.request({ path, token: await f.token({ bindTo: null }) }),
        reasons: ['binding_missing'],
        enforced: { status: 401, error: 'invalid_token' },
      },
      'scope (missing accounts)': {
        send: async (path) => f.request({ path, token: await f.token({ claims: { scope: 'payments' } }) }),
        reasons: ['insufficient_scope'],
        enforced: { status: 403, error: 'insufficient_scope' },
      },
      'several checks at once (headers, binding, scope: each recorded)': {
        send: async (path) =>
          f.request({
            path,
            token: await f.token({ bindTo: f.pki.clientB, claims: { scope: 'payments' } }),
            headers: { 'x-fapi-auth-date': 'yesterday' },
          }),
        reasons: ['invalid_auth_date', 'binding_mismatch', 'insufficient_scope'],
        enforced: { status: 400, error: 'invalid_request' },
      },
    };
    const wouldRejectCounts = new Map<string, number>();
    for (const [name, call] of Object.entries(cases)) {
      await t.test(name, async (t) => {
        f.upstream.reset();
        const rejectionsBefore = await counterTotal(f, 'fapi_gateway_rejections_total');
        const shadow = await call.send('/shadow');
        t.equal(shadow.status, 200, `forwarded on the report-only route: ${shadow.body}`);
        t.equal(shadow.headers['x-echo'], 'yes', 'the upstream answered');
        t.equal(f.upstream.hits, 1, 'one call reached the upstream');
        const seen = f.upstream.last()!;
        t.equal(seen.url.split('?')[0], '/shadow');
        for (const h of IDENTITY_HEADERS) t.equal(seen.headers[h], undefined, `no ${h} from a failing call`);
        t.ok(seen.headers['client-cert'], 'the TLS client certificate is still forwarded');
        for (const reason of call.reasons) {
          const n = (wouldRejectCounts.get(reason) ?? 0) + 1;
          wouldRejectCounts.set(reason, n);
          t.equal(await f.metric('fapi_gateway_would_reject_total', { reason }), n, `${reason} counted`);
        }
        t.equal(
          await counterTotal(f, 'fapi_gateway_rejections_total'),
          rejectionsBefore,
          'not counted as a rejection',
        );
        const interactionId = String(shadow.headers['x-fapi-interaction-id']);
        const line = await requestLine(f, interactionId);
        t.ok(line, 'logged with the interaction id');
        t.equal(line?.decision, 'would_reject');
        t.equal(line?.outcome, 'forwarded');
        t.equal(line?.reason, call.reasons[0]);
        t.same(line?.wouldReject, call.reasons, 'every failed check, in order');
        t.ok(await f.metric('fapi_gateway_requests_total', { route: '/shadow', outcome: 'forwarded' }));

        f.upstream.reset();
        const enforced = await call.send('/accounts');
        await expectRejection(t, f, enforced, { ...call.enforced, reason: call.reasons[0]! });
      });
    }

    await t.test(
      'a passing call on a report-only route carries its identity and records nothing',
      async (t) => {
        f.upstream.reset();
        const before = await counterTotal(f, 'fapi_gateway_would_reject_total');
        const res = await f.request({ path: '/shadow', token: good });
        t.equal(res.status, 200);
        const seen = f.upstream.last()!;
        t.equal(seen.headers['x-authenticated-client-id'], 'client-a');
        t.equal(seen.headers['x-authenticated-scope'], 'accounts payments');
        t.equal(await counterTotal(f, 'fapi_gateway_would_reject_total'), before, 'nothing recorded');
        const line = await requestLine(f, String(res.headers['x-fapi-interaction-id']));
        t.ok(line, 'logged');
        t.equal(line?.decision, undefined);
        t.equal(line?.wouldReject, undefined);
      },
    );

    await t.test('spoofed identity headers are stripped on a failing report-only call', async (t) => {
      f.upstream.reset();
      const res = await f.request({
        path: '/shadow',
        headers: { 'x-authenticated-client-id': 'bank-admin', 'x-authenticated-scope': 'admin' },
      });
      t.equal(res.status, 200);
      const seen = f.upstream.last()!;
      for (const h of IDENTITY_HEADERS) t.equal(seen.headers[h], undefined, `${h} stripped`);
    });

    await t.test('never relaxed on a report-only route: 405, unsafe paths, size limits', async (t) => {
      f.upstream.reset();
      await expectRejection(t, f, await f.request({ path: '/shadow', method: 'DELETE', token: good }), {
        status: 405,
        error: 'method_not_allowed',
        reason: 'method_not_allowed',
      });
      await expectRejection(t, f, await f.request({ path: '/shadow/%2e%2e/admin', token: good }), {
        status: 400,
        error: 'invalid_request',
        reason: 'invalid_path',
      });
      await expectRejection(
        t,
        f,
        await f.request({
          path: '/shadow',
          method: 'POST',
          token: good,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: `a=${'x'.repeat(4096)}`,
        }),
        { status: 413, error: 'invalid_request', reason: 'body_too_large' },
      );
      for (const reason of ['method_not_allowed', 'invalid_path', 'body_too_large']) {
        t.equal(await f.metric('fapi_gateway_would_reject_total', { reason }), 0, `${reason} never reported`);
      }
    });
  },
);
