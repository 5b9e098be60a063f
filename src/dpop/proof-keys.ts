/**
 * The public keys of DPoP proofs, imported once per key rather than once per proof. A client signs every
 * proof with the same key (RFC 9449 §2), and importing a JWK into WebCrypto costs several times the
 * signature check itself, so the imported key is remembered under the key's RFC 7638 thumbprint (and the
 * algorithm it was imported for), never under anything taken from the proof as a whole. The cache is
 * bounded (least recently used first out): a flood of new keys costs an import each, as before.
 *
 * What jose's EmbeddedJWK checks before importing depends on members outside the thumbprint (`use`,
 * `alg`, `key_ops`, `ext`), so those are checked on every proof; only the import itself is reused.
 */
import { createHash, KeyObject } from 'node:crypto';
import { createVerifier, type Algorithm } from 'fast-jwt';
import { EmbeddedJWK, type CryptoKey } from 'jose';
import { LRUCache } from 'lru-cache';
import { DPOP_ALGORITHMS } from './algorithms.js';
import { jwkThumbprint } from './thumbprint.js';

/** Distinct client keys remembered; a deployment's active clients, with room to spare. */
export const PROOF_KEY_CACHE_ENTRIES = 10_000;

/**
 * A proof's signature checked synchronously (fast-jwt over node:crypto, as the access-token verifier does:
 * WebCrypto makes every signature check an asynchronous job); it returns the decoded payload.
 */
export type VerifyProofSignature = (proof: string) => Record<string, unknown>;

interface PreparedProofKey {
  key: CryptoKey;
  /** Absent for an algorithm fast-jwt does not implement (`Ed25519`) or an RSA key under 2048 bits. */
  verify: VerifyProofSignature | undefined;
}

const cache = new LRUCache<string, PreparedProofKey>({ max: PROOF_KEY_CACHE_ENTRIES });

/** fast-jwt implements every DPoP algorithm but the fully-specified `Ed25519`. */
const FAST_JWT_ALGORITHMS: ReadonlySet<string> = new Set(DPOP_ALGORITHMS.filter((alg) => alg !== 'Ed25519'));
/** RFC 7518 §3.3, §3.5 (jose refuses shorter RSA keys at verification; so does this path). */
const MIN_RSA_BITS = 2048;

function synchronousVerifier(key: CryptoKey, alg: string): VerifyProofSignature | undefined {
  if (!FAST_JWT_ALGORITHMS.has(alg)) return undefined;
  const keyObject = KeyObject.from(key);
  if (keyObject.asymmetricKeyType === 'rsa' || keyObject.asymmetricKeyType === 'rsa-pss') {
    if ((keyObject.asymmetricKeyDetails?.modulusLength ?? 0) < MIN_RSA_BITS) return undefined;
  }
  try {
    // Claims are the caller's (RFC 9449 §4.3, one error each): fast-jwt decodes, checks alg and `crit`,
    // and verifies the signature.
    return createVerifier({
      key: keyObject.export({ type: 'spki', format: 'pem' }) as string,
      algorithms: [alg as Algorithm],
      cache: false,
      ignoreExpiration: true,
      ignoreNotBefore: true,
    });
  } catch {
    return undefined;
  }
}

function member(jwk: Record<string, unknown>, name: string): string | undefined {
  const v = jwk[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * RFC 7638 §3.2: the SHA-256 of the JSON of the key type's required members, in lexicographic order, as
 * jose's calculateJwkThumbprint computes it, but synchronously. Undefined for a key without them.
 */
export function publicJwkThumbprint(jwk: Record<string, unknown>): string | undefined {
  let required: Record<string, string | undefined>;
  switch (jwk.kty) {
    case 'EC':
      required = { crv: member(jwk, 'crv'), kty: 'EC', x: member(jwk, 'x'), y: member(jwk, 'y') };
      break;
    case 'OKP':
      required = { crv: member(jwk, 'crv'), kty: 'OKP', x: member(jwk, 'x') };
      break;
    case 'RSA':
      required = { e: member(jwk, 'e'), kty: 'RSA', n: member(jwk, 'n') };
      break;
    default:
      return undefined;
  }
  if (Object.values(required).some((v) => v === undefined)) return undefined;
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

/** The per-proof part of jose's embedded-key rules (RFC 7517 §4.2-4.4; WebCrypto's JWK import). */
function usableForThisProof(jwk: Record<string, unknown>, alg: string): boolean {
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.ext === false) return false;
  const ops = jwk.key_ops;
  if (ops !== undefined && !(Array.isArray(ops) && ops.includes('verify'))) return false;
  return true;
}

export interface ProofKey {
  key: CryptoKey;
  verify: VerifyProofSignature | undefined;
  /** RFC 7638 SHA-256 thumbprint of the proof's `jwk`. */
  jkt: string;
}

/**
 * The imported public key of a proof's `jwk` header for `alg`; rejects as EmbeddedJWK would (the caller
 * maps that to a key error). Synchronous-fast for a key seen before.
 */
export async function proofKey(header: Record<string, unknown>, alg: string): Promise<ProofKey> {
  const jwk = header.jwk as Record<string, unknown>;
  const jkt = publicJwkThumbprint(jwk);
  if (jkt !== undefined && usableForThisProof(jwk, alg)) {
    const cached = cache.get(`${alg}.${jkt}`);
    if (cached !== undefined) return { ...cached, jkt };
  }
  const key = await EmbeddedJWK(header);
  // A key jose imports has its type's required members; jose's own thumbprint covers anything else.
  if (jkt === undefined) return { key, verify: undefined, jkt: await jwkThumbprint(jwk) };
  const prepared: PreparedProofKey = { key, verify: synchronousVerifier(key, alg) };
  cache.set(`${alg}.${jkt}`, prepared);
  return { ...prepared, jkt };
}
