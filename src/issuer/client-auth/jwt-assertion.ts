/**
 * JWT client assertions, shared by private_key_jwt and client_secret_jwt (RFC 7523 §3, RFC 7521 §4.2,
 * OIDC Core §9, FAPI 2 Security Profile §5.3.2.1):
 * - `iss` and `sub` are the client_id; `aud` is the issuer identifier as a string (FAPI 2 clients), or for
 *   FAPI 1 Advanced clients also a token endpoint URL (both listeners) or an array of exactly one;
 * - `aud` must be that single value: an assertion whose audience
 *   lists several servers could be replayed by any of them (the 2025 "audience injection" finding that
 *   led FAPI 2 and OIDC to require aud = issuer as a single value);
 * - `exp` is required and at most `clientAssertions.maxLifetimeSeconds` ahead (short-lived);
 * - `jti` is required and single use (replay cache until `exp`);
 * - the algorithm comes from a fixed allow-list, never `none` (RFC 8725 §3.1).
 */
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey, exportJWK, type CryptoKey } from 'jose';
import { invalidClient } from '../errors.js';
import { publicJwkProblem } from '../keys/key-strength.js';
import type { IssuerRuntime } from '../runtime.js';
import type { ClientAuthInput } from './method.js';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Types other than these mean the JWT was made for something else (RFC 8725 §3.11). */
const ACCEPTED_TYP = new Set(['jwt', 'client-authentication+jwt', 'application/client-authentication+jwt']);

/**
 * jose hands back the same key object for as long as it keeps a key (a static set for ever, a remote
 * set until it is refetched), so each key is exported and judged once, not on every assertion.
 */
const judged = new WeakMap<CryptoKey, Promise<string | undefined>>();

function keyProblem(key: CryptoKey): Promise<string | undefined> {
  let problem = judged.get(key);
  if (!problem) {
    problem = exportJWK(key).then(publicJwkProblem);
    judged.set(key, problem);
  }
  return problem;
}

export async function verifyClientAssertion(
  input: ClientAuthInput,
  runtime: IssuerRuntime,
  key: JWTVerifyGetKey | Uint8Array,
  algorithms: string[],
): Promise<JWTPayload> {
  const assertion = input.params.get('client_assertion') ?? '';
  const clientId = input.client.clientId;
  const { maxLifetimeSeconds, clockSkewSeconds } = runtime.config.clientAssertions;
  let payload: JWTPayload;
  let usedKey: unknown;
  try {
    const options = {
      algorithms,
      issuer: clientId,
      subject: clientId,
      clockTolerance: clockSkewSeconds,
      requiredClaims: ['exp', 'jti', 'aud'],
      currentDate: new Date(runtime.clock.nowMs()),
    };
    const verified =
      key instanceof Uint8Array
        ? await jwtVerify(assertion, key, options)
        : await jwtVerify(assertion, key, options);
    payload = verified.payload;
    usedKey = 'key' in verified ? verified.key : undefined;
    const typ = verified.protectedHeader.typ;
    if (typ !== undefined && !ACCEPTED_TYP.has(typ.toLowerCase()))
      throw invalidClient(`client assertion has typ "${typ.slice(0, 40)}"`, 'assertion_type');
  } catch (err) {
    throw assertionError(err);
  }
  // Keys behind a jwks_uri can change at any time: check the one that verified now.
  if (usedKey && !(key instanceof Uint8Array)) {
    const problem = await keyProblem(usedKey as CryptoKey);
    if (problem) throw invalidClient(`the client's signing key is refused: ${problem}`, 'assertion_weak_key');
  }
  const onlyIssuer = input.acceptedAudiences.length === 1;
  const aud = Array.isArray(payload.aud) && !onlyIssuer ? payload.aud : [payload.aud];
  if (aud.length !== 1 || typeof aud[0] !== 'string' || !input.acceptedAudiences.includes(aud[0]))
    throw invalidClient(
      onlyIssuer
        ? `client assertion aud must be the issuer identifier "${runtime.urls.issuer}" as a string`
        : `client assertion aud must be the issuer identifier "${runtime.urls.issuer}" (or the token endpoint URL) as a single value`,
      'assertion_audience',
    );
  const now = runtime.clock.nowSeconds();
  const exp = payload.exp!;
  if (exp - now > maxLifetimeSeconds + clockSkewSeconds)
    throw invalidClient(
      `client assertion exp is more than ${maxLifetimeSeconds} s ahead; assertions must be short-lived`,
      'assertion_lifetime',
    );
  if (typeof payload.iat === 'number') {
    if (payload.iat > now + clockSkewSeconds)
      throw invalidClient('client assertion iat is in the future', 'assertion_claims');
    if (exp - payload.iat > maxLifetimeSeconds + clockSkewSeconds)
      throw invalidClient(
        `client assertion lifetime (exp - iat) exceeds ${maxLifetimeSeconds} s`,
        'assertion_lifetime',
      );
  }
  if (typeof payload.jti !== 'string' || payload.jti.length < 1 || payload.jti.length > 256)
    throw invalidClient('client assertion jti must be a string (1 to 256 characters)', 'assertion_claims');
  const fresh = await runtime.storage.replay.firstUse(
    `client-assertion:${clientId}`,
    payload.jti,
    (exp + clockSkewSeconds + 1) * 1000,
  );
  if (!fresh) throw invalidClient('client assertion jti was already used (replay)', 'assertion_replayed');
  return payload;
}

function assertionError(err: unknown): Error {
  if (!(err instanceof errors.JOSEError)) return err as Error;
  if (err instanceof errors.JWTExpired)
    return invalidClient('client assertion has expired', 'assertion_expired');
  if (err instanceof errors.JWTClaimValidationFailed)
    return invalidClient(`client assertion claim "${err.claim}" is invalid or missing`, 'assertion_claims');
  if (err instanceof errors.JOSEAlgNotAllowed)
    return invalidClient('client assertion algorithm is not allowed for this client', 'assertion_algorithm');
  if (err instanceof errors.JWKSNoMatchingKey)
    return invalidClient(
      'no registered key of the client matches the assertion (kid/alg)',
      'assertion_key_unknown',
    );
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return invalidClient('client assertion signature is invalid', 'assertion_signature');
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid)
    return invalidClient("the client's jwks_uri could not be used", 'client_jwks_unavailable');
  return invalidClient('client assertion is malformed', 'assertion_malformed');
}
