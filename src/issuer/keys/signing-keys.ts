/**
 * The issuer's own signing keys: PKCS#8 PEM files, PS256 (RSA >= 2048) or ES256 (P-256) only. The
 * first key is active for access tokens; the first key of each algorithm signs what a client asked to
 * get in that algorithm (ID tokens, JARM); every key is published at /jwks so tokens signed by a key
 * that is being rotated out keep verifying (rotation without downtime: publish the new key second,
 * wait one JWKS cache period, move it first).
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { JWK } from 'jose';
import type { ConfigProblem } from '../../config/load.js';
import type { IssuerConfig } from '../config.js';
import { compactSigner, type SignCompact } from './jws-signer.js';
import { publicJwkProblem } from './key-strength.js';

export type SigningAlgorithm = 'PS256' | 'ES256';

export interface SigningKey {
  kid: string;
  alg: SigningAlgorithm;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The public JWK as published (kid, alg, use). */
  publicJwk: JWK;
  /** Signs RFC 9068 access tokens (`typ: at+jwt`), prepared once. */
  signAccessToken: SignCompact;
}

export interface SigningKeySet {
  /** Signs access tokens. */
  active: SigningKey;
  /** The active key of one algorithm (first configured of that algorithm). */
  forAlgorithm(alg: SigningAlgorithm): SigningKey | undefined;
  byKid(kid: string): SigningKey | undefined;
  all: readonly SigningKey[];
  /** The public JWK Set served at /jwks. */
  jwks: { keys: JWK[] };
}

export function loadSigningKeys(
  entries: IssuerConfig['signingKeys'],
  problems: ConfigProblem[],
): SigningKeySet | undefined {
  const keys: SigningKey[] = [];
  entries.forEach((entry, i) => {
    const at = `signingKeys[${i}].file`;
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(readFileSync(entry.file));
    } catch (err) {
      problems.push({
        path: at,
        message: `cannot read a private key from ${entry.file}: ${(err as Error).message}`,
      });
      return;
    }
    const publicKey = createPublicKey(privateKey);
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    const weak = publicJwkProblem(jwk);
    if (weak) {
      problems.push({ path: at, message: weak });
      return;
    }
    const fits = entry.alg === 'PS256' ? jwk.kty === 'RSA' : jwk.kty === 'EC' && jwk.crv === 'P-256';
    if (!fits) {
      problems.push({
        path: `signingKeys[${i}].alg`,
        message: `${entry.alg} needs ${entry.alg === 'PS256' ? 'an RSA key' : 'a P-256 EC key'}; ${entry.file} holds a ${jwk.kty}${jwk.crv ? ` ${jwk.crv}` : ''} key`,
      });
      return;
    }
    keys.push({
      kid: entry.kid,
      alg: entry.alg,
      privateKey,
      publicKey,
      publicJwk: { ...jwk, kid: entry.kid, alg: entry.alg, use: 'sig' },
      signAccessToken: compactSigner(privateKey, { alg: entry.alg, kid: entry.kid, typ: 'at+jwt' }),
    });
  });
  if (keys.length !== entries.length || keys.length === 0) return undefined;
  return {
    active: keys[0]!,
    forAlgorithm: (alg) => keys.find((k) => k.alg === alg),
    byKid: (kid) => keys.find((k) => k.kid === kid),
    all: keys,
    jwks: { keys: keys.map((k) => k.publicJwk) },
  };
}
