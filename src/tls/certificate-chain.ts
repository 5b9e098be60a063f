/**
 * Path validation for a client certificate that did not arrive in a TLS handshake (RFC 9440: a trusted
 * proxy forwards it in `Client-Cert`), with the checks OpenSSL applies to a handshake certificate against
 * the same `tls.clientCa` bundle (RFC 5280 §6.1 as OpenSSL implements it by default):
 *
 * - every issuer is found in the bundle by name and key identifier (`checkIssued`) and its signature over
 *   the certificate verifies; the path ends at a self-signed certificate of the bundle (no partial chains,
 *   like OpenSSL without X509_V_FLAG_PARTIAL_CHAIN);
 * - every issuer is a CA (basicConstraints CA:TRUE);
 * - an extendedKeyUsage on the leaf must allow clientAuth (OpenSSL's `sslclient` purpose);
 * - validity: the window in which every certificate of the path is valid is returned, so a cached result is
 *   re-checked against the clock on every use without validating the path again.
 *
 * Signatures are verified by node:crypto (OpenSSL); nothing here parses ASN.1.
 */
import type { X509Certificate } from 'node:crypto';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
/** Issuers above the leaf; deeper paths are refused (OpenSSL's default depth is 100, real PKIs use 1-3). */
const MAX_ISSUERS = 8;

export type ChainResult =
  { trusted: true; notBefore: number; notAfter: number } | { trusted: false; detail: string };

function extendedKeyUsage(cert: X509Certificate): readonly string[] | undefined {
  // Node 23 renamed keyUsage (which always held the extended key usage) to extKeyUsage.
  const c = cert as X509Certificate & { extKeyUsage?: string[] };
  return c.extKeyUsage ?? c.keyUsage;
}

function selfSigned(cert: X509Certificate): boolean {
  return cert.checkIssued(cert) && cert.verify(cert.publicKey);
}

function windowOf(cert: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

function pathFrom(
  cert: X509Certificate,
  anchors: readonly X509Certificate[],
  depth: number,
): { notBefore: number; notAfter: number } | undefined {
  const own = windowOf(cert);
  if (depth > 0 && selfSigned(cert) && anchors.includes(cert)) return own;
  if (depth >= MAX_ISSUERS) return undefined;
  for (const issuer of anchors) {
    if (issuer === cert || !issuer.ca || !cert.checkIssued(issuer) || !cert.verify(issuer.publicKey))
      continue;
    const above = pathFrom(issuer, anchors, depth + 1);
    if (above === undefined) continue;
    return {
      notBefore: Math.max(own.notBefore, above.notBefore),
      notAfter: Math.min(own.notAfter, above.notAfter),
    };
  }
  return undefined;
}

/** Whether `leaf` chains to a self-signed CA of `anchors`, and when the whole path is valid (ms). */
export function validateClientCertificatePath(
  leaf: X509Certificate,
  anchors: readonly X509Certificate[],
): ChainResult {
  const eku = extendedKeyUsage(leaf);
  if (eku !== undefined && !eku.includes(CLIENT_AUTH) && !eku.includes(ANY_EXTENDED_KEY_USAGE)) {
    return { trusted: false, detail: 'extendedKeyUsage does not allow clientAuth' };
  }
  const window = pathFrom(leaf, anchors, 0);
  if (window === undefined) return { trusted: false, detail: 'does not chain to tls.clientCa' };
  return { trusted: true, ...window };
}
