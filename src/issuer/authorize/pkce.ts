/**
 * PKCE (RFC 7636) with the only method FAPI allows: S256 (FAPI 1 Advanced §5.2.2-18, FAPI 2.0 Security
 * Profile §5.3.2.2). `plain` would hand the verifier to anyone who sees the authorization request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { authorizationRefusal, type AuthorizationRefusal } from './authorization-error.js';

/** RFC 7636 §4.1: 43..128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~". */
const CODE_VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
/** base64url without padding of a SHA-256 digest (RFC 7636 §4.2): exactly 43 characters. */
const S256_CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

/** The refusal for an authorization request's PKCE parameters, or undefined when they are acceptable. */
export function codeChallengeRefusal(challenge: unknown, method: unknown): AuthorizationRefusal | undefined {
  if (challenge === undefined)
    return authorizationRefusal('invalid_request', 'code_challenge is required (PKCE, RFC 7636)');
  if (method === undefined || method === 'plain')
    return authorizationRefusal(
      'invalid_request',
      `code_challenge_method ${method === undefined ? 'is required' : 'plain is not allowed'}; use S256`,
    );
  if (method !== 'S256')
    return authorizationRefusal('invalid_request', 'unsupported code_challenge_method; use S256');
  if (typeof challenge !== 'string' || !S256_CHALLENGE.test(challenge))
    return authorizationRefusal(
      'invalid_request',
      'code_challenge must be the base64url SHA-256 of the code_verifier (43 characters)',
    );
  return undefined;
}

export function s256CodeChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge, compared in constant time. */
export function codeVerifierMatches(verifier: unknown, challenge: string): boolean {
  if (typeof verifier !== 'string' || !CODE_VERIFIER.test(verifier)) return false;
  const expected = Buffer.from(challenge, 'ascii');
  const actual = Buffer.from(s256CodeChallenge(verifier), 'ascii');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
