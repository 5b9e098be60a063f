/**
 * Every way a DPoP proof (RFC 9449) can fail, as a typed error with a machine-readable `code` in the style
 * of jose's errors: callers (the gateway's checks, the issuer's token endpoint) map codes 1:1 to their own
 * rejection reasons and never parse messages. Messages never contain the proof or the token.
 */
export const DPOP_ERROR_CODES = [
  /** Not a compact JWS, too long, or a header/payload that is not a JSON object. */
  'ERR_DPOP_PROOF_MALFORMED',
  /** RFC 9449 §4.3 (4): `typ` is not `dpop+jwt`. */
  'ERR_DPOP_PROOF_TYPE',
  /** RFC 9449 §4.3 (5): `alg` is not one of the allowed asymmetric algorithms. */
  'ERR_DPOP_PROOF_ALGORITHM',
  /** RFC 9449 §4.3 (7): `jwk` missing, not public, unusable, or of a type that does not match `alg`. */
  'ERR_DPOP_PROOF_KEY',
  /** RFC 9449 §4.3 (6): the signature does not verify with the embedded `jwk`. */
  'ERR_DPOP_PROOF_SIGNATURE',
  /** RFC 9449 §4.2: `jti`, `htm`, `htu` or `iat` missing or of the wrong type. */
  'ERR_DPOP_PROOF_CLAIMS',
  /** RFC 9449 §4.3 (8): `htm` is not the request's method. */
  'ERR_DPOP_PROOF_METHOD',
  /** RFC 9449 §4.3 (9): `htu` is not the request's URI. */
  'ERR_DPOP_PROOF_URI',
  /** RFC 9449 §4.3 (11): `iat` outside the accepted window. */
  'ERR_DPOP_PROOF_IAT',
  /** RFC 9449 §4.3 (12): `ath` missing or not the access token's hash. */
  'ERR_DPOP_PROOF_ATH',
  /** RFC 9449 §8, §9: a nonce is required and the proof's `nonce` is missing or not current. */
  'ERR_DPOP_NONCE',
  /** RFC 9449 §11.1: the proof's `jti` was already used within the window. */
  'ERR_DPOP_REPLAY',
  /** RFC 9449 §6.1: the proof's key is not the one the access token is bound to (`cnf.jkt`). */
  'ERR_DPOP_BINDING',
  /** The replay store could not answer (full, or a shared store unreachable): fail closed. */
  'ERR_DPOP_REPLAY_STORE',
] as const;

export type DpopErrorCode = (typeof DPOP_ERROR_CODES)[number];

export class DpopError extends Error {
  override readonly name = 'DpopError';

  constructor(
    readonly code: DpopErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export function isDpopError(err: unknown): err is DpopError {
  return err instanceof DpopError;
}
