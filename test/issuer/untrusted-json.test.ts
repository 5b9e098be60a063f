import t from 'tap';
import { randomBytes } from 'node:crypto';
import { CompactSign, decodeJwt } from 'jose';
import { startCodeFlowIssuer, type CodeFlowIssuer } from '../helpers/code-flow.js';

let as: CodeFlowIssuer;
t.before(async () => {
  as = await startCodeFlowIssuer();
});
t.teardown(() => as.close());

/** `{"a":{"a":...}}` nested `depth` levels, as JSON text (no recursion on this side either). */
function nested(depth: number): string {
  return '{"a":'.repeat(depth) + '"x"' + '}'.repeat(depth);
}

/** A valid request object of the web client with one more claim whose JSON text is given as is. */
async function requestObjectWith(claim: string, json: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const base = decodeJwt(await as.requestObject());
  const claims = { ...base, iat: now, nbf: now, exp: now + 60, jti: randomBytes(12).toString('base64url') };
  const text = JSON.stringify(claims).slice(0, -1) + `,${JSON.stringify(claim)}:${json}}`;
  return new CompactSign(new TextEncoder().encode(text))
    .setProtectedHeader({ alg: as.webKey.alg, kid: as.webKey.kid, typ: 'oauth-authz-req+jwt' })
    .sign(as.webKey.privateKey);
}

t.test('a request object nested thousands of levels deep is refused with 400, not a 500', async (t) => {
  for (const [claim, depth] of [
    ['x_custom', 5000],
    ['claims', 5000],
    ['authorization_details', 100],
  ] as const) {
    const res = await as.par(await requestObjectWith(claim, nested(depth)));
    t.equal(res.status, 400, `${claim} nested ${depth} levels: ${res.text.slice(0, 200)}`);
    t.match(res.json, { error: 'invalid_request_object', error_description: /nest/ });
  }
  const fine = await as.par(await requestObjectWith('x_custom', nested(5)));
  t.equal(fine.status, 201, 'an unknown claim of ordinary depth is ignored');
});

t.test('nesting depth is measured without recursion, arrays and objects alike', async (t) => {
  const { nestsDeeperThan } = await import('../../src/issuer/untrusted-json.js');
  t.notOk(nestsDeeperThan('x', 0));
  t.notOk(nestsDeeperThan({ a: [1, { b: 2 }] }, 3));
  t.ok(nestsDeeperThan({ a: [1, { b: 2 }] }, 2));
  t.ok(nestsDeeperThan(JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)), 16), '100,000 levels');
});
