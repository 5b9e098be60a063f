/**
 * DPoP proof keys and proofs for tests (jose, real keys). `mintDpopProof` makes a valid RFC 9449 proof for
 * one request; every header parameter and claim can be overridden or removed (set to undefined) to build
 * negative cases.
 */
import { createHash, randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';

export interface DpopKey {
  alg: string;
  privateKey: CryptoKey;
  /** The public JWK as it goes in the proof's `jwk` header. */
  publicJwk: JWK;
  /** Its private JWK (to build a proof that wrongly embeds the private key). */
  privateJwk: JWK;
  /** RFC 7638 thumbprint: the token's `cnf.jkt`. */
  jkt: string;
}

export async function createDpopKey(alg = 'ES256'): Promise<DpopKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  return {
    alg,
    privateKey,
    publicJwk,
    privateJwk: await exportJWK(privateKey),
    jkt: await calculateJwkThumbprint(publicJwk, 'sha256'),
  };
}

export function athOf(accessToken: string): string {
  return createHash('sha256').update(accessToken).digest('base64url');
}

export interface ProofOptions {
  htm?: string;
  htu?: string;
  /** The access token whose hash goes in `ath`. */
  accessToken?: string;
  nonce?: string;
  /** Unix seconds; now by default. */
  iat?: number;
  /** Header parameters merged over { typ: 'dpop+jwt', alg, jwk }; undefined removes one. */
  header?: Record<string, unknown>;
  /** Claims merged over the defaults; undefined removes one. */
  claims?: Record<string, unknown>;
  /** Sign with this key instead (the header still names `key`'s jwk unless overridden). */
  signWith?: CryptoKey | Uint8Array;
}

function withoutUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

export async function mintDpopProof(key: DpopKey, o: ProofOptions = {}): Promise<string> {
  const claims = withoutUndefined({
    jti: randomUUID(),
    htm: o.htm ?? 'GET',
    htu: o.htu ?? 'https://localhost/accounts',
    iat: o.iat ?? Math.floor(Date.now() / 1000),
    ...(o.accessToken !== undefined ? { ath: athOf(o.accessToken) } : {}),
    ...(o.nonce !== undefined ? { nonce: o.nonce } : {}),
    ...o.claims,
  });
  const header = withoutUndefined({ typ: 'dpop+jwt', alg: key.alg, jwk: key.publicJwk, ...o.header });
  return new SignJWT(claims).setProtectedHeader(header as { alg: string }).sign(o.signWith ?? key.privateKey);
}
