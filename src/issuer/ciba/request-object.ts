/**
 * Signature checks of the JWTs a CIBA client sends: the signed authentication request (CIBA Core §7.1.1)
 * and the `id_token_hint` (an ID token this issuer signed earlier). Only the signature and algorithm are
 * checked here; the claims rules are plain functions in `authentication-request.ts`.
 */
import { compactVerify, decodeProtectedHeader, errors, type JWTVerifyGetKey } from 'jose';
import { authenticationError as refuse, fail, ok, type Result } from './errors.js';
import type { AuthenticationErrorCode, CibaError } from './errors.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../untrusted-json.js';

type Err = CibaError<AuthenticationErrorCode>;

/** The key lookup jose uses for a JWK Set (`createLocalJWKSet` / `createRemoteJWKSet`). */
export type KeyLookup = JWTVerifyGetKey;

async function verifiedPayload(
  jwt: string,
  keys: KeyLookup,
  algorithms: readonly string[],
  what: string,
): Promise<Result<Record<string, unknown>, string>> {
  let alg: string | undefined;
  try {
    alg = decodeProtectedHeader(jwt).alg;
  } catch {
    return fail(`${what} is not a JWS compact serialisation`);
  }
  if (alg === undefined || alg === 'none') return fail(`${what} must be signed (alg "none" is refused)`);
  if (!algorithms.includes(alg))
    return fail(`${what} alg ${alg} is not allowed (expected ${algorithms.join(' or ')})`);
  try {
    const { payload } = await compactVerify(jwt, keys, { algorithms: [...algorithms] });
    const claims: unknown = JSON.parse(new TextDecoder().decode(payload));
    if (claims === null || typeof claims !== 'object' || Array.isArray(claims))
      return fail(`${what} payload is not a JSON object`);
    if (nestsDeeperThan(claims, MAX_JSON_DEPTH))
      return fail(`${what} nests values more than ${MAX_JSON_DEPTH} levels deep`);
    return ok(claims as Record<string, unknown>);
  } catch (e) {
    if (e instanceof errors.JWKSNoMatchingKey) return fail(`${what}: no registered key matches its kid/alg`);
    if (e instanceof errors.JWSSignatureVerificationFailed) return fail(`${what}: signature does not verify`);
    if (e instanceof SyntaxError) return fail(`${what} payload is not JSON`);
    return fail(`${what} cannot be verified (${(e as Error).message})`);
  }
}

/** Verifies the signed authentication request with the client's registered keys (CIBA Core §7.1.1). */
export async function verifyRequestObject(
  jwt: string,
  clientKeys: KeyLookup | undefined,
  algorithms: readonly string[],
): Promise<Result<Record<string, unknown>, Err>> {
  if (clientKeys === undefined)
    return fail(refuse('invalid_request', 'the client has no registered keys to verify its signed request'));
  const r = await verifiedPayload(jwt, clientKeys, algorithms, 'request object');
  return r.ok ? r : fail(refuse('invalid_request', r.error));
}

/**
 * CIBA Core §7.1 `id_token_hint`: an ID token this issuer issued to this client. Its expiry is deliberately
 * not checked (OpenID Connect Core §3.1.2.1: an expired ID token may be a hint); signature, `iss` and `aud`
 * are. Returns the subject.
 */
export async function subjectOfIdTokenHint(
  jwt: string,
  issuerKeys: KeyLookup,
  algorithms: readonly string[],
  issuer: string,
  clientId: string,
): Promise<Result<string, Err>> {
  const r = await verifiedPayload(jwt, issuerKeys, algorithms, 'id_token_hint');
  if (!r.ok) return fail(refuse('invalid_request', r.error));
  const { iss, aud, sub } = r.value;
  const audiences = Array.isArray(aud) ? aud : [aud];
  if (iss !== issuer) return fail(refuse('invalid_request', 'id_token_hint was not issued by this issuer'));
  if (!audiences.includes(clientId))
    return fail(refuse('invalid_request', 'id_token_hint was not issued to this client'));
  if (typeof sub !== 'string' || sub === '')
    return fail(refuse('invalid_request', 'id_token_hint has no sub'));
  return ok(sub);
}
