import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';

/** RFC 7638 SHA-256 thumbprint of a public JWK: the value of `cnf.jkt` in a DPoP-bound token (RFC 9449 §6.1). */
export function jwkThumbprint(jwk: JWK): Promise<string> {
  return calculateJwkThumbprint(jwk, 'sha256');
}

/** RFC 9449 §4.2 `ath`: base64url (no padding) of the SHA-256 of the access token's ASCII bytes. */
export function accessTokenHash(accessToken: string): string {
  return createHash('sha256').update(accessToken, 'ascii').digest('base64url');
}
