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
  const challenge = res.headers['www-authenticate'];
  if (want.status === 400 || want.status === 401 || want.status === 403) {
    t.ok(typeof challenge === 'string', 'WWW-Authenticate present');
    const c = String(challenge);
    t.match(c, /^Bearer realm="[^"]+"/);
    if (want.error === null) {
      t.equal(c, 'Bearer realm="fapi-gateway"', 'no error code without credentials');
      t.equal(body.error, undefined);
    } else {
      t.equal(occurrences(c, 'error='), 1, 'error attribute once');
      t.equal(occurrences(c, 'error_description='), 1, 'error_description attribute once');
      t.ok(c.includes(`error="${want.error}"`), `challenge error ${want.error}`);
    }
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
