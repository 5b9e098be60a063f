/**
 * The header and registered-claim rules of RFC 9068 §4, as pure functions: one rule, one reason.
 */
import { isAccessTokenTyp } from '../../jose/access-token-typ.js';
import { reject, type Reject } from '../rejections.js';

/** Claims RFC 9068 §2.2 requires that the gateway checks itself (client_id and sub: verified-token.ts). */
const REQUIRED_CLAIMS = ['exp', 'iss', 'aud'] as const;

function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && accepted.includes(a));
}

/**
 * The header and registered-claim rules of RFC 9068 §4 for a token whose signature verified, in the order
 * a reader checks them; undefined when they hold. Pure (now is given).
 */
export function claimsProblem(
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  policy: { issuer: string; audience: readonly string[]; clockSkewSeconds: number },
  nowSeconds: number,
): Reject | undefined {
  if (!isAccessTokenTyp(header.typ)) {
    return header.typ === undefined
      ? reject('token_type', 'the access token lacks the header "typ" (at+jwt)')
      : reject('token_type', 'the access token\'s header "typ" is not at+jwt');
  }
  for (const claim of REQUIRED_CLAIMS) {
    if (payload[claim] === undefined)
      return reject('token_claims', `the access token lacks the claim "${claim}"`);
  }
  if (payload.iss !== policy.issuer)
    return reject('token_issuer', 'the access token\'s claim "iss" is not acceptable');
  if (!audienceMatches(payload.aud, policy.audience)) {
    return reject('token_audience', 'the access token\'s claim "aud" is not acceptable');
  }
  const skew = policy.clockSkewSeconds;
  for (const claim of ['exp', 'nbf', 'iat'] as const) {
    const v = payload[claim];
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) {
      return reject('token_claims', `the access token's claim "${claim}" is not a number`);
    }
  }
  if ((payload.exp as number) <= nowSeconds - skew)
    return reject('token_expired', 'the access token has expired');
  if (typeof payload.nbf === 'number' && payload.nbf > nowSeconds + skew) {
    return reject('token_not_yet_valid', 'the access token\'s claim "nbf" is in the future');
  }
  return undefined;
}
