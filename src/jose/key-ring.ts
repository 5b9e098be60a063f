/**
 * Verification keys prepared once per key set (not per token): each usable JWK becomes a node:crypto
 * public key and, for each allowed algorithm it can verify, a synchronous fast-jwt verifier. The gateway
 * verifies access tokens with the issuer's key set, the issuer verifies client assertions with a
 * client's key set and introspected access tokens with its own.
 *
 * Why not jose's jwtVerify on the request path: jose 6 verifies through WebCrypto, an asynchronous job per
 * signature. Measured on the bench machine (ES256, one core): jose jwtVerify 114-153 µs of CPU per token,
 * fast-jwt's synchronous node:crypto verification 70-77 µs, OpenSSL's own `speed` 60 µs. A new token is
 * verified once; this is what scenario (b) of `npm run bench` pays on every first sight of a token, and
 * what the issuer pays for every private_key_jwt assertion (each is new: its jti is single use).
 * jose still fetches nothing here and selects nothing: selection follows its local-JWKS rules (below).
 *
 * A caller that has decoded the token already (the gateway: fast-jwt's decoder, once per new token) checks
 * only the signature, with `verifySignature`: the one-shot `crypto.verify` over the prepared `KeyObject`
 * with the algorithm's arguments made once (RFC 7518 §3), where a full fast-jwt verifier would decode the
 * token again and build a `crypto.Verify` stream object per signature.
 *
 * Key selection (as jose's createLocalJWKSet): `kid` must match when the token names one, the JWK's `alg`
 * (when present) must equal the token's, `use` must be `sig` and `key_ops` must include `verify` when
 * present, and the key type and curve must fit the algorithm. Keys are never taken from token headers
 * (`jwk`, `jku`, `x5u`, `x5c`), RSA keys shorter than 2048 bits are unusable, and HMAC/`none` never reach
 * this module (the configuration's algorithm list excludes them).
 */
import {
  constants,
  createPublicKey,
  verify as cryptoVerify,
  type JsonWebKey,
  type KeyObject,
  type VerifyKeyObjectInput,
} from 'node:crypto';
import { createDecoder, createVerifier, type Algorithm } from 'fast-jwt';
import type { JSONWebKeySet } from 'jose';

/** What a prepared verifier returns: the decoded header and claims of a token whose signature verified. */
export interface DecodedToken {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

export type VerifySignature = (token: string) => DecodedToken;

/** A compact JWS its caller has decoded: the signing input (RFC 7515 §5.2) and the base64url signature. */
export interface SignedParts {
  input: string;
  signature: string;
}

/** A compact JWS decoded once: what key selection, the signature check and the claim rules read. */
export interface DecodedJws extends SignedParts {
  header: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/**
 * RFC 7515 §5.2 decoding (fast-jwt's decoder): three base64url segments, a JSON object header and a JSON
 * object payload, with the signing input and signature as sent. Throws on anything else.
 */
export const decodeCompactJws = createDecoder({ complete: true }) as unknown as (token: string) => DecodedJws;

/** Whether the signature over the signing input verifies with this key and algorithm. Never throws. */
export type CheckSignature = (jws: SignedParts) => boolean;

interface Family {
  kty: 'RSA' | 'EC' | 'OKP';
  crv?: readonly string[];
}

const FAMILIES: Record<string, Family> = {
  PS256: { kty: 'RSA' },
  PS384: { kty: 'RSA' },
  PS512: { kty: 'RSA' },
  RS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: ['P-256'] },
  ES384: { kty: 'EC', crv: ['P-384'] },
  ES512: { kty: 'EC', crv: ['P-521'] },
  EdDSA: { kty: 'OKP', crv: ['Ed25519', 'Ed448'] },
};

/** RFC 7518 §3.3-3.5 and RFC 8037 §3.1: the digest and the key options `crypto.verify` takes for each. */
const PSS = { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST };
const SCHEMES: Record<string, { digest: string | null; options: Omit<VerifyKeyObjectInput, 'key'> }> = {
  RS256: { digest: 'sha256', options: { padding: constants.RSA_PKCS1_PADDING } },
  // RFC 7518 §3.5: the salt is as long as the digest.
  PS256: { digest: 'sha256', options: PSS },
  PS384: { digest: 'sha384', options: PSS },
  PS512: { digest: 'sha512', options: PSS },
  // RFC 7518 §3.4: R || S, each as long as the curve's order (IEEE P1363), not DER.
  ES256: { digest: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { digest: 'sha384', options: { dsaEncoding: 'ieee-p1363' } },
  ES512: { digest: 'sha512', options: { dsaEncoding: 'ieee-p1363' } },
  // EdDSA signs the message itself: no separate digest.
  EdDSA: { digest: null, options: {} },
};

const MIN_RSA_BITS = 2048;

interface PreparedKey {
  kid: string | undefined;
  /** The JWK as published, for rules a caller applies to the key itself (e.g. FAPI key strength). */
  jwk: Readonly<Record<string, unknown>>;
  /** Algorithm -> verifier, only for algorithms this key may verify. */
  verifiers: Map<string, VerifySignature>;
  /** Algorithm -> signature check, for the same algorithms. */
  signatures: Map<string, CheckSignature>;
}

export interface KeyCandidate {
  verify: VerifySignature;
  verifySignature: CheckSignature;
  jwk: Readonly<Record<string, unknown>>;
}

export type KeySelection =
  | { kind: 'key'; verify: VerifySignature; verifySignature: CheckSignature }
  | { kind: 'none' }
  /** Several keys fit a token without `kid`: ambiguous, refused (an issuer with several keys sets kid). */
  | { kind: 'ambiguous' };

function usableForVerification(jwk: Record<string, unknown>): boolean {
  const use = jwk.use;
  const ops = jwk.key_ops;
  if (use !== undefined && use !== 'sig') return false;
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return false;
  return true;
}

function fits(jwk: Record<string, unknown>, key: KeyObject, alg: string): boolean {
  const family = FAMILIES[alg];
  if (family === undefined || jwk.kty !== family.kty) return false;
  if (family.crv !== undefined && !family.crv.includes(jwk.crv as string)) return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (family.kty === 'RSA' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) return false;
  return true;
}

/** The signature check of one key and one algorithm: the key and its options are made once, here. */
function signatureCheck(key: KeyObject, alg: string): CheckSignature | undefined {
  const scheme = SCHEMES[alg];
  if (scheme === undefined) return undefined;
  const digest = scheme.digest;
  const keyInput: VerifyKeyObjectInput = { key, ...scheme.options };
  return (jws) => {
    try {
      return cryptoVerify(
        digest,
        Buffer.from(jws.input, 'latin1'),
        keyInput,
        Buffer.from(jws.signature, 'base64url'),
      );
    } catch {
      // A signature node:crypto cannot even parse for this key does not verify.
      return false;
    }
  };
}

function prepare(jwk: Record<string, unknown>, algorithms: readonly string[]): PreparedKey | undefined {
  if (!usableForVerification(jwk)) return undefined;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
  } catch {
    return undefined; // not a key node:crypto can import: it verifies nothing
  }
  if (key.type !== 'public') return undefined;
  const pem = key.export({ type: 'spki', format: 'pem' }) as string;
  const verifiers = new Map<string, VerifySignature>();
  const signatures = new Map<string, CheckSignature>();
  for (const alg of algorithms) {
    if (!fits(jwk, key, alg)) continue;
    const check = signatureCheck(key, alg);
    if (check === undefined) continue;
    try {
      // Claims are checked by the caller (one reason per claim); this verifier decodes, checks the
      // algorithm and `crit`, and verifies the signature, synchronously.
      const verify = createVerifier({
        key: pem,
        algorithms: [alg as Algorithm],
        complete: true,
        cache: false,
        ignoreExpiration: true,
        ignoreNotBefore: true,
      }) as unknown as VerifySignature;
      verifiers.set(alg, verify);
      signatures.set(alg, check);
    } catch {
      // fast-jwt refuses a key/algorithm pair it cannot verify: the key is not usable for that algorithm.
    }
  }
  if (verifiers.size === 0) return undefined;
  return { kid: typeof jwk.kid === 'string' ? jwk.kid : undefined, jwk, verifiers, signatures };
}

/** The prepared keys of one JWKS document. Immutable: a new key set is a new ring. */
export class KeyRing {
  private readonly keys: PreparedKey[];

  constructor(jwks: JSONWebKeySet, algorithms: readonly string[]) {
    this.keys = [];
    for (const jwk of jwks.keys) {
      const prepared = prepare(jwk, algorithms);
      if (prepared) this.keys.push(prepared);
    }
  }

  get size(): number {
    return this.keys.length;
  }

  select(alg: string, kid: string | undefined): KeySelection {
    let found: PreparedKey | undefined;
    let count = 0;
    for (const k of this.keys) {
      if (kid !== undefined && k.kid !== kid) continue;
      if (!k.verifiers.has(alg)) continue;
      found = k;
      count++;
    }
    if (count === 0) return { kind: 'none' };
    if (count > 1) return { kind: 'ambiguous' };
    return { kind: 'key', verify: found!.verifiers.get(alg)!, verifySignature: found!.signatures.get(alg)! };
  }

  /**
   * Every key that may verify a token with this header, in key-set order: a token without `kid` is tried
   * against each (as jose's local JWK Set does for several matching keys).
   */
  candidates(alg: string, kid: string | undefined): KeyCandidate[] {
    const out: KeyCandidate[] = [];
    for (const k of this.keys) {
      if (kid !== undefined && k.kid !== kid) continue;
      const verify = k.verifiers.get(alg);
      if (verify !== undefined) out.push({ verify, verifySignature: k.signatures.get(alg)!, jwk: k.jwk });
    }
    return out;
  }
}
