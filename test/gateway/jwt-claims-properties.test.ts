/**
 * Property-based tests (fast-check) of what the gateway does with the JSON inside a JWT access token: a
 * token can be well-formed and correctly signed by the issuer's real key and still carry hostile JSON
 * (wrong types for exp/nbf/iat/aud/scope/cnf, huge or non-finite numbers, nested objects, prototype keys
 * such as `__proto__` and `constructor`). The claim rules (jwt-claims.ts, verified-token.ts) are run
 * directly on many payloads; a smaller number of tokens, signed over the exact JSON text, then goes
 * through a real gateway whose answer must be the rules' decision: forwarded once with the claims as
 * identity headers, or refused with an RFC 6750 error, counted, and never forwarded.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import { startGatewayFixture } from '../helpers/gateway.js';
import { TEST_AUDIENCE, TEST_ISSUER, type SigningKey } from '../helpers/tokens.js';
import { claimsProblem } from '../../src/gateway/tokens/jwt-claims.js';
import { verifiedTokenFromPayload } from '../../src/gateway/tokens/verified-token.js';
import { isReject } from '../../src/gateway/tokens/verifier.js';
import type { Reject } from '../../src/gateway/rejections.js';
import type { VerifiedAccessToken } from '../../src/gateway/tokens/verifier.js';
import { hostileJson as hostileJsonOf } from '../helpers/arbitraries.js';

const POLICY = { issuer: TEST_ISSUER, audience: [TEST_AUDIENCE], clockSkewSeconds: 5 };
const TOKEN_REASONS = new Set([
  'token_type',
  'token_claims',
  'token_issuer',
  'token_audience',
  'token_expired',
  'token_not_yet_valid',
]);

/** The rules as the verifier applies them after the signature (jwt-verifier.ts). */
function decide(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  now: number,
): VerifiedAccessToken | Reject {
  return (
    claimsProblem(header, payload, POLICY, now) ??
    verifiedTokenFromPayload(payload, now, POLICY.clockSkewSeconds)
  );
}

/** Any JSON, including the keys that reach prototypes when code merges objects carelessly. */
const hostileJson = hostileJsonOf({
  scalars: [null, true, false, 0, -1, 1e300, -1e300, 2 ** 53 + 1, 0.5, '', ' ', 'x'],
  keys: ['prototype', 'toString', 'x5t#S256', 'jkt'],
  doubles: true,
});

/** Values for one claim: mostly well-typed, often not. */
function claim(good: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: good },
    { weight: 2, arbitrary: hostileJson },
    { weight: 1, arbitrary: fc.constant(undefined) },
  );
}

/**
 * The claims as JSON text, members in order; `__proto__` written as a member name (JSON.parse makes it an
 * own property, as a token parser does) and, sometimes, a number written as `1e400` (parsed as Infinity).
 */
function claimsText(members: [string, unknown][], overflow: string | null): string {
  const parts = members
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  if (overflow !== null) parts.push(`${JSON.stringify(overflow)}:1e400`);
  return `{${parts.join(',')}}`;
}

function payloadArbitrary(now: number, thumbprint: string) {
  const numeric = (around: number) =>
    fc.oneof(
      fc.integer({ min: around - 600, max: around + 600 }),
      fc.constantFrom(around + 1e12, 1e300, -1, 0),
    );
  return fc
    .record({
      iss: claim(fc.constantFrom(TEST_ISSUER, 'https://evil.test', TEST_ISSUER + '/')),
      aud: claim(fc.oneof(fc.constant(TEST_AUDIENCE), fc.constant([TEST_AUDIENCE, 'x']), fc.constant(['x']))),
      exp: claim(numeric(now + 300)),
      nbf: claim(numeric(now - 10)),
      iat: claim(numeric(now)),
      sub: claim(fc.constantFrom('user-1', 'ünïcode', 'line\nbreak', 'a'.repeat(200))),
      client_id: claim(fc.constantFrom('client-a', 'client a', 'tab\there', '')),
      scope: claim(
        fc.constantFrom('accounts', 'accounts payments', '  accounts  ', 'payments', 'accounts\u0000'),
      ),
      cnf: claim(
        fc.constantFrom(
          { 'x5t#S256': thumbprint },
          { 'x5t#S256': thumbprint, jkt: 'x' },
          { jkt: thumbprint },
          { 'x5t#S256': [thumbprint] },
          [thumbprint],
        ),
      ),
      extra: fc.array(
        fc.tuple(fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'x'), hostileJson),
        {
          maxLength: 3,
        },
      ),
      overflow: fc.option(fc.constantFrom('exp', 'nbf', 'iat', 'x')),
    })
    .map(({ extra, overflow, ...claims }) => claimsText([...Object.entries(claims), ...extra], overflow));
}

/** A valid token's claims with at most one claim replaced by hostile JSON (or removed), plus prototype keys. */
function nearlyValidPayload(now: number, thumbprint: string) {
  const valid: Record<string, unknown> = {
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    exp: now + 300,
    iat: now,
    sub: 'user-1',
    client_id: 'client-a',
    scope: 'accounts payments',
    cnf: { 'x5t#S256': thumbprint },
  };
  return fc
    .record({
      replaced: fc.option(fc.tuple(fc.constantFrom(...Object.keys(valid), 'nbf'), claim(hostileJson))),
      extra: fc.array(
        fc.tuple(fc.constantFrom('__proto__', 'constructor', 'toString', 'valueOf', 'x'), hostileJson),
        { maxLength: 2 },
      ),
    })
    .map(({ replaced, extra }) => {
      const members = Object.entries(valid).filter(([k]) => replaced === null || k !== replaced[0]);
      if (replaced !== null) members.push(replaced);
      return claimsText([...members, ...extra], null);
    });
}

function anyPayload(now: number, thumbprint: string) {
  return fc.oneof(payloadArbitrary(now, thumbprint), nearlyValidPayload(now, thumbprint));
}

const typArbitrary = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('at+jwt', 'AT+JWT', 'application/at+jwt') },
  { weight: 1, arbitrary: hostileJson },
);

function holds(t: Test, name: string, body: () => void): void {
  t.test(name, (t) => {
    body();
    t.pass(name);
    t.end();
  });
}

t.test('claim rules over hostile JSON (fast-check)', (t) => {
  const now = Math.floor(Date.now() / 1000);
  holds(t, 'never throw; refuse with a token reason, or accept only well-typed claims', () => {
    fc.assert(
      fc.property(typArbitrary, anyPayload(now, 'tp'), (typ, text) => {
        const payload = JSON.parse(text) as Record<string, unknown>;
        const r = decide({ typ }, payload, now);
        if (({} as Record<string, unknown>).polluted !== undefined) throw new Error('prototype polluted');
        if (isReject(r)) return TOKEN_REASONS.has(r.reason);
        return (
          payload.iss === TEST_ISSUER &&
          typeof payload.exp === 'number' &&
          Number.isFinite(payload.exp) &&
          payload.exp > now - POLICY.clockSkewSeconds &&
          /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(r.clientId) &&
          /^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(r.subject) &&
          /^[\x20-\x7e]*$/.test(r.scope) &&
          r.expiresAt === payload.exp &&
          [...r.scopes].every((s) => s !== '' && !s.includes(' '))
        );
      }),
      { numRuns: 3000 },
    );
  });
  holds(t, 'deciding twice gives the same answer (no state kept between tokens)', () => {
    fc.assert(
      fc.property(typArbitrary, anyPayload(now, 'tp'), (typ, text) => {
        const a = decide({ typ }, JSON.parse(text) as Record<string, unknown>, now);
        const b = decide({ typ }, JSON.parse(text) as Record<string, unknown>, now);
        return JSON.stringify(a) === JSON.stringify(b);
      }),
      { numRuns: 500 },
    );
  });
  t.end();
});

/** A compact JWS over exactly these header and payload texts (PS256, RFC 7518 §3.5), signed by `key`. */
async function signText(key: SigningKey['privateKey'], header: string, payload: string): Promise<string> {
  const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`;
  const sig = await crypto.subtle.sign({ name: 'RSA-PSS', saltLength: 32 }, key, Buffer.from(input));
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}

t.test('hostile claims signed by the real key, through a real gateway', async (t) => {
  const f = await startGatewayFixture(t);
  const now = Math.floor(Date.now() / 1000);
  const thumbprint = f.pki.clientA.thumbprint;
  const extraHeader = fc.option(
    fc.constantFrom<[string, unknown]>(
      ['jku', 'https://evil.test/jwks'],
      ['x5u', 'https://evil.test/cert'],
      ['jwk', { kty: 'oct', k: 'AAAA' }],
      ['crit', ['exp']],
      ['crit', ['x-ext']],
      ['crit', []],
      ['b64', false],
      ['__proto__', { typ: 'at+jwt' }],
      ['kid', 7],
    ),
  );
  let forwarded = 0;
  let refused = 0;
  const tokens: string[] = [];
  await fc.assert(
    fc.asyncProperty(typArbitrary, extraHeader, anyPayload(now, thumbprint), async (typ, extra, text) => {
      const header: Record<string, unknown> = { alg: 'PS256', kid: f.key.kid, typ };
      const headerText =
        extra === null
          ? JSON.stringify(header)
          : JSON.stringify(header).slice(0, -1) + `,${JSON.stringify(extra[0])}:${JSON.stringify(extra[1])}}`;
      const token = await signText(f.key.privateKey, headerText, text);
      tokens.push(token);
      const payload = JSON.parse(text) as Record<string, unknown>;
      const decided = decide(
        JSON.parse(headerText) as Record<string, unknown>,
        payload,
        Math.floor(Date.now() / 1000),
      );
      const headerIsPlain =
        extra === null ||
        extra[0] === 'jku' ||
        extra[0] === 'x5u' ||
        extra[0] === 'jwk' ||
        extra[0] === 'b64' ||
        extra[0] === '__proto__';
      const passes =
        headerIsPlain &&
        !isReject(decided) &&
        decided.binding?.kind === 'mtls' &&
        decided.binding.x5t === thumbprint &&
        decided.scopes.has('accounts');
      const hitsBefore = f.upstream.hits;
      const res = await f.request({ token });
      if (res.status >= 500) throw new Error(`answered ${res.status}: ${res.body}`);
      if (passes) {
        if (res.status !== 200 || f.upstream.hits !== hitsBefore + 1)
          throw new Error(`a valid token was not forwarded once: ${res.status} ${res.body}`);
        const seen = f.upstream.last()!.headers;
        if (
          seen['x-authenticated-client-id'] !== decided.clientId ||
          seen['x-authenticated-subject'] !== decided.subject
        )
          throw new Error('the forwarded identity is not the token claims');
        forwarded++;
        return;
      }
      if (res.status !== 401 && res.status !== 403)
        throw new Error(`refused with ${res.status}: ${res.body}`);
      if (f.upstream.hits !== hitsBefore) throw new Error('a refused token was forwarded');
      const body = res.json();
      if (typeof body.error !== 'string' || typeof body.error_description !== 'string')
        throw new Error(`not an RFC 6750 error body: ${res.body}`);
      if (isReject(decided) && body.error !== decided.error)
        throw new Error(`${body.error} for ${decided.reason}`);
      refused++;
    }),
    { numRuns: 80 },
  );
  t.ok(forwarded > 0 && refused > 0, `both outcomes seen (forwarded ${forwarded}, refused ${refused})`);
  const counted = (await f.metricsText())
    .split('\n')
    .filter((l) => l.startsWith('fapi_gateway_rejections_total{'))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
  t.equal(counted, refused, 'every refusal counted once');
  const logs = f.logText();
  t.notOk(
    tokens.some((token) => logs.includes(token.split('.')[2]!)),
    'no token in the logs',
  );
});
