/**
 * Property-based test (fast-check) of request-object validation end to end: a request object correctly
 * signed by the client's registered key, carrying hostile JSON in its authorization parameters (wrong
 * types, nested objects, huge numbers, prototype keys), pushed to the PAR endpoint (RFC 9126) of a real
 * issuer, then its request_uri to the authorization endpoint. Every answer is 201 (then a page or redirect) or an RFC 6749 §5.2 refusal with a code of the refusal table; never 5xx.
 */
import t from 'tap';
import fc from 'fast-check';
import { startCodeFlowIssuer } from '../helpers/code-flow.js';
import { ISSUER_REFUSALS } from '../../src/issuer/refusals.js';
import { AUTHORIZATION_PARAMETERS } from '../../src/issuer/authorize/request-object.js';
import { hostileJson } from '../helpers/arbitraries.js';

const KNOWN_ERRORS = new Set<string>(Object.values(ISSUER_REFUSALS).map((r) => r.error));

const json = hostileJson({
  scalars: [null, true, 0, -1, 1e300, 0.5, '', 'openid', 'code', 'query.jwt', 'S256', 'none'],
  keys: ['id_token', 'userinfo', 'acr', 'essential'],
});

/** Every parameter the issuer reads, and names that would reach an object's prototype. */
const PARAMETERS = [...AUTHORIZATION_PARAMETERS, '__proto__', 'constructor'];

t.test('hostile authorization parameters in signed request objects, pushed to a real issuer', async (t) => {
  const as = await startCodeFlowIssuer();
  t.teardown(() => as.close());
  let accepted = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.constantFrom(...PARAMETERS), json), { maxLength: 3 }),
      async (members) => {
        const body = members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v) ?? 'null'}`).join(',');
        const claims = JSON.parse(`{${body}}`) as Record<string, unknown>;
        const res = await as.par(await as.requestObject(claims));
        if (res.status >= 500) throw new Error(`PAR answered ${res.status}: ${res.text}`);
        if (res.status === 201) {
          accepted++;
          return;
        }
        if (res.status !== 400 && res.status !== 401)
          throw new Error(`PAR answered ${res.status}: ${res.text}`);
        if (typeof res.json.error !== 'string' || !KNOWN_ERRORS.has(res.json.error))
          throw new Error(`unknown refusal: ${res.text}`);
      },
    ),
    { numRuns: 40 },
  );
  t.ok(accepted > 0, `some requests were accepted (${accepted} of 40)`);
});
