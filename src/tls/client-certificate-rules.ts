/**
 * What a client certificate must be before anything is bound to it (FAPI 2 Security Profile §5.4.1:
 * RSA keys of at least 2048 bits, elliptic-curve keys of at least 160 bits). The same rules apply to a
 * certificate from the TLS handshake and to one a trusted load balancer forwards (RFC 9440).
 *
 * - EC keys need at least 256 bits: §5.4.1's 160 is a floor no deployed curve is near; P-224 and smaller
 *   named curves are refused, P-256/P-384/P-521 and Ed25519/Ed448 pass.
 * - A certificate with basicConstraints CA:TRUE is an issuer, not a client (RFC 5280 §4.2.1.9): an
 *   intermediate that chains to the client CA must not be usable as a client identity. The rule applies to
 *   certificates trusted by their chain; a self-signed certificate matched against a registered JWK Set
 *   (RFC 8705 §2.2, issuer only) is often CA:TRUE by tooling default and is trusted by its key, not its chain.
 * - The DER size is capped (default 5 KiB) so the RFC 9440 `Client-Cert` header sent upstream (base64, about
 *   6.8 KiB) fits one 8 KiB header line, nginx's default `large_client_header_buffers`; a larger certificate
 *   would otherwise be refused by the back end and surface as an upstream failure.
 */
import type { X509Certificate } from 'node:crypto';

export const MIN_RSA_BITS = 2048;
export const MIN_EC_BITS = 256;
export const DEFAULT_CLIENT_CERTIFICATE_MAX_BYTES = 5 * 1024;

/** Field sizes of the named curves OpenSSL reports (`asymmetricKeyDetails.namedCurve`). */
const CURVE_BITS: Record<string, number> = {
  prime192v1: 192,
  secp192r1: 192,
  secp224r1: 224,
  prime256v1: 256,
  secp256r1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
  brainpoolP256r1: 256,
  brainpoolP384r1: 384,
  brainpoolP512r1: 512,
};

export type ClientCertificateProblemReason = 'weak_key' | 'ca_certificate' | 'certificate_too_large';

export interface ClientCertificateProblem {
  reason: ClientCertificateProblemReason;
  /** For logs: what is wrong, never the certificate itself. */
  detail: string;
}

function keyProblem(cert: X509Certificate): string | undefined {
  const key = cert.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'rsa':
    case 'rsa-pss': {
      const bits = details.modulusLength ?? 0;
      return bits >= MIN_RSA_BITS ? undefined : `RSA key of ${bits} bits (at least ${MIN_RSA_BITS})`;
    }
    case 'ec': {
      const curve = details.namedCurve ?? 'unknown';
      const bits = CURVE_BITS[curve] ?? 0;
      return bits >= MIN_EC_BITS ? undefined : `EC key on ${curve} (at least ${MIN_EC_BITS} bits)`;
    }
    case 'ed25519':
    case 'ed448':
      return undefined;
    default:
      return `${key.asymmetricKeyType ?? 'unknown'} keys are not accepted`;
  }
}

/** `undefined` when the certificate may identify a client; otherwise the reason it may not. */
export function clientCertificateProblem(
  cert: X509Certificate,
  o: { maxBytes?: number; trustedByChain: boolean },
): ClientCertificateProblem | undefined {
  const maxBytes = o.maxBytes ?? DEFAULT_CLIENT_CERTIFICATE_MAX_BYTES;
  if (cert.raw.length > maxBytes)
    return {
      reason: 'certificate_too_large',
      detail: `certificate of ${cert.raw.length} bytes (at most ${maxBytes})`,
    };
  if (o.trustedByChain && cert.ca)
    return { reason: 'ca_certificate', detail: 'a CA certificate (basicConstraints CA:TRUE)' };
  const weak = keyProblem(cert);
  return weak === undefined ? undefined : { reason: 'weak_key', detail: weak };
}

/**
 * The same key rule for a certificate above the client's in its verified chain (an intermediate or the
 * trust anchor): a CA key FAPI does not allow is refused as weak_key.
 */
export function issuerKeyProblem(cert: X509Certificate): ClientCertificateProblem | undefined {
  const weak = keyProblem(cert);
  return weak === undefined ? undefined : { reason: 'weak_key', detail: `a CA of the chain has an ${weak}` };
}
