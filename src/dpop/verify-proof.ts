/**
 * Verification of a DPoP proof JWT (RFC 9449 §4.3), shared by the gateway (resource server, §7) and the
 * issuer (token endpoint, §5). The JWS is parsed and its signature verified by jose with the key embedded
 * in the proof's `jwk` header (`EmbeddedJWK`); everything else is the checklist of §4.3, in its order, each
 * failure a `DpopError` with its own code.
 */
import { isUtf8 } from 'node:buffer';
import { createHash } from 'node:crypto';
import { TokenError } from 'fast-jwt';
import { compactVerify, decodeProtectedHeader, errors, type CryptoKey, type JWK } from 'jose';
import { isDpopAlgorithm, jwkProblem, type DpopAlgorithm } from './algorithms.js';
import { DpopError } from './errors.js';
import { htuMatches, type ExpectedHtu } from './htu.js';
import type { DpopReplayStore } from './replay-store.js';
import { proofKey, type ProofKey, type VerifyProofSignature } from './proof-keys.js';
import { accessTokenHash } from './thumbprint.js';

/** A proof is a few hundred bytes (an RSA-4096 key makes it ~2 KiB); more is not a proof. */
export const MAX_PROOF_LENGTH = 8 * 1024;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export interface DpopProofPolicy {
  /** Allowed `alg` values; only asymmetric ones are honoured whatever the list says. */
  algorithms: readonly string[];
  /** |now - iat| must be at most this (RFC 9449 §4.3 (11), §11.1). */
  iatWindowSeconds: number;
}

export interface DpopProofRequest {
  /** The request's method, compared exactly with `htm`. */
  method: string;
  /** The origins and path `htu` must name. */
  htu: ExpectedHtu;
  /** Unix time in seconds. */
  now: number;
  /** At a protected resource: the access token presented with the proof, whose hash `ath` must be. */
  accessToken?: string;
  /** The token's `cnf.jkt`, when the caller wants the binding checked before the proof's jti is used up. */
  expectedJkt?: string;
  /** When nonces are required: whether the proof's `nonce` is acceptable (absent: nonces not required). */
  nonce?: { isValid(nonce: unknown): boolean };
  /** When given, the proof's `jti` is recorded and a second use refused. */
  replayStore?: DpopReplayStore;
}

export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of `jwk`: compared with the token's `cnf.jkt`. */
  jkt: string;
  jwk: JWK;
  alg: DpopAlgorithm;
  jti: string;
  htm: string;
  htu: string;
  iat: number;
  nonce?: string;
}

/**
 * RFC 4648 §3.5: a canonical encoding leaves the unused bits of the last character zero. Lenient decoders
 * ignore them, so without this check one proof would have several spellings (and a changed proof string
 * could still verify).
 */
const LAST_CHAR_FOR_REMAINDER: Record<number, string | undefined> = {
  0: undefined,
  2: 'AQgw',
  3: 'AEIMQUYcgkosw048',
};

function isCanonicalBase64url(segment: string): boolean {
  const remainder = segment.length % 4;
  if (remainder === 1) return false;
  const allowed = LAST_CHAR_FOR_REMAINDER[remainder];
  return allowed === undefined || allowed.includes(segment[segment.length - 1]!);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** RFC 9449 §4.2: `dpop+jwt`; media types compare case-insensitively and may carry `application/`. */
function isDpopTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const t = typ.toLowerCase();
  return t === 'dpop+jwt' || t === 'application/dpop+jwt';
}

function nonEmptyString(v: unknown): v is string {
  return typeof v === 'string' && v !== '';
}

/**
 * The replay key: the proof's key and its jti, hashed so that an entry is small and of fixed size whatever
 * the client put in `jti`, and so that two clients choosing the same jti do not collide.
 */
function replayKey(jkt: string, jti: string): string {
  return createHash('sha256').update(jkt).update('\0').update(jti).digest('base64url');
}

function signatureError(cause: unknown): DpopError {
  return new DpopError('ERR_DPOP_PROOF_SIGNATURE', "the DPoP proof's signature does not verify", {
    cause,
  });
}

/** The payload of a proof whose signature the prepared key verified (synchronously). */
function verifiedPayload(proof: string, verify: VerifyProofSignature): Record<string, unknown> {
  let payload: unknown;
  try {
    payload = verify(proof);
  } catch (cause) {
    if (cause instanceof TokenError && cause.code === TokenError.codes.invalidSignature) {
      throw signatureError(cause);
    }
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', 'the DPoP proof is not a valid JWS', { cause });
  }
  // RFC 8259 §8.1: JSON text is UTF-8; fast-jwt's decoding would replace invalid bytes instead.
  if (!isUtf8(Buffer.from(proof.slice(proof.indexOf('.') + 1, proof.lastIndexOf('.')), 'base64url'))) {
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', "the DPoP proof's payload is not JSON");
  }
  if (!isObject(payload)) {
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', "the DPoP proof's payload is not a JSON object");
  }
  return payload;
}

/** The same through jose (WebCrypto), for an algorithm or key the synchronous path does not take. */
async function verifiedPayloadByJose(
  proof: string,
  key: CryptoKey,
  alg: string,
): Promise<Record<string, unknown>> {
  let payloadBytes: Uint8Array;
  try {
    ({ payload: payloadBytes } = await compactVerify(proof, key, { algorithms: [alg] }));
  } catch (cause) {
    if (cause instanceof errors.JWSSignatureVerificationFailed) throw signatureError(cause);
    if (cause instanceof TypeError) {
      // jose's key checks at verification time (an RSA modulus under 2048 bits).
      throw new DpopError('ERR_DPOP_PROOF_KEY', 'the DPoP proof\'s "jwk" is not a usable public key', {
        cause,
      });
    }
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', 'the DPoP proof is not a valid JWS', { cause });
  }
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payloadBytes));
  } catch (cause) {
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', "the DPoP proof's payload is not JSON", { cause });
  }
  if (!isObject(payload)) {
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', "the DPoP proof's payload is not a JSON object");
  }
  return payload;
}

/**
 * Verifies one DPoP proof for one request. Resolves with what the proof establishes, or rejects with a
 * `DpopError` (and nothing else, whatever the input).
 */
export async function verifyDpopProof(
  proof: string,
  policy: DpopProofPolicy,
  request: DpopProofRequest,
): Promise<VerifiedDpopProof> {
  if (
    typeof proof !== 'string' ||
    proof.length > MAX_PROOF_LENGTH ||
    !COMPACT_JWS.test(proof) ||
    !proof.split('.').every(isCanonicalBase64url)
  ) {
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', 'the DPoP proof is not a compact JWS');
  }
  let header: Record<string, unknown>;
  try {
    header = decodeProtectedHeader(proof);
  } catch (cause) {
    throw new DpopError('ERR_DPOP_PROOF_MALFORMED', "the DPoP proof's header is not a JSON object", {
      cause,
    });
  }
  if (!isDpopTyp(header.typ)) {
    throw new DpopError('ERR_DPOP_PROOF_TYPE', 'the DPoP proof\'s header "typ" is not dpop+jwt');
  }
  const alg = header.alg;
  if (!isDpopAlgorithm(alg) || !policy.algorithms.includes(alg)) {
    throw new DpopError(
      'ERR_DPOP_PROOF_ALGORITHM',
      'the DPoP proof is signed with an algorithm that is not allowed',
    );
  }
  const keyProblem = jwkProblem(header.jwk, alg);
  if (keyProblem !== undefined) throw new DpopError('ERR_DPOP_PROOF_KEY', keyProblem);

  let prepared: ProofKey;
  try {
    // jose imports the embedded key (once per key: proof-keys.ts) and refuses a private one, or one whose
    // `use`/`alg` says otherwise.
    prepared = await proofKey(header, alg);
  } catch (cause) {
    throw new DpopError('ERR_DPOP_PROOF_KEY', 'the DPoP proof\'s "jwk" is not a usable public key', {
      cause,
    });
  }
  const { jkt } = prepared;
  const payload =
    prepared.verify !== undefined
      ? verifiedPayload(proof, prepared.verify)
      : await verifiedPayloadByJose(proof, prepared.key, alg);
  const { jti, htm, htu, iat } = payload;
  if (!nonEmptyString(jti))
    throw new DpopError('ERR_DPOP_PROOF_CLAIMS', 'the DPoP proof lacks the claim "jti"');
  if (!nonEmptyString(htm))
    throw new DpopError('ERR_DPOP_PROOF_CLAIMS', 'the DPoP proof lacks the claim "htm"');
  if (!nonEmptyString(htu))
    throw new DpopError('ERR_DPOP_PROOF_CLAIMS', 'the DPoP proof lacks the claim "htu"');
  if (typeof iat !== 'number' || !Number.isFinite(iat)) {
    throw new DpopError('ERR_DPOP_PROOF_CLAIMS', 'the DPoP proof lacks the claim "iat" (a number)');
  }
  if (htm !== request.method) {
    throw new DpopError(
      'ERR_DPOP_PROOF_METHOD',
      'the DPoP proof\'s claim "htm" is not the request\'s method',
    );
  }
  if (!htuMatches(htu, request.htu)) {
    throw new DpopError('ERR_DPOP_PROOF_URI', 'the DPoP proof\'s claim "htu" is not the request\'s URI');
  }
  if (Math.abs(request.now - iat) > policy.iatWindowSeconds) {
    throw new DpopError('ERR_DPOP_PROOF_IAT', 'the DPoP proof\'s claim "iat" is outside the accepted window');
  }
  if (request.accessToken !== undefined && payload.ath !== accessTokenHash(request.accessToken)) {
    throw new DpopError(
      'ERR_DPOP_PROOF_ATH',
      'the DPoP proof\'s claim "ath" is not the access token\'s hash',
    );
  }
  if (request.nonce !== undefined && !request.nonce.isValid(payload.nonce)) {
    throw new DpopError(
      'ERR_DPOP_NONCE',
      payload.nonce === undefined ? 'the DPoP proof lacks a nonce' : "the DPoP proof's nonce is not current",
    );
  }

  const jwk = header.jwk as JWK;
  if (request.expectedJkt !== undefined && request.expectedJkt !== jkt) {
    throw new DpopError('ERR_DPOP_BINDING', "the access token is not bound to the DPoP proof's key");
  }
  if (request.replayStore !== undefined) {
    // A proof stays acceptable until iat + window (§11.1), so it must be remembered at least that long.
    const ttlSeconds = Math.max(1, Math.ceil(iat + policy.iatWindowSeconds - request.now));
    let first: boolean;
    try {
      first = await request.replayStore.firstUse(replayKey(jkt, jti), ttlSeconds);
    } catch (cause) {
      throw new DpopError('ERR_DPOP_REPLAY_STORE', 'the DPoP replay store cannot answer', { cause });
    }
    if (!first) throw new DpopError('ERR_DPOP_REPLAY', 'the DPoP proof was already used');
  }
  return {
    jkt,
    jwk,
    alg,
    jti,
    htm,
    htu,
    iat,
    ...(typeof payload.nonce === 'string' ? { nonce: payload.nonce } : {}),
  };
}
