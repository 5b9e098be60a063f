import { createHash } from 'node:crypto';

/**
 * RFC 8705 §3.1: base64url (no padding) SHA-256 over the DER of the certificate: the value of
 * `cnf."x5t#S256"` in a certificate-bound access token.
 */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}
