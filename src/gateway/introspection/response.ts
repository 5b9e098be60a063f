/**
 * What an introspection answer (RFC 7662 §2.2) means for the request: a verified token, a refusal of the
 * token, or an answer that is not one (the endpoint is failing: the caller answers 503). Pure: the time is
 * given, nothing is thrown whatever the document holds.
 *
 * The answer is held to the same rules as a JWT access token's claims (RFC 9068 §4): `iss`, `aud`, `exp`,
 * `nbf` when present, `client_id` and `sub` required, `scope` a string. FAPI allows no bearer tokens
 * (FAPI 2 Security Profile §5.3.2.2), so an answer without a usable `cnf` is a refusal.
 */
import { reject, type Reject } from '../rejections.js';
import type { TokenBinding, VerifiedAccessToken } from '../tokens/verifier.js';
import { headerUnsafeClaim } from '../tokens/verified-token.js';

export interface IntrospectionPolicy {
  issuer: string;
  audience: readonly string[];
  clockSkewSeconds: number;
}

export type IntrospectionVerdict =
  | { kind: 'active'; token: VerifiedAccessToken; exp: number | undefined }
  | { kind: 'refused'; reject: Reject }
  /** Not an RFC 7662 answer: the endpoint is failing, not the token. */
  | { kind: 'invalid'; why: string };

function refused(r: Reject): IntrospectionVerdict {
  return { kind: 'refused', reject: r };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(o: Record<string, unknown>, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(o, key) ? o[key] : undefined;
}

function nonEmptyString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** RFC 8705 §3.2 (`x5t#S256`) and RFC 9449 §6.2 (`jkt`): exactly one binding, else none is usable. */
function bindingOf(cnf: unknown): TokenBinding | 'none' | 'ambiguous' {
  if (!isRecord(cnf)) return 'none';
  const x5t = nonEmptyString(own(cnf, 'x5t#S256'));
  const jkt = nonEmptyString(own(cnf, 'jkt'));
  if (x5t !== undefined && jkt !== undefined) return 'ambiguous';
  if (x5t !== undefined) return { kind: 'mtls', x5t };
  if (jkt !== undefined) return { kind: 'dpop', jkt };
  return 'none';
}

function audienceMatches(aud: unknown, accepted: readonly string[]): boolean {
  if (typeof aud === 'string') return accepted.includes(aud);
  return Array.isArray(aud) && aud.some((a) => typeof a === 'string' && accepted.includes(a));
}

function numericClaim(doc: Record<string, unknown>, name: string): number | undefined | 'invalid' {
  const v = own(doc, name);
  if (v === undefined) return undefined;
  return typeof v === 'number' && Number.isFinite(v) ? v : 'invalid';
}

/**
 * The verdict on one introspection answer. `active` must be the boolean true (RFC 7662 §2.2: a string
 * "true" is not an answer); the time checks use `clockSkewSeconds` like JWT validation does.
 */
export function interpretIntrospection(
  doc: unknown,
  policy: IntrospectionPolicy,
  nowSeconds: number,
): IntrospectionVerdict {
  if (!isRecord(doc)) return { kind: 'invalid', why: 'the answer is not a JSON object' };
  const active = own(doc, 'active');
  if (typeof active !== 'boolean') return { kind: 'invalid', why: 'the answer has no boolean "active"' };
  if (!active) return refused(reject('token_inactive', 'the access token is not active'));

  const exp = numericClaim(doc, 'exp');
  const nbf = numericClaim(doc, 'nbf');
  if (exp === 'invalid' || nbf === 'invalid') {
    return refused(reject('token_claims', 'the introspected token\'s "exp" or "nbf" is not a number'));
  }
  const iss = own(doc, 'iss');
  if (iss !== undefined && iss !== policy.issuer) {
    return refused(reject('token_issuer', 'the introspected token\'s "iss" is not acceptable'));
  }
  const aud = own(doc, 'aud');
  if (aud !== undefined && !audienceMatches(aud, policy.audience)) {
    return refused(reject('token_audience', 'the introspected token\'s "aud" is not acceptable'));
  }
  if (exp !== undefined && exp <= nowSeconds - policy.clockSkewSeconds) {
    return refused(reject('token_expired', 'the access token has expired'));
  }
  if (nbf !== undefined && nbf > nowSeconds + policy.clockSkewSeconds) {
    return refused(reject('token_not_yet_valid', 'the introspected token\'s "nbf" is in the future'));
  }
  const clientId = nonEmptyString(own(doc, 'client_id'));
  if (clientId === undefined) {
    return refused(reject('token_claims', 'the introspected token has no "client_id"'));
  }
  const subject = nonEmptyString(own(doc, 'sub'));
  if (subject === undefined) return refused(reject('token_claims', 'the introspected token has no "sub"'));
  const scope = own(doc, 'scope') ?? '';
  if (typeof scope !== 'string') {
    return refused(reject('token_claims', 'the introspected token\'s "scope" is not a string'));
  }
  // These become header values upstream (see headerUnsafeClaim): refused here, never a failed forward.
  const unsafe = headerUnsafeClaim({ client_id: clientId, sub: subject, scope });
  if (unsafe !== undefined) {
    return refused(
      reject('token_claims', `the introspected token's "${unsafe.claim}" ${unsafe.description}`),
    );
  }
  const binding = bindingOf(own(doc, 'cnf'));
  if (binding === 'none') {
    return refused(
      reject('binding_missing', 'the access token is not bound to a client certificate or DPoP key'),
    );
  }
  if (binding === 'ambiguous') {
    return refused(reject('token_claims', 'the introspected token\'s "cnf" names more than one binding'));
  }
  return {
    kind: 'active',
    exp,
    token: {
      clientId,
      subject,
      scope,
      scopes: new Set(scope.split(' ').filter((s) => s !== '')),
      binding,
      expiresAt: exp ?? Number.POSITIVE_INFINITY,
    },
  };
}
