/**
 * FAPI key strength (FAPI 1 Advanced §8.6, FAPI 2 Security Profile §5.4.1): RSA keys of at least 2048
 * bits, elliptic-curve keys of at least 160 bits (we require P-256 or stronger, the only curves JOSE
 * registers for ES256+). Returns a problem sentence, or undefined when the key is acceptable.
 */
import type { JWK } from 'jose';

const EC_CURVES = new Set(['P-256', 'P-384', 'P-521']);
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

export function publicJwkProblem(jwk: JWK): string | undefined {
  if (jwk.kty === 'oct')
    return 'symmetric (oct) keys cannot be registered in a JWK Set; client_secret_jwt uses clientSecret';
  const leaked = PRIVATE_MEMBERS.filter((m) => m in jwk);
  if (leaked.length > 0)
    return `contains private key material (${leaked.join(', ')}); register the public key only and treat this key as compromised`;
  switch (jwk.kty) {
    case 'RSA': {
      if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return 'RSA key without n/e';
      const bits = rsaModulusBits(jwk.n);
      return bits < 2048 ? `RSA key of ${bits} bits; FAPI needs >= 2048` : undefined;
    }
    case 'EC':
      if (!EC_CURVES.has(String(jwk.crv)))
        return `EC key on curve ${String(jwk.crv)}; FAPI needs P-256 or stronger`;
      return typeof jwk.x === 'string' && typeof jwk.y === 'string' ? undefined : 'EC key without x/y';
    default:
      return `key type ${String(jwk.kty)} is not allowed (FAPI signing uses PS256 or ES256: RSA or EC keys)`;
  }
}

function rsaModulusBits(n: string): number {
  const bytes = Buffer.from(n, 'base64url');
  let i = 0;
  while (i < bytes.length && bytes[i] === 0) i++;
  if (i === bytes.length) return 0;
  return (bytes.length - i - 1) * 8 + (32 - Math.clz32(bytes[i]!));
}

/** Which JWS algorithms a key can make (the FAPI allow-list only). */
export function algorithmsForKey(jwk: JWK): ('PS256' | 'ES256')[] {
  if (jwk.kty === 'RSA') return ['PS256'];
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return ['ES256'];
  return [];
}

/**
 * client_secret_jwt secrets need >= 256 bits of entropy (FAPI 1 Advanced §8.6 asks for HMAC keys of
 * at least 256 bits; RFC 7518 §3.2 for HS256). A string cannot prove its randomness, so this is an upper
 * bound from its alphabet: 4 bits per hex digit, 6 per base64/base64url character, otherwise log2 of the
 * character classes it spans; a string of fewer than 8 distinct characters ("aaaa...") counts only
 * log2(distinct) per character.
 */
export function secretEntropyBits(secret: string): number {
  const chars = [...secret.replace(/=+$/, '')];
  const distinct = new Set(chars).size;
  let perChar: number;
  if (distinct < 8) perChar = Math.log2(Math.max(2, distinct));
  else if (/^[0-9a-fA-F]+$/.test(secret)) perChar = 4;
  else if (/^[A-Za-z0-9+/_-]+=*$/.test(secret)) perChar = 6;
  else {
    let alphabet = 0;
    if (/[a-z]/.test(secret)) alphabet += 26;
    if (/[A-Z]/.test(secret)) alphabet += 26;
    if (/[0-9]/.test(secret)) alphabet += 10;
    if (/[^a-zA-Z0-9]/.test(secret)) alphabet += 33;
    perChar = Math.log2(alphabet);
  }
  return Math.floor(chars.length * perChar);
}
