/**
 * Path validation for a client certificate that did not arrive in a TLS handshake (RFC 9440: a trusted
 * proxy forwards it in `Client-Cert`, and the intermediates the client sent in `Client-Cert-Chain`), with
 * the checks OpenSSL applies to a handshake certificate against the same `tls.clientCa` bundle (RFC 5280
 * §6.1 as OpenSSL implements it by default):
 *
 * - every issuer is found by name and key identifier (`checkIssued`, which also requires keyCertSign when
 *   a keyUsage is present) among the bundle's certificates first, then among the intermediates the client
 *   sent (untrusted: they only help to build the path), and its signature over the certificate verifies;
 *   the path ends at a self-signed certificate of the bundle (no partial chains, like OpenSSL without
 *   X509_V_FLAG_PARTIAL_CHAIN): an intermediate the client sent is never a trust anchor;
 * - every issuer is a CA (basicConstraints CA:TRUE) whose pathLenConstraint allows the CAs below it;
 * - an extendedKeyUsage on the leaf must allow clientAuth (OpenSSL's `sslclient` purpose);
 * - validity: the window in which every certificate of the path is valid is returned, so a cached result is
 *   re-checked against the clock on every use without validating the path again;
 * - the issuers of the path are returned, for the FAPI key rule the handshake applies to them.
 *
 * The search is bounded whatever the client sent: at most MAX_ISSUERS issuers, each signature checked at
 * most once per (certificate, issuer) pair, and a certificate that found no path at a depth is not searched
 * again at that depth, so a crafted set of certificates with matching names costs a few hundred checks at
 * most, not one per permutation.
 *
 * Signatures are verified by node:crypto (OpenSSL); a pathLenConstraint is read by @peculiar/x509, loaded
 * the first time a path has a CA between the leaf and its anchor (some 15 MiB and 0.1 s that a gateway whose
 * clients' certificates are issued directly by an anchor never spends); nothing here parses ASN.1.
 */
import type { X509Certificate } from 'node:crypto';
import { createRequire } from 'node:module';
import type * as PeculiarX509 from '@peculiar/x509';

const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
/** Issuers above the leaf; deeper paths are refused (OpenSSL's default depth is 100, real PKIs use 1-3). */
export const MAX_ISSUERS = 8;

export type ChainResult =
  | { trusted: true; notBefore: number; notAfter: number; issuers: readonly X509Certificate[] }
  | { trusted: false; detail: string };

function extendedKeyUsage(cert: X509Certificate): readonly string[] | undefined {
  // Node 23 renamed keyUsage (which always held the extended key usage) to extKeyUsage.
  const c = cert as X509Certificate & { extKeyUsage?: string[] };
  return c.extKeyUsage ?? c.keyUsage;
}

const pathLengths = new WeakMap<X509Certificate, number | null>();
let x509: typeof PeculiarX509 | undefined;

/**
 * basicConstraints pathLenConstraint, or null when the certificate sets none. A certificate node:crypto
 * parsed but @peculiar/x509 cannot gets 0: no CA may follow it.
 */
function pathLength(cert: X509Certificate): number | null {
  let known = pathLengths.get(cert);
  if (known === undefined) {
    if (x509 === undefined) {
      const load = createRequire(import.meta.url);
      // @peculiar/x509 needs the Reflect metadata API when it loads (the CLI has it already).
      load('reflect-metadata');
      x509 = load('@peculiar/x509') as typeof PeculiarX509;
    }
    try {
      known =
        new x509.X509Certificate(cert.raw).getExtension(x509.BasicConstraintsExtension)?.pathLength ?? null;
    } catch {
      known = 0;
    }
    pathLengths.set(cert, known);
  }
  return known;
}

function windowOf(cert: X509Certificate): { notBefore: number; notAfter: number } {
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

interface Found {
  notBefore: number;
  notAfter: number;
  issuers: X509Certificate[];
}

class PathSearch {
  private readonly candidates: readonly X509Certificate[];
  private readonly signed = new Map<X509Certificate, Map<X509Certificate, boolean>>();
  private readonly failed = new Map<X509Certificate, Set<number>>();

  constructor(
    private readonly anchors: readonly X509Certificate[],
    intermediates: readonly X509Certificate[],
  ) {
    // Trusted certificates first (OpenSSL's X509_V_FLAG_TRUSTED_FIRST); a sent copy of one adds nothing.
    const sent = intermediates.filter((i) => !anchors.some((a) => a.raw.equals(i.raw)));
    this.candidates = [...anchors, ...sent];
  }

  /** Whether `issuer`'s key signed `cert` (and the names and key identifiers match), checked once. */
  private issued(cert: X509Certificate, issuer: X509Certificate): boolean {
    let row = this.signed.get(cert);
    if (row === undefined) this.signed.set(cert, (row = new Map<X509Certificate, boolean>()));
    let known = row.get(issuer);
    if (known === undefined) {
      known = cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
      row.set(issuer, known);
    }
    return known;
  }

  /** A path from `cert`, `depth` certificates above the leaf, to a self-signed anchor. */
  from(cert: X509Certificate, depth: number): Found | undefined {
    const own = windowOf(cert);
    if (depth > 0 && this.anchors.includes(cert) && this.issued(cert, cert)) return { ...own, issuers: [] };
    if (depth >= MAX_ISSUERS || this.failed.get(cert)?.has(depth) === true) return undefined;
    for (const issuer of this.candidates) {
      if (issuer === cert || !issuer.ca) continue;
      if (!this.issued(cert, issuer)) continue;
      // RFC 5280 §4.2.1.9: the CAs between this issuer and the leaf (`depth` of them) within its limit;
      // any limit allows none, so the extension is only read for an issuer above another CA.
      if (depth > 0) {
        const limit = pathLength(issuer);
        if (limit !== null && depth > limit) continue;
      }
      const above = this.from(issuer, depth + 1);
      if (above === undefined) continue;
      return {
        notBefore: Math.max(own.notBefore, above.notBefore),
        notAfter: Math.min(own.notAfter, above.notAfter),
        issuers: [issuer, ...above.issuers],
      };
    }
    let depths = this.failed.get(cert);
    if (depths === undefined) this.failed.set(cert, (depths = new Set()));
    depths.add(depth);
    return undefined;
  }
}

/**
 * Whether `leaf` chains to a self-signed CA of `anchors`, through `anchors` and the untrusted
 * `intermediates`; when the whole path is valid (ms), and the issuers above the leaf, nearest first.
 */
export function validateClientCertificatePath(
  leaf: X509Certificate,
  anchors: readonly X509Certificate[],
  intermediates: readonly X509Certificate[] = [],
): ChainResult {
  const eku = extendedKeyUsage(leaf);
  if (eku !== undefined && !eku.includes(CLIENT_AUTH) && !eku.includes(ANY_EXTENDED_KEY_USAGE)) {
    return { trusted: false, detail: 'extendedKeyUsage does not allow clientAuth' };
  }
  const found = new PathSearch(anchors, intermediates).from(leaf, 0);
  if (found === undefined) {
    return {
      trusted: false,
      detail:
        intermediates.length === 0
          ? 'does not chain to tls.clientCa'
          : 'does not chain to tls.clientCa through the Client-Cert-Chain certificates',
    };
  }
  return { trusted: true, ...found };
}
