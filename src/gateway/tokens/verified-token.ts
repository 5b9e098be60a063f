/**
 * The facts the gateway takes from an access token's claims (RFC 9068 §2.2 for JWTs; RFC 7662 §2.2 answers
 * use the same names), shared by every verifier so a JWT and an introspected token mean the same thing.
 */
import type { JWTPayload } from 'jose';
import { reject, type Reject } from '../rejections.js';
import type { TokenBinding, VerifiedAccessToken } from './verifier.js';

function stringClaim(payload: Record<string, unknown>, name: string): string | undefined {
  const v = payload[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * client_id, sub and scope are forwarded upstream as header values. RFC 6749 restricts client_id
 * (VSCHAR) and scope (NQCHAR) to printable ASCII; a `sub` outside it (control characters, non-Latin-1
 * text) cannot be carried in a header without an encoding the back end would have to know about, so
 * such a token is refused with its own description rather than mangled or failed upstream.
 */
const HEADER_SAFE = /^[\x20-\x7e]*$/;
function isHeaderSafe(value: string): boolean {
  return HEADER_SAFE.test(value);
}

/**
 * A header value loses its leading and trailing spaces on the way (RFC 9110 §5.5: they are not part of
 * the value, and every HTTP parser drops them), so a `sub` of " alice" would reach the back end as
 * "alice": another identity. client_id and sub with such spaces are refused; scope keeps its meaning
 * (the same scope tokens) and is forwarded as it is.
 */
function keepsItsValue(value: string): boolean {
  return value.charCodeAt(0) !== 0x20 && value.charCodeAt(value.length - 1) !== 0x20;
}

/** The forwarded claims, by their claim names. */
export interface ForwardedClaims {
  client_id: string;
  sub: string;
  scope: string;
}

const FORWARDED_CLAIMS = ['client_id', 'sub', 'scope'] as const;
/** The claims whose exact value is an identity (see keepsItsValue). */
const IDENTITY_CLAIMS = ['client_id', 'sub'] as const;

/** Why a forwarded claim cannot be carried as it is in a header value. */
export type HeaderUnsafe = { claim: keyof ForwardedClaims; description: string };

/**
 * The first forwarded claim that cannot be a header value (see isHeaderSafe, keepsItsValue), with the
 * end of a refusal's description; undefined when none.
 */
export function headerUnsafeClaim(claims: ForwardedClaims): HeaderUnsafe | undefined {
  for (const claim of FORWARDED_CLAIMS) {
    if (!isHeaderSafe(claims[claim]))
      return {
        claim,
        description: 'has characters that cannot be forwarded in an HTTP header (printable ASCII only)',
      };
  }
  for (const claim of IDENTITY_CLAIMS) {
    if (!keepsItsValue(claims[claim]))
      return { claim, description: 'starts or ends with a space, which an HTTP header would not carry' };
  }
  return undefined;
}

/**
 * The token's binding from its `cnf` claim: `x5t#S256` (RFC 8705 §3.1) or `jkt` (RFC 9449 §6.1). A
 * certificate confirmation wins when both are present, since the certificate is checked by TLS itself.
 */
export function bindingOfCnf(cnf: unknown): TokenBinding | undefined {
  if (typeof cnf !== 'object' || cnf === null) return undefined;
  const c = cnf as Record<string, unknown>;
  const x5t = c['x5t#S256'];
  if (typeof x5t === 'string' && x5t !== '') return { kind: 'mtls', x5t };
  const jkt = c.jkt;
  if (typeof jkt === 'string' && jkt !== '') return { kind: 'dpop', jkt };
  return undefined;
}

export function scopeSet(scope: string): ReadonlySet<string> {
  return new Set(scope.split(' ').filter((s) => s !== ''));
}

/** RFC 9068 §2.2 claims the gateway relies on, beyond the registered-claim rules. Pure (now is given). */
export function verifiedTokenFromPayload(
  payload: JWTPayload,
  nowSeconds: number,
  skewSeconds: number,
): VerifiedAccessToken | Reject {
  const clientId = stringClaim(payload, 'client_id');
  if (clientId === undefined) return reject('token_claims', 'the access token lacks the claim "client_id"');
  const subject = stringClaim(payload, 'sub');
  if (subject === undefined) return reject('token_claims', 'the access token lacks the claim "sub"');
  // RFC 9068 §4: iat must not be in the future (beyond the skew).
  if (typeof payload.iat === 'number' && payload.iat > nowSeconds + skewSeconds) {
    return reject('token_not_yet_valid', 'the access token\'s claim "iat" is in the future');
  }
  const scope = payload.scope ?? '';
  if (typeof scope !== 'string')
    return reject('token_claims', 'the access token\'s claim "scope" is not a string');
  const unsafe = headerUnsafeClaim({ client_id: clientId, sub: subject, scope });
  if (unsafe !== undefined) {
    return reject('token_claims', `the access token's claim "${unsafe.claim}" ${unsafe.description}`);
  }
  return {
    clientId,
    subject,
    scope,
    scopes: scopeSet(scope),
    binding: bindingOfCnf(payload.cnf),
    expiresAt: payload.exp!,
  };
}
