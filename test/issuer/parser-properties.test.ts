/**
 * Property-based tests (fast-check) of what the issuer parses from untrusted clients: form bodies
 * (steps/form-body.ts, RFC 6749 §3.1), the CIBA authentication request (binding_message,
 * client_notification_token, the request-object claims: ciba/authentication-request.ts), the OIDC
 * `claims` parameter, and the nesting limit on request-object JSON (untrusted-json.ts). The parsers are
 * called directly with many inputs; then a bounded number of random bodies (repeated, oversized, badly
 * encoded parameters) go to the token, PAR, backchannel, introspection and revocation endpoints of a real
 * issuer: every answer is below 500, every refusal is RFC 6749 §5.2 JSON with a code of the refusal
 * table and is counted, and nothing is issued.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { startCibaIssuer } from '../helpers/ciba.js';
import { httpsRequest } from '../helpers/issuer.js';
import { fetchText, metricValue } from '../helpers/metrics-text.js';
import { FormParams } from '../../src/issuer/steps/form-body.js';
import { OAuthError } from '../../src/issuer/errors.js';
import { ISSUER_REFUSALS } from '../../src/issuer/refusals.js';
import {
  bindingMessageProblem,
  checkRequestObjectClaims,
  MAX_BINDING_MESSAGE_LENGTH,
  notificationTokenProblem,
  parseAuthenticationParameters,
  type CibaClientPolicy,
} from '../../src/issuer/ciba/authentication-request.js';
import { parseClaimsRequest } from '../../src/issuer/authorize/claims-request.js';
import { nestsDeeperThan } from '../../src/issuer/untrusted-json.js';
import { hostileJson } from '../helpers/arbitraries.js';

function holds(t: Test, name: string, body: () => void): void {
  t.test(name, (t) => {
    body();
    t.pass(name);
    t.end();
  });
}

const PARAMETER_NAMES = [
  'grant_type',
  'client_id',
  'scope',
  'token',
  'token_type_hint',
  'request',
  'request_uri',
  'code',
  'refresh_token',
  'auth_req_id',
  'login_hint',
  'binding_message',
  'client_notification_token',
  'requested_expiry',
  'user_code',
  'acr_values',
  '__proto__',
  'constructor',
  'toString',
];

/** Form text: known and random names, repeated names, percent-escapes valid or not, `;` and `+`. */
const formText = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom(...PARAMETER_NAMES), fc.string({ maxLength: 8 })),
      fc.oneof(
        fc.string({ maxLength: 16 }),
        fc.constantFrom('%', '%zz', '%00', '%C0%AE', '%E2%80%AE', '+', 'a;b', 'openid accounts', '%ff'),
      ),
    ),
    { maxLength: 8 },
  )
  .map((pairs) => pairs.map(([k, v]) => `${k}=${v}`).join('&'));

t.test('form bodies (fast-check)', (t) => {
  holds(t, 'parsed like URLSearchParams; a repeated name is refused, never resolved', () => {
    fc.assert(
      fc.property(fc.oneof(formText, fc.string({ maxLength: 60 })), (text) => {
        const standard = [...new URLSearchParams(text)];
        const names = standard.map(([n]) => n);
        const repeated = new Set(names).size !== names.length;
        let params: FormParams;
        try {
          params = FormParams.fromText(text);
        } catch (e) {
          return repeated && e instanceof OAuthError && e.reason === 'repeated_parameter';
        }
        if (repeated) return false;
        return standard.every(([n, v]) => params.get(n) === (v === '' ? undefined : v));
      }),
      { numRuns: 3000 },
    );
  });
  t.end();
});

const CF_ZL_ZP = [
  '\u061c',
  '\u200b',
  '\u200d',
  '\u202e',
  '\u2066',
  '\u2028',
  '\u2029',
  '\ufeff',
  '\u00ad',
  '\u0007',
];

t.test('binding_message and client_notification_token (fast-check)', (t) => {
  holds(t, 'an accepted binding message is short, visible text without stacked marks', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (m) => {
        const problem = bindingMessageProblem(m);
        if (problem !== undefined) return typeof problem === 'string';
        return (
          m.trim() !== '' &&
          [...m].length <= MAX_BINDING_MESSAGE_LENGTH &&
          !/[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/u.test(m) &&
          !/\p{M}{3}/u.test(m)
        );
      }),
      { numRuns: 3000 },
    );
  });
  holds(t, 'one invisible or direction character anywhere makes any message refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 40 }),
        fc.constantFrom(...CF_ZL_ZP),
        fc.nat(),
        (m, c, at) => {
          const i = at % (m.length + 1);
          return bindingMessageProblem(m.slice(0, i) + c + m.slice(i)) !== undefined;
        },
      ),
      { numRuns: 1000 },
    );
  });
  holds(t, 'a notification token made of a short repeated pattern is refused', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom(...'abcXYZ019-_'), minLength: 1, maxLength: 4 }),
        fc.integer({ min: 8, max: 200 }),
        (pattern, times) => notificationTokenProblem(pattern.repeat(times)) !== undefined,
      ),
      { numRuns: 1000 },
    );
  });
  holds(t, 'an accepted notification token is a bounded b64token', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 1100 }), fc.base64String({ maxLength: 1100 })), (tok) => {
        const problem = notificationTokenProblem(tok);
        return problem !== undefined || (tok.length <= 1024 && /^[A-Za-z0-9\-._~+/]+=*$/.test(tok));
      }),
      { numRuns: 1000 },
    );
  });
  t.end();
});

/** Any JSON a signed request object may carry, prototype keys included. */
const json = hostileJson({
  scalars: [null, true, 0, -1, 1e300, 0.5, '', 'openid', 'openid accounts', 'alice', 'x'.repeat(100)],
  keys: ['essential', 'value', 'values', 'acr'],
});

/** An object parsed from JSON text, so that `__proto__` is an own member as in a real request. */
function fromJson(members: [string, unknown][]): Record<string, unknown> {
  const body = members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',');
  return JSON.parse(`{${body}}`) as Record<string, unknown>;
}

const CIBA_NAMES = [
  'scope',
  'client_notification_token',
  'acr_values',
  'login_hint_token',
  'id_token_hint',
  'login_hint',
  'binding_message',
  'user_code',
  'requested_expiry',
  'aud',
  'iss',
  'exp',
  'iat',
  'nbf',
  'jti',
  '__proto__',
  'constructor',
];

t.test('CIBA request parameters and request-object claims (fast-check)', (t) => {
  const now = 1_800_000_000;
  const limits = { issuer: 'https://as.test', expiresInSeconds: 120, clockSkewSeconds: 5 };
  const client = (deliveryMode: CibaClientPolicy['deliveryMode'], fapi: boolean): CibaClientPolicy => ({
    clientId: 'c1',
    cibaProfile: fapi ? 'fapi-ciba' : 'ciba-core',
    deliveryMode,
    userCodeParameter: true,
    scopes: ['openid', 'accounts'],
  });
  const members = fc.array(
    fc.tuple(
      fc.constantFrom(...CIBA_NAMES),
      fc.oneof(json, fc.constantFrom('openid', 'alice', 'Pay 10 EUR', 'c1', limits.issuer, now, now + 60)),
    ),
    { maxLength: 10 },
  );
  const policy = fc.tuple(fc.constantFrom('poll', 'ping', 'push') as fc.Arbitrary<'poll'>, fc.boolean());
  holds(t, 'never throw; an accepted request has a scope with openid, one hint, a bounded expiry', () => {
    fc.assert(
      fc.property(members, policy, (m, [mode, fapi]) => {
        const params = fromJson(m);
        const claims = checkRequestObjectClaims(params, client(mode, fapi), limits, now);
        const r = parseAuthenticationParameters(
          claims.ok ? claims.value : params,
          client(mode, fapi),
          limits,
        );
        if (({} as Record<string, unknown>).polluted !== undefined) throw new Error('prototype polluted');
        if (!r.ok) return typeof r.error.error === 'string';
        const v = r.value;
        return (
          v.scopes.includes('openid') &&
          typeof v.hint.value === 'string' &&
          v.hint.value !== '' &&
          Number.isInteger(v.expiresIn) &&
          v.expiresIn > 0 &&
          v.expiresIn <= limits.expiresInSeconds &&
          (v.bindingMessage === undefined || bindingMessageProblem(v.bindingMessage) === undefined)
        );
      }),
      { numRuns: 3000 },
    );
  });
  t.end();
});

t.test('the OIDC claims parameter and nesting depth (fast-check)', (t) => {
  holds(t, 'claims: JSON text or value, never throws, result is a plain claims request', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          json,
          json.map((v) => JSON.stringify(v) ?? ''),
          fc.string({ maxLength: 30 }),
        ),
        (raw) => {
          const r = parseClaimsRequest(raw);
          if (!r.ok) return r.refusal.error === 'invalid_request';
          if (r.value === undefined) return true;
          for (const member of [r.value.id_token, r.value.userinfo]) {
            if (member === undefined) continue;
            for (const req of Object.values(member)) {
              if (req === null) continue;
              if (req.value !== undefined && typeof req.value !== 'string') return false;
              if (req.essential !== undefined && typeof req.essential !== 'boolean') return false;
            }
          }
          return true;
        },
      ),
      { numRuns: 2000 },
    );
  });
  holds(t, 'nestsDeeperThan agrees with a recursive depth count', () => {
    const depth = (v: unknown): number =>
      typeof v !== 'object' || v === null
        ? 0
        : 1 + Math.max(0, ...(Array.isArray(v) ? v : Object.values(v)).map(depth));
    fc.assert(
      fc.property(
        json,
        fc.integer({ min: 0, max: 6 }),
        (v, max) => nestsDeeperThan(v, max) === depth(v) > max,
      ),
      { numRuns: 2000 },
    );
  });
  t.end();
});

const KNOWN_ERRORS = new Set<string>(Object.values(ISSUER_REFUSALS).map((r) => r.error));

t.test('random bodies to every form endpoint of a real issuer', async (t) => {
  const ti = await startCibaIssuer();
  t.teardown(() => ti.close());
  const adminPort = ti.issuer.adminPort!;
  const refusals = async () =>
    metricValue((await fetchText(adminPort, '/metrics')).body, 'fapi_issuer_refusals_total') ?? 0;
  const before = await refusals();
  let answered = 0;
  let refused = 0;
  const endpoint = fc.constantFrom('/token', '/par', '/backchannel-authentication', '/introspect', '/revoke');
  const body = fc.oneof(
    { weight: 5, arbitrary: formText.map((s) => Buffer.from(s)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
    { weight: 1, arbitrary: fc.constant(Buffer.from('scope=' + 'a'.repeat(70 * 1024))) },
  );
  // Authenticated as a client half of the time (ciba-push: tls_client_auth, plain CIBA parameters), so
  // the random parameters reach the grant and CIBA parsers, not only client authentication.
  await fc.assert(
    fc.asyncProperty(
      endpoint,
      body,
      fc.boolean(),
      fc.boolean(),
      async (path, raw, authenticated, formType) => {
        const withClient = authenticated ? Buffer.concat([Buffer.from('client_id=ciba-push&'), raw]) : raw;
        const res = await httpsRequest(ti.issuer.mtlsUrl + path, {
          ca: ti.pki.ca.certPem,
          method: 'POST',
          headers: { 'content-type': formType ? 'application/x-www-form-urlencoded' : 'text/plain' },
          body: withClient,
          ...(authenticated ? { credential: ti.pki.clientB } : {}),
        });
        answered++;
        if (res.status >= 500) throw new Error(`${path} answered ${res.status}: ${res.text}`);
        if (res.status < 400) {
          // Only the introspection and revocation endpoints answer 200 to a random, authenticated body
          // (RFC 7662 §2.2 `active: false`, RFC 7009 §2.2), and they issue nothing.
          if (path === '/introspect' && res.json.active === false) return;
          if (path === '/revoke' && res.status === 200) return;
          throw new Error(`${path} accepted a random body: ${res.status} ${res.text}`);
        }
        refused++;
        const error = res.json.error;
        if (typeof error !== 'string' || !KNOWN_ERRORS.has(error))
          throw new Error(`${path} refused without a known error code: ${res.text}`);
        if (typeof res.json.error_description !== 'string') throw new Error('no error_description');
        if (res.headers['cache-control'] !== 'no-store')
          throw new Error('refusal without Cache-Control: no-store');
        if (res.json.access_token !== undefined) throw new Error('a token in a refusal');
      },
    ),
    { numRuns: 70 },
  );
  t.equal((await refusals()) - before, refused, `every refusal counted once (${refused} of ${answered})`);
});
