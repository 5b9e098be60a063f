/**
 * self_signed_tls_client_auth (RFC 8705 §2.2): no chain is checked; the certificate presented in the
 * handshake (possession of its key proven by TLS) must be one the client registered in its JWK Set:
 * the first `x5c` certificate of a JWK equals it byte for byte, or, for a JWK without `x5c`, the JWK's
 * public key equals the certificate's (§2.2.2).
 */
import { X509Certificate } from 'node:crypto';
import type { JWK } from 'jose';
import { invalidClient } from '../errors.js';
import type { ClientAuthenticator } from './method.js';

function publicKeyMembers(jwk: JWK): string | undefined {
  if (jwk.kty === 'RSA') return `RSA:${jwk.n}:${jwk.e}`;
  if (jwk.kty === 'EC') return `EC:${jwk.crv}:${jwk.x}:${jwk.y}`;
  if (jwk.kty === 'OKP') return `OKP:${jwk.crv}:${jwk.x}`;
  return undefined;
}

export function certificateMatchesJwk(der: Buffer, jwk: JWK): boolean {
  if (Array.isArray(jwk.x5c) && jwk.x5c.length > 0) {
    return Buffer.from(jwk.x5c[0]!, 'base64').equals(der);
  }
  const certKey = new X509Certificate(der).publicKey.export({ format: 'jwk' }) as JWK;
  const a = publicKeyMembers(certKey);
  return a !== undefined && a === publicKeyMembers(jwk);
}

export const selfSignedTlsClientAuth: ClientAuthenticator = {
  method: 'self_signed_tls_client_auth',
  async verify({ client, request }, runtime) {
    const cert = request.certificate;
    if (!cert)
      throw invalidClient(
        'self_signed_tls_client_auth needs a client certificate on the mTLS endpoint',
        'certificate_missing',
      );
    const keys = runtime.clientKeys.get(client.clientId);
    let registered: JWK[];
    try {
      registered = keys ? await keys.currentKeys() : [];
    } catch {
      throw invalidClient("the client's jwks_uri could not be used", 'client_jwks_unavailable');
    }
    if (!registered.some((jwk) => certificateMatchesJwk(cert.der, jwk)))
      throw invalidClient('the client certificate is not registered for this client', 'certificate_mismatch');
  },
};
