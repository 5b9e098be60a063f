/**
 * Property-based tests (fast-check) of the request headers the gateway parses from untrusted clients:
 * `Authorization` (RFC 6750 §2.1, RFC 9449 §7.1, RFC 9110 §11) and the FAPI headers
 * `x-fapi-interaction-id`, `x-fapi-auth-date`, `x-fapi-customer-ip-address` (FAPI 1 Baseline §6.2.1-11..13).
 * The parsers are called directly with many inputs; a smaller number of inputs then goes through a real
 * gateway, whose answer must be the parser's decision: a refusal is RFC 6750 JSON with a known reason and
 * never reaches the upstream, nothing answers 500.
 */
import t, { type Test } from 'tap';
import fc from 'fast-check';
import type { IncomingMessage } from 'node:http';
import { startGatewayFixture } from '../helpers/gateway.js';
import { UUID_PATTERN } from '../helpers/gateway-assertions.js';
import { tokenPresentationCheck } from '../../src/gateway/checks/token-presentation.js';
import {
  fapiHeadersCheck,
  interactionIdFor,
  isImfFixdate,
  isUuid,
} from '../../src/gateway/checks/fapi-headers.js';
import { REJECTION_REASONS, type Reject } from '../../src/gateway/rejections.js';
import type { RequestContext } from '../../src/gateway/request-context.js';

/** A request context holding only what the header checks read. */
function contextWith(rawHeaders: string[], query = ''): RequestContext {
  const headers: Record<string, string> = {};
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    // Node joins repeated headers with ", " (authorization: first one wins, as in IncomingMessage).
    if (headers[name] === undefined) headers[name] = rawHeaders[i + 1]!;
    else if (name !== 'authorization') headers[name] += `, ${rawHeaders[i + 1]!}`;
  }
  const req = { headers, rawHeaders } as unknown as IncomingMessage;
  return { req, query } as unknown as RequestContext;
}

/** A named property as a subtest: it holds when `body` returns (fc.assert throws the counterexample). */
function holds(t: Test, name: string, body: () => void): void {
  t.test(name, (t) => {
    body();
    t.pass(name);
    t.end();
  });
}

function runSync(check: { run(ctx: RequestContext): unknown }, ctx: RequestContext): Reject | undefined {
  const r = check.run(ctx);
  if (r instanceof Promise) throw new Error('header checks are synchronous');
  return r as Reject | undefined;
}

/** A value as Node delivers it: visible ASCII, spaces, tabs and Latin-1 bytes, trimmed of OWS. */
const headerValue = fc
  .string({
    unit: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) },
      { weight: 1, arbitrary: fc.constantFrom('\t', ' ', ',', '=', '"', '\u00e9', '\u00ff') },
    ),
    maxLength: 60,
  })
  .map((s) => s.replace(/^[\t ]+|[\t ]+$/g, ''));

const B64TOKEN_CHARS = 'ABCXYZabcxyz0189-._~+/';
const b64token = fc
  .tuple(
    fc.string({ unit: fc.constantFrom(...B64TOKEN_CHARS), minLength: 1, maxLength: 40 }),
    fc.integer({ min: 0, max: 2 }),
  )
  .map(([body, pad]) => body + '='.repeat(pad));
/** `bearer` / `dpop` in any letter case. */
const scheme = fc
  .tuple(fc.constantFrom('bearer', 'dpop'), fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }))
  .map(([s, upper]) => [...s].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''));

const PRESENTATION_REASONS = new Set([
  'token_missing',
  'token_malformed',
  'multiple_tokens',
  'token_in_query',
]);

t.test('Authorization parsing (fast-check)', (t) => {
  holds(t, 'never throws; refuses only with its own reasons; accepts only a b64token', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          headerValue,
          fc.tuple(scheme, headerValue).map(([s, v]) => `${s} ${v}`),
        ),
        (h) => {
          const ctx = contextWith(['Authorization', h]);
          const r = runSync(tokenPresentationCheck, ctx);
          if (r !== undefined) return PRESENTATION_REASONS.has(r.reason);
          const c = ctx.credentials!;
          return /^[A-Za-z0-9\-._~+/]+=*$/.test(c.token) && h.endsWith(c.token) && h.length > c.token.length;
        },
      ),
      { numRuns: 3000 },
    );
  });
  holds(t, 'the scheme in any letter case, any number of spaces: the same credentials', () => {
    fc.assert(
      fc.property(scheme, fc.integer({ min: 1, max: 8 }), b64token, (s, spaces, token) => {
        const ctx = contextWith(['Authorization', `${s}${' '.repeat(spaces)}${token}`]);
        const r = runSync(tokenPresentationCheck, ctx);
        return (
          r === undefined &&
          ctx.credentials!.token === token &&
          ctx.credentials!.scheme === (s.length === 4 ? 'dpop' : 'bearer')
        );
      }),
      { numRuns: 1000 },
    );
  });
  holds(t, 'more than one credential, in one header or in two: multiple_tokens', () => {
    const separator = fc.constantFrom(' ', ', ', ',', ' , ', '\t', ' \t');
    fc.assert(
      fc.property(scheme, b64token, separator, b64token, (s, a, sep, b) => {
        const joined = runSync(tokenPresentationCheck, contextWith(['Authorization', `${s} ${a}${sep}${b}`]));
        const listed = runSync(
          tokenPresentationCheck,
          contextWith(['Authorization', `${s} ${a}${sep}${s} ${b}`]),
        );
        const two = runSync(
          tokenPresentationCheck,
          contextWith(['Authorization', `${s} ${a}`, 'authorization', `${s} ${b}`]),
        );
        return (
          joined?.reason === 'multiple_tokens' &&
          listed?.reason === 'multiple_tokens' &&
          two?.reason === 'multiple_tokens'
        );
      }),
      { numRuns: 500 },
    );
  });
  holds(t, 'a character outside token68 anywhere in the credentials: refused', () => {
    const outside = fc.constantFrom(
      '"',
      '\\',
      '(',
      ')',
      '<',
      '>',
      '@',
      ':',
      ';',
      '?',
      '[',
      ']',
      '{',
      '}',
      '\u00e9',
    );
    fc.assert(
      fc.property(scheme, b64token, outside, fc.nat(), (s, token, c, at) => {
        const i = at % (token.length + 1);
        const value = token.slice(0, i) + c + token.slice(i);
        const r = runSync(tokenPresentationCheck, contextWith(['Authorization', `${s} ${value}`]));
        return r?.reason === 'token_malformed';
      }),
      { numRuns: 1000 },
    );
  });
  t.end();
});

/** fast-check dates that IMF-fixdate can spell (four-digit years). */
const imfDate = fc.date({
  min: new Date('1970-01-01T00:00:00Z'),
  max: new Date('9999-12-31T23:59:59Z'),
  noInvalidDate: true,
});
const FAPI_REASONS = new Set(['invalid_interaction_id', 'invalid_auth_date', 'invalid_customer_ip']);

t.test('x-fapi headers (fast-check)', (t) => {
  holds(t, 'interaction id: only a UUID is echoed, any other value gets a fresh UUID', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          headerValue,
          fc.uuid().map((u) => u.toUpperCase()),
          fc.uuid(),
        ),
        (v) => {
          const id = interactionIdFor(contextWith(['x-fapi-interaction-id', v]).req);
          return UUID_PATTERN.test(id) && (isUuid(v) ? id === v : id !== v);
        },
      ),
      { numRuns: 2000 },
    );
  });
  holds(t, 'auth date: every real date is accepted in its one spelling, and only that', () => {
    fc.assert(
      fc.property(imfDate, (d) => {
        const s = new Date(Math.floor(d.getTime() / 1000) * 1000).toUTCString();
        return isImfFixdate(s) && !isImfFixdate(s.toLowerCase()) && !isImfFixdate(s.replace(' GMT', ' UTC'));
      }),
      { numRuns: 1000 },
    );
    fc.assert(
      fc.property(headerValue, (v) => {
        // Accepted means: parses to a date that spells itself the same way (idempotent normalisation).
        return !isImfFixdate(v) || new Date(Date.parse(v)).toUTCString() === v;
      }),
      { numRuns: 2000 },
    );
  });
  holds(t, 'the check: never throws, known reasons only, accepted values are well-formed', () => {
    const ip = fc.oneof(fc.ipV4(), fc.ipV6(), fc.ipV4Extended(), headerValue);
    const date = fc.oneof(
      imfDate.map((d) => d.toUTCString()),
      headerValue,
    );
    const id = fc.oneof(fc.uuid(), headerValue);
    fc.assert(
      fc.property(fc.option(id), fc.option(date), fc.option(ip), fc.boolean(), (i, d, a, twice) => {
        const raw: string[] = [];
        for (const [name, v] of [
          ['x-fapi-interaction-id', i],
          ['x-fapi-auth-date', d],
          ['x-fapi-customer-ip-address', a],
        ] as const) {
          if (v === null) continue;
          raw.push(name, v);
          if (twice) raw.push(name, v); // a repeated header is refused, never half-read
        }
        const r = runSync(fapiHeadersCheck, contextWith(raw));
        if (r !== undefined) return FAPI_REASONS.has(r.reason);
        return !twice || raw.length === 0;
      }),
      { numRuns: 3000 },
    );
  });
  holds(t, 'a customer IP address is an address: no zone identifier, bounded length', () => {
    fc.assert(
      fc.property(fc.ipV6(), fc.stringMatching(/^[a-z0-9]{1,300}$/), (addr, zone) => {
        const r = runSync(fapiHeadersCheck, contextWith(['x-fapi-customer-ip-address', `${addr}%${zone}`]));
        return r?.reason === 'invalid_customer_ip';
      }),
      { numRuns: 300 },
    );
  });
  t.end();
});

t.test('the same headers through a real gateway: its answer is the parsers decision', async (t) => {
  const f = await startGatewayFixture(t);
  const token = await f.token();
  const counted = new Map<string, number>();
  let forwarded = 0;
  // Each request is a fresh mTLS connection: a few dozen keep the file well inside its time budget.
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(
        fc.record({
          kind: fc.constant('authorization' as const),
          value: fc.oneof(
            headerValue,
            scheme.map((s) => `${s} ${token}`),
            fc.tuple(scheme, headerValue).map(([s, v]) => `${s} ${v}`),
          ),
        }),
        fc.record({
          kind: fc.constant('x-fapi-interaction-id' as const),
          value: fc.oneof(headerValue, fc.uuid()),
        }),
        fc.record({
          kind: fc.constant('x-fapi-auth-date' as const),
          value: fc.oneof(
            headerValue,
            imfDate.map((d) => d.toUTCString()),
          ),
        }),
        fc.record({
          kind: fc.constant('x-fapi-customer-ip-address' as const),
          value: fc.oneof(headerValue, fc.ipV4(), fc.ipV6()),
        }),
      ),
      async ({ kind, value }) => {
        const raw =
          kind === 'authorization'
            ? ['Authorization', value]
            : ['Authorization', `Bearer ${token}`, kind, value];
        const ctx = contextWith(raw);
        const expected = runSync(fapiHeadersCheck, ctx) ?? runSync(tokenPresentationCheck, ctx);
        const headers: Record<string, string> =
          kind === 'authorization'
            ? { authorization: value }
            : { authorization: `Bearer ${token}`, [kind]: value };
        const hitsBefore = f.upstream.hits;
        const res = await f.request({ headers });
        if (res.status >= 500) throw new Error(`${kind}: ${JSON.stringify(value)} answered ${res.status}`);
        if (expected === undefined) {
          // Passed the header checks: the token decides; a valid one is forwarded once.
          if (res.status === 200) {
            forwarded++;
            if (f.upstream.hits !== hitsBefore + 1) throw new Error('forwarded, but not exactly once');
            if (kind === 'x-fapi-interaction-id' && res.headers['x-fapi-interaction-id'] !== value)
              throw new Error('a valid interaction id is echoed');
            return;
          }
        } else if (res.status !== REJECTION_REASONS[expected.reason].status) {
          throw new Error(`${kind}: ${JSON.stringify(value)}: ${res.status} instead of ${expected.reason}`);
        }
        if (f.upstream.hits !== hitsBefore)
          throw new Error(`${kind}: ${JSON.stringify(value)} was forwarded`);
        if (!UUID_PATTERN.test(String(res.headers['x-fapi-interaction-id'])))
          throw new Error('no interaction id on a refusal');
        const body = res.json();
        const reason = expected?.reason;
        if (reason !== undefined) {
          const error = expected!.error;
          if (body.error !== error)
            throw new Error(`error ${String(body.error)} instead of ${String(error)}`);
          counted.set(reason, (counted.get(reason) ?? 0) + 1);
        }
        if (typeof body.error_description !== 'string') throw new Error('no error_description');
      },
    ),
    { numRuns: 60 },
  );
  for (const [reason, n] of counted) {
    const metric = await f.metric('fapi_gateway_rejections_total', { reason });
    // The token verifier refuses what is b64token but not a JWS with the same reason: at least n then.
    if (reason === 'token_malformed') t.ok(metric >= n, `${reason} counted at least ${n} times`);
    else t.equal(metric, n, `${reason} counted ${n} times`);
  }
  t.ok(forwarded > 0, `some requests were forwarded (${forwarded})`);
});
