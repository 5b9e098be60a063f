/**
 * Request object verification (RFC 9101 JAR, with the FAPI rules on top): signed with the client's
 * registered algorithm and key (never `none`, never a MAC), `iss` = client_id, `aud` = the issuer,
 * `exp` and `nbf` required, `nbf` at most 60 minutes in the past and `exp - nbf` at most 60 minutes
 * (FAPI 1 Advanced §5.2.2-13 and -17; FAPI 2.0 Message Signing §5.3.1). Every failure is
 * `invalid_request_object` with a description naming the claim.
 */
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { accept, refuse, type Checked } from './authorization-error.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from '../untrusted-json.js';

export interface RequestObjectPolicy {
  /** The issuer identifier: the only accepted `aud`. */
  issuer: string;
  /** The authenticated (PAR) or presented client_id: the required `iss`. */
  clientId: string;
  /** The client's registered `request_object_signing_alg`. */
  algorithm: 'PS256' | 'ES256';
  /** The client's registered keys. */
  keys: JWTVerifyGetKey;
  now: Date;
  clockSkewSeconds: number;
  /** FAPI: 60 minutes for both limits. */
  maxLifetimeSeconds?: number;
  maxNbfAgeSeconds?: number;
}

/** RFC 9101 §4 / §10.8: explicit typing; the generic `JWT` and an absent `typ` are still accepted. */
const ACCEPTED_TYP = new Set(['oauth-authz-req+jwt', 'jwt']);

/** Parameters that must never appear inside a request object (RFC 9101 §4). */
const FORBIDDEN_INSIDE = ['request', 'request_uri'];

/**
 * The authorization parameters this issuer reads (RFC 6749, OIDC Core §3.1.2.1, RFC 7636, JARM, RFC 9449
 * §10). Other claims are dropped before the request is stored: nothing else is used, and nothing a client
 * chooses should be kept that the issuer does not understand.
 */
export const AUTHORIZATION_PARAMETERS: ReadonlySet<string> = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'scope',
  'state',
  'nonce',
  'response_mode',
  'code_challenge',
  'code_challenge_method',
  'claims',
  'max_age',
  'prompt',
  'acr_values',
  'login_hint',
  'id_token_hint',
  'ui_locales',
  'claims_locales',
  'display',
  'dpop_jkt',
]);

function describeJoseError(e: unknown): string {
  if (e instanceof errors.JWTExpired) return 'the request object has expired (exp)';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'aud') return 'the request object aud must be the issuer identifier';
    if (e.claim === 'iss') return 'the request object iss must be the client_id';
    if (e.claim === 'nbf' && e.reason === 'check_failed') return 'the request object is not yet valid (nbf)';
    if (e.reason === 'missing') return `the request object must contain ${e.claim}`;
    return `the request object claim ${e.claim} is invalid`;
  }
  if (e instanceof errors.JOSEAlgNotAllowed)
    return 'the request object is not signed with the registered algorithm';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'the request object signature is invalid';
  if (e instanceof errors.JWKSTimeout || e instanceof errors.JWKSInvalid)
    return "the client's registered jwks_uri could not be read; the request object cannot be verified";
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys)
    return 'no registered key of the client verifies the request object';
  if (e instanceof errors.JWTInvalid) return 'the request object claims are not a valid JWT claims set';
  return 'the request object is not a valid signed JWT';
}

/**
 * Verifies a request object and returns the authorization parameters it carries (without the JWT
 * envelope claims). Encrypted request objects are not supported (RFC 9101 §6.1 makes them optional).
 */
export async function verifyRequestObject(
  jwt: string,
  policy: RequestObjectPolicy,
): Promise<Checked<Record<string, unknown>>> {
  if (jwt.split('.').length === 5)
    return refuse('invalid_request_object', 'encrypted request objects are not supported; sign it (JWS)');
  let header;
  try {
    header = decodeProtectedHeader(jwt);
  } catch {
    return refuse('invalid_request_object', 'the request object is not a valid signed JWT');
  }
  if (header.alg === 'none' || header.alg === undefined)
    return refuse('invalid_request_object', 'unsigned request objects (alg none) are not allowed');
  if (header.alg !== policy.algorithm)
    return refuse(
      'invalid_request_object',
      `the request object must be signed with ${policy.algorithm} (registered request_object_signing_alg), not ${header.alg}`,
    );
  if (header.typ !== undefined && !ACCEPTED_TYP.has(header.typ.toLowerCase()))
    return refuse(
      'invalid_request_object',
      `the request object typ ${header.typ} is not oauth-authz-req+jwt`,
    );
  if (header.crit !== undefined)
    return refuse('invalid_request_object', 'the request object uses unsupported critical header parameters');

  let payload: JWTPayload;
  try {
    ({ payload } = await jwtVerify(jwt, policy.keys, {
      algorithms: [policy.algorithm],
      issuer: policy.clientId,
      audience: policy.issuer,
      requiredClaims: ['exp', 'nbf'],
      clockTolerance: policy.clockSkewSeconds,
      currentDate: policy.now,
    }));
  } catch (e) {
    return refuse('invalid_request_object', describeJoseError(e));
  }

  const now = Math.floor(policy.now.getTime() / 1000);
  const exp = payload.exp!;
  const nbf = payload.nbf!;
  const maxLifetime = policy.maxLifetimeSeconds ?? 3600;
  const maxNbfAge = policy.maxNbfAgeSeconds ?? 3600;
  if (nbf < now - maxNbfAge - policy.clockSkewSeconds)
    return refuse(
      'invalid_request_object',
      `the request object nbf is more than ${maxNbfAge / 60} minutes in the past`,
    );
  if (exp - nbf > maxLifetime)
    return refuse(
      'invalid_request_object',
      `the request object lifetime (exp - nbf) exceeds ${maxLifetime / 60} minutes`,
    );
  for (const name of FORBIDDEN_INSIDE) {
    if (name in payload)
      return refuse('invalid_request_object', `the request object must not contain ${name}`);
  }
  if (payload['client_id'] !== undefined && payload['client_id'] !== policy.clientId)
    return refuse('invalid_request_object', 'the request object client_id does not match the client');

  if (nestsDeeperThan(payload, MAX_JSON_DEPTH))
    return refuse(
      'invalid_request_object',
      `the request object nests values more than ${MAX_JSON_DEPTH} levels deep`,
    );

  const parameters: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const [name, value] of Object.entries(payload)) {
    if (AUTHORIZATION_PARAMETERS.has(name)) parameters[name] = value;
  }
  parameters['client_id'] = policy.clientId;
  return accept(parameters);
}
