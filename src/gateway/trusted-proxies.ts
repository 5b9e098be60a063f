/**
 * Client certificates from a trusted TLS-terminating proxy (RFC 9440). A connection whose TCP peer is
 * inside `trustedProxies.cidrs` is a load balancer speaking for many clients: its own TLS certificate (if
 * any) is never a client identity; each request's client certificate is its `Client-Cert` header, held to
 * the rules a handshake certificate meets (chain to `tls.clientCa`, through the intermediates the client
 * sent if the proxy forwards them in `Client-Cert-Chain`; validity; FAPI key and size rules, the key rule
 * for every CA of the path too).
 *
 * Whether a peer is trusted is decided once per connection (listener.ts). Parsing and path validation
 * happen once per distinct pair of header values: results are kept in a bounded LRU keyed by the SHA-256
 * of the pair, and the last pair seen on a connection is remembered on it, so a proxy's steady traffic
 * costs a string comparison (same client) or a hash and a lookup (another client) per request.
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { parseCidr } from '../net/cidr.js';
import { createHash, X509Certificate } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { certificateThumbprint } from '../pki/thumbprint.js';
import { clientCertificateProblem, issuerKeyProblem } from '../tls/client-certificate-rules.js';
import { MAX_ISSUERS, validateClientCertificatePath } from '../tls/certificate-chain.js';
import {
  clientCertHeaderMaxChars,
  clientCertHeaderValue,
  parseClientCertChainHeader,
  parseClientCertHeader,
} from './client-cert-header.js';
import { reject, type Reject } from './rejections.js';
import type { Check, ClientCertificate, ConnectionIdentity } from './request-context.js';
import type { GatewayConfig } from './config.js';
import { proxiedClientCertificateCheck } from './checks/proxied-client-certificate.js';

/** The proxies whose `Client-Cert` header is believed; IPv4-mapped IPv6 peers match IPv4 ranges. */
export class TrustedProxies {
  private readonly list = new BlockList();

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) {
      const { address, prefix, family } = parseCidr(c);
      this.list.addSubnet(address, prefix, family);
    }
  }

  includes(address: string | undefined): boolean {
    if (address === undefined) return false;
    if (isIPv4(address)) return this.list.check(address, 'ipv4');
    // ::ffff:a.b.c.d is an IPv4 peer on a dual-stack socket (RFC 4291 §2.5.5.2).
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped !== null) return this.list.check(mapped[1]!, 'ipv4');
    return isIPv6(address) && this.list.check(address, 'ipv6');
  }
}

/** What a `Client-Cert` value establishes, whatever the time; validity is checked on every use. */
export type ProxiedCertificateOutcome =
  | { ok: true; certificate: ClientCertificate; notBefore: number; notAfter: number }
  | { ok: false; reject: Reject };

export interface ProxiedCertificateMemo {
  value: string;
  /** The request's `Client-Cert-Chain`, if any. */
  chain: string | undefined;
  outcome: ProxiedCertificateOutcome;
  /** The resolver that produced it: a new CA bundle means a new resolver, and stale memos are ignored. */
  source: ProxiedCertificates;
}

export interface ProxiedCertificatesOptions {
  clientCaPem: string;
  maxBytes: number;
  cacheEntries: number;
  onLookup?: (result: 'hit' | 'miss') => void;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** Turns `Client-Cert` values into client certificates for one CA bundle, with a bounded cache. */
export class ProxiedCertificates {
  private readonly anchors: readonly X509Certificate[];
  private readonly cache: LRUCache<string, ProxiedCertificateOutcome>;

  constructor(private readonly o: ProxiedCertificatesOptions) {
    // tls-material.ts has already checked that every block parses.
    this.anchors = (o.clientCaPem.match(PEM_CERTIFICATE) ?? []).map((b) => new X509Certificate(b));
    this.cache = new LRUCache({ max: o.cacheEntries });
  }

  /**
   * The outcome for a `Client-Cert` value and the request's `Client-Cert-Chain` (if any), from the
   * connection's memo, the cache, or evaluated once.
   */
  resolve(
    value: string,
    chain: string | undefined,
    connection: ConnectionIdentity,
  ): ProxiedCertificateOutcome {
    const memo = connection.proxiedCertificate;
    if (memo !== undefined && memo.source === this && memo.value === value && memo.chain === chain) {
      this.o.onLookup?.('hit');
      return memo.outcome;
    }
    // A header value holds no line break, so the pair hashes unambiguously.
    const key = createHash('sha256')
      .update(chain === undefined ? value : `${value}\n${chain}`)
      .digest('base64');
    let outcome = this.cache.get(key);
    if (outcome === undefined) {
      this.o.onLookup?.('miss');
      outcome = this.evaluate(value, chain);
      this.cache.set(key, outcome);
    } else this.o.onLookup?.('hit');
    connection.proxiedCertificate = { value, chain, outcome, source: this };
    return outcome;
  }

  private evaluate(value: string, chainValue: string | undefined): ProxiedCertificateOutcome {
    const maxChars = clientCertHeaderMaxChars(this.o.maxBytes);
    if (value.length > maxChars) {
      return refuse('proxy_certificate_not_allowed', `a certificate larger than ${this.o.maxBytes} bytes`);
    }
    const cert = certificateOf(parseClientCertHeader(value));
    if (cert === undefined) {
      return refuse(
        'proxy_certificate_malformed',
        'the Client-Cert header is not one base64 DER certificate between colons (RFC 9440 §2.2)',
      );
    }
    const intermediates = chainValue === undefined ? [] : this.intermediatesOf(chainValue, maxChars);
    if (!Array.isArray(intermediates)) return intermediates;
    const path = validateClientCertificatePath(cert, this.anchors, intermediates);
    if (!path.trusted) return refuse('proxy_certificate_untrusted', `the client certificate ${path.detail}`);
    const problem =
      clientCertificateProblem(cert, { maxBytes: this.o.maxBytes, trustedByChain: true }) ??
      firstIssuerKeyProblem(path.issuers);
    if (problem !== undefined) {
      return refuse(
        'proxy_certificate_not_allowed',
        `the client certificate is not allowed: ${problem.detail}`,
      );
    }
    return {
      ok: true,
      certificate: {
        thumbprint: certificateThumbprint(cert.raw),
        clientCertHeader: clientCertHeaderValue(cert.raw),
      },
      notBefore: path.notBefore,
      notAfter: path.notAfter,
    };
  }

  /** The certificates of a `Client-Cert-Chain` value, bounded in count and size before any is parsed. */
  private intermediatesOf(
    chainValue: string,
    maxChars: number,
  ): X509Certificate[] | ProxiedCertificateOutcome {
    const tooMany = () =>
      refuse(
        'proxy_certificate_not_allowed',
        `more than ${MAX_ISSUERS} certificates of at most ${this.o.maxBytes} bytes in Client-Cert-Chain`,
      );
    // MAX_ISSUERS values of at most maxChars, and separators.
    if (chainValue.length > MAX_ISSUERS * (maxChars + 4)) return tooMany();
    const malformed = () =>
      refuse(
        'proxy_certificate_malformed',
        'the Client-Cert-Chain header is not a list of base64 DER certificates between colons (RFC 9440 §2.3)',
      );
    const ders = parseClientCertChainHeader(chainValue);
    if (ders === undefined) return malformed();
    if (ders.length > MAX_ISSUERS || ders.some((d) => d.length > this.o.maxBytes)) return tooMany();
    const certs: X509Certificate[] = [];
    for (const der of ders) {
      const cert = certificateOf(der);
      if (cert === undefined) return malformed();
      certs.push(cert);
    }
    return certs;
  }
}

/**
 * The certificate a byte sequence holds, or undefined. Trailing bytes after the certificate are refused:
 * they would make the thumbprint ambiguous (RFC 8705 §3.1 hashes the DER).
 */
function certificateOf(der: Buffer | undefined): X509Certificate | undefined {
  if (der === undefined) return undefined;
  try {
    const cert = new X509Certificate(der);
    return cert.raw.equals(der) ? cert : undefined;
  } catch {
    return undefined;
  }
}

/** The FAPI key rule for the CAs of a verified path, as a handshake applies it (connection-guard.ts). */
function firstIssuerKeyProblem(issuers: readonly X509Certificate[]) {
  for (const issuer of issuers) {
    const problem = issuerKeyProblem(issuer);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

function refuse(
  reason: 'proxy_certificate_malformed' | 'proxy_certificate_untrusted' | 'proxy_certificate_not_allowed',
  description: string,
): ProxiedCertificateOutcome {
  return { ok: false, reject: reject(reason, description) };
}

/** The trusted-proxy pieces a gateway wires in: the peer test, the check, and the CA bundle it follows. */
export interface TrustedProxyWiring {
  proxies: TrustedProxies;
  check: Check;
  /** A new `tls.clientCa` bundle (certificate reload): cached results of the old one are dropped. */
  useClientCa(clientCaPem: string): void;
}

export function wireTrustedProxies(
  config: GatewayConfig,
  clientCaPem: string,
  o: { now: () => number; onLookup: (result: 'hit' | 'miss') => void },
): TrustedProxyWiring | undefined {
  const settings = config.trustedProxies;
  if (settings === undefined) return undefined;
  const make = (pem: string) =>
    new ProxiedCertificates({
      clientCaPem: pem,
      maxBytes: config.limits.clientCertificateBytes,
      cacheEntries: settings.certificateCacheEntries,
      onLookup: o.onLookup,
    });
  let current = make(clientCaPem);
  let currentPem = clientCaPem;
  return {
    proxies: new TrustedProxies(settings.cidrs),
    check: proxiedClientCertificateCheck(() => current, o.now),
    useClientCa(pem) {
      if (pem === currentPem) return;
      current = make(pem);
      currentPem = pem;
    },
  };
}
