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
 *
 * private_key_jwt assertions are decoded once and their signature checked by node:crypto with the
 * client's keys prepared once per key set (synchronous: src/jose/key-ring.ts); client_secret_jwt MACs
 * by jose (constant-time HMAC comparison). The claim rules below are the same for both.
 */
import { compactVerify, errors, type JWTPayload } from 'jose';
import type { DecodedJws, KeyCandidate } from '../../jose/key-ring.js';
import { invalidClient } from '../errors.js';
import type { ClientKeys } from '../keys/client-keys.js';
import { publicJwkProblem } from '../keys/key-strength.js';
import type { IssuerRuntime } from '../runtime.js';
import type { ClientAuthInput } from './method.js';

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

/** Types other than these mean the JWT was made for something else (RFC 8725 §3.11). */
const ACCEPTED_TYP = new Set(['jwt', 'client-authentication+jwt', 'application/client-authentication+jwt']);

/** What verifies the assertion: the client's registered keys, or its secret (HS256). */
export type AssertionKey = { keys: ClientKeys } | { secret: Uint8Array };

interface Verified {
  header: Record<string, unknown>;
  payload: JWTPayload;
  /** The JWK that verified it (client keys only). */
  jwk?: Readonly<Record<string, unknown>>;
}

/** Keys behind a jwks_uri can change at any time: each JWK is judged once, when first used. */
const judged = new WeakMap<object, string | undefined>();

function keyProblem(jwk: Readonly<Record<string, unknown>>): string | undefined {
  if (judged.has(jwk)) return judged.get(jwk);
  const problem = publicJwkProblem(jwk);
  judged.set(jwk, problem);
  return problem;
}

const malformed = () => invalidClient('client assertion is malformed', 'assertion_malformed');
const jwksUnavailable = () =>
  invalidClient("the client's jwks_uri could not be used", 'client_jwks_unavailable');
const claimInvalid = (claim: string) =>
  invalidClient(`client assertion claim "${claim}" is invalid or missing`, 'assertion_claims');

export async function verifyClientAssertion(
  input: ClientAuthInput,
  runtime: IssuerRuntime,
  key: AssertionKey,
  algorithms: readonly string[],
): Promise<JWTPayload> {
  const clientId = input.client.clientId;
  const { maxLifetimeSeconds, clockSkewSeconds } = runtime.config.clientAssertions;
  const verified =
    'keys' in key
      ? await withClientKeys(input.assertion, key.keys, algorithms)
      : await withSecret(input.params.get('client_assertion') ?? '', key.secret, algorithms);
  const { header, payload } = verified;
  const now = runtime.clock.nowSeconds();
  checkRegisteredClaims(payload, clientId, now, clockSkewSeconds);
  const typ = header.typ;
  if (typ !== undefined && (typeof typ !== 'string' || !ACCEPTED_TYP.has(typ.toLowerCase())))
    throw invalidClient(`client assertion has typ ${JSON.stringify(typ).slice(0, 42)}`, 'assertion_type');
  if (verified.jwk !== undefined && 'keys' in key && key.keys.staticKeys === undefined) {
    const problem = keyProblem(verified.jwk);
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

/**
 * RFC 7523 §3 items 1-5 and RFC 7519 §4.1: `exp`, `jti`, `aud`, `iss` and `sub` present; `iss` and
 * `sub` are the client_id; `exp` not passed, `nbf` reached, `iat` a number (each with the clock skew).
 */
function checkRegisteredClaims(payload: JWTPayload, clientId: string, now: number, skew: number): void {
  for (const claim of ['exp', 'jti', 'aud', 'iss', 'sub']) if (!(claim in payload)) throw claimInvalid(claim);
  if (payload.iss !== clientId) throw claimInvalid('iss');
  if (payload.sub !== clientId) throw claimInvalid('sub');
  if (payload.iat !== undefined && typeof payload.iat !== 'number') throw claimInvalid('iat');
  if (payload.nbf !== undefined && (typeof payload.nbf !== 'number' || payload.nbf > now + skew))
    throw claimInvalid('nbf');
  if (typeof payload.exp !== 'number') throw claimInvalid('exp');
  if (payload.exp <= now - skew) throw invalidClient('client assertion has expired', 'assertion_expired');
}

async function withClientKeys(
  jws: DecodedJws | undefined,
  keys: ClientKeys,
  algorithms: readonly string[],
): Promise<Verified> {
  if (jws === undefined) throw malformed();
  const { header } = jws;
  const { alg, kid } = header;
  if (typeof alg !== 'string' || !algorithms.includes(alg))
    throw invalidClient('client assertion algorithm is not allowed for this client', 'assertion_algorithm');
  if (kid !== undefined && typeof kid !== 'string') throw malformed();
  let candidates: KeyCandidate[];
  try {
    const ring = keys.keyRing();
    candidates = (ring instanceof Promise ? await ring : ring).candidates(alg, kid);
    if (candidates.length === 0) {
      const again = keys.afterUnknownKey();
      candidates = (again instanceof Promise ? await again : again).candidates(alg, kid);
    }
  } catch {
    throw jwksUnavailable();
  }
  if (candidates.length === 0)
    throw invalidClient(
      'no registered key of the client matches the assertion (kid/alg)',
      'assertion_key_unknown',
    );
  const signer = candidates.find((c) => c.verifySignature(jws));
  if (signer === undefined)
    throw invalidClient('client assertion signature is invalid', 'assertion_signature');
  // RFC 7515 §4.1.11: an extension marked critical must be understood; none is here.
  if (header.crit !== undefined) throw malformed();
  return { header, payload: jws.payload, jwk: signer.jwk };
}

async function withSecret(
  assertion: string,
  secret: Uint8Array,
  algorithms: readonly string[],
): Promise<Verified> {
  let header: Record<string, unknown>;
  let payload: unknown;
  try {
    const verified = await compactVerify(assertion, secret, { algorithms: [...algorithms] });
    header = verified.protectedHeader;
    payload = JSON.parse(new TextDecoder().decode(verified.payload));
  } catch (err) {
    throw joseError(err);
  }
  // RFC 7519 §7.2 step 10: the JWS payload of a JWT is a JSON object; RFC 7797 unencoded payloads are not JWTs.
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload) || header.b64 === false)
    throw malformed();
  return { header, payload: payload as JWTPayload };
}

function joseError(err: unknown): Error {
  if (err instanceof errors.JOSEAlgNotAllowed)
    return invalidClient('client assertion algorithm is not allowed for this client', 'assertion_algorithm');
  if (err instanceof errors.JWSSignatureVerificationFailed)
    return invalidClient('client assertion signature is invalid', 'assertion_signature');
  if (err instanceof errors.JOSEError || err instanceof SyntaxError) return malformed();
  return err as Error;
}
