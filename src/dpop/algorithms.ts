/**
 * The asymmetric JWS algorithms a DPoP proof may use (RFC 9449 §4.3 (5): never `none`, never a MAC) and
 * the key type each needs, so that a `jwk` of the wrong type is refused before any key is imported.
 */
export const DPOP_ALGORITHMS = [
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
  'RS256',
  'RS384',
  'RS512',
  'EdDSA',
  'Ed25519',
] as const;

export type DpopAlgorithm = (typeof DPOP_ALGORITHMS)[number];

interface KeyShape {
  kty: 'EC' | 'RSA' | 'OKP';
  crv?: string;
}

const KEY_FOR_ALGORITHM: Record<DpopAlgorithm, KeyShape> = {
  ES256: { kty: 'EC', crv: 'P-256' },
  ES384: { kty: 'EC', crv: 'P-384' },
  ES512: { kty: 'EC', crv: 'P-521' },
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  RS256: { kty: 'RSA' },
  RS384: { kty: 'RSA' },
  RS512: { kty: 'RSA' },
  EdDSA: { kty: 'OKP', crv: 'Ed25519' },
  Ed25519: { kty: 'OKP', crv: 'Ed25519' },
};

/** JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

export function isDpopAlgorithm(alg: unknown): alg is DpopAlgorithm {
  return typeof alg === 'string' && Object.hasOwn(KEY_FOR_ALGORITHM, alg);
}

/** Why a `jwk` header cannot be the key of a proof signed with `alg`; undefined when it can. */
export function jwkProblem(jwk: unknown, alg: DpopAlgorithm): string | undefined {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
    return 'the DPoP proof lacks the header "jwk" (a JSON object)';
  }
  const key = jwk as Record<string, unknown>;
  for (const member of PRIVATE_MEMBERS) {
    if (Object.hasOwn(key, member)) return 'the DPoP proof\'s "jwk" is not a public key';
  }
  const shape = KEY_FOR_ALGORITHM[alg];
  if (key.kty !== shape.kty) return `the DPoP proof's "jwk" is not of the type ${alg} needs`;
  if (shape.crv !== undefined && key.crv !== shape.crv) {
    return `the DPoP proof's "jwk" is not on the curve ${alg} needs`;
  }
  return undefined;
}
