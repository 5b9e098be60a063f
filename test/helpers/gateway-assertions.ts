/** Assertions shared by the gateway's negative tests: exact status, RFC 6750 headers, nothing forwarded, counted. */
import type { GatewayFixture } from './gateway.js';
import type { TestResponse } from './tls-client.js';

import type { Test } from 'tap';

type Asserts = Pick<Test, 'equal' | 'match' | 'ok'>;

export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const counted = new WeakMap<GatewayFixture, Map<string, number>>();

export interface ExpectedRejection {
  status: number;
  /** RFC 6750 error code; null when the challenge must carry none (RFC 6750 §3.1). */
  error: string | null;
  reason: string;
  /**
   * The challenge expected: `bearer` (default), `dpop` (RFC 9449 §7.1, with `algs`), or `both` (a DPoP and a
   * Bearer challenge, on a route accepting either binding, when no credentials were presented).
   */
  challenge?: 'bearer' | 'dpop' | 'both';
  /** The `algs` of a DPoP challenge; default the gateway's default algorithms. */
  algs?: string;
}

/** The values of every header line named `name` (case-insensitive), as received. */
export function headerLines(res: TestResponse, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < res.rawHeaders.length; i += 2) {
    if (res.rawHeaders[i]!.toLowerCase() === name) out.push(res.rawHeaders[i + 1]!);
  }
  return out;
}

function checkChallenge(t: Asserts, c: string, scheme: 'Bearer' | 'DPoP', want: ExpectedRejection): void {
  const algs = scheme === 'DPoP' ? `, algs="${want.algs ?? 'ES256 PS256 EdDSA'}"` : '';
  t.match(c, new RegExp(`^${scheme} realm="[^"]+"`), `${scheme} challenge`);
  if (want.error === null) {
    t.equal(c, `${scheme} realm="fapi-gateway"${algs}`, 'no error code without credentials');
  } else {
    t.equal(occurrences(c, 'error='), 1, 'error attribute once');
    t.equal(occurrences(c, 'error_description='), 1, 'error_description attribute once');
    t.ok(c.includes(`error="${want.error}"`), `challenge error ${want.error}`);
    if (scheme === 'DPoP') t.ok(c.endsWith(algs), `DPoP challenge carries ${algs.slice(2)}`);
  }
}

function occurrences(text: string, needle: string): number {
  return text.split(needle).length - 1;
}

/**
 * Checks one rejection completely, including that the upstream saw nothing and that
 * `fapi_gateway_rejections_total{reason}` went up by exactly one.
 */
export async function expectRejection(
  t: Asserts,
  f: GatewayFixture,
  res: TestResponse,
  want: ExpectedRejection,
): Promise<void> {
  t.equal(res.status, want.status, `status ${want.status} (${want.reason}): ${res.body}`);
  t.equal(res.headers['cache-control'], 'no-store', 'Cache-Control: no-store');
  t.match(res.headers['content-type'], /^application\/json/, 'JSON body');
  t.match(res.headers['x-fapi-interaction-id'], UUID_PATTERN, 'interaction id on the error');
  t.ok(res.headers.date, 'Date header');
  const body = res.json();
  const challenges = headerLines(res, 'www-authenticate');
  if (want.status === 400 || want.status === 401 || want.status === 403) {
    const kind = want.challenge ?? 'bearer';
    t.equal(challenges.length, kind === 'both' ? 2 : 1, 'WWW-Authenticate present, one line per scheme');
    if (kind === 'both') {
      checkChallenge(t, challenges[0] ?? '', 'DPoP', want);
      checkChallenge(t, challenges[1] ?? '', 'Bearer', want);
    } else checkChallenge(t, challenges[0] ?? '', kind === 'dpop' ? 'DPoP' : 'Bearer', want);
    if (want.error === null) t.equal(body.error, undefined);
  }
  if (want.error !== null) t.equal(body.error, want.error);
  t.equal(typeof body.error_description, 'string');
  t.equal(f.upstream.hits, 0, 'nothing reached the upstream');
  const counts = counted.get(f) ?? new Map<string, number>();
  counted.set(f, counts);
  const expected = (counts.get(want.reason) ?? 0) + 1;
  counts.set(want.reason, expected);
  t.equal(
    await f.metric('fapi_gateway_rejections_total', { reason: want.reason }),
    expected,
    `${want.reason} counted`,
  );
}
