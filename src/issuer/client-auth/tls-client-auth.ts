/**
 * tls_client_auth (RFC 8705 §2.1): the certificate chains to a CA in `tls.clientCa` (verified by OpenSSL
 * in the handshake, validity dates included) and its subject DN (RFC 4514, see distinguished-name.ts)
 * or exactly one registered SAN matches the client's registration (§2.1.2).
 */
import { isIP } from 'node:net';
import * as x509 from '@peculiar/x509';
import type { ClientConfig } from '../config.js';
import { invalidClient } from '../errors.js';
import type { PresentedCertificate } from '../tls/client-certificate.js';
import type { IssuerRuntime } from '../runtime.js';
import {
  certificateSubject,
  distinguishedNamesEqual,
  formatDistinguishedName,
  type DistinguishedName,
} from './distinguished-name.js';
import type { ClientAuthenticator } from './method.js';

type SanType = 'dns' | 'url' | 'ip' | 'email';

function registeredSan(client: ClientConfig): { type: SanType; value: string } | undefined {
  if (client.tlsClientAuthSanDns) return { type: 'dns', value: client.tlsClientAuthSanDns };
  if (client.tlsClientAuthSanUri) return { type: 'url', value: client.tlsClientAuthSanUri };
  if (client.tlsClientAuthSanIp) return { type: 'ip', value: client.tlsClientAuthSanIp };
  if (client.tlsClientAuthSanEmail) return { type: 'email', value: client.tlsClientAuthSanEmail };
  return undefined;
}

function normaliseIp(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  // Expand to 8 groups so "::1" and "0:0:0:0:0:0:0:1" compare equal.
  const [head, tail = ''] = ip.toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = ip.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.map((g) => parseInt(g, 16).toString(16)).join(':');
}

/**
 * What tls_client_auth reads from a certificate, parsed once per connection: every request of a
 * keep-alive connection presents the same certificate object (tls/client-certificate.ts), and parsing
 * its ASN.1 cost more than the rest of a token request together.
 */
interface ParsedCertificate {
  subject?: DistinguishedName;
  sans?: { type: string; value: string }[];
  /** Whether the subject matches a registered DN (RFC 4514 comparison), per registered DN. */
  matches?: WeakMap<DistinguishedName, boolean>;
}

const parsed = new WeakMap<PresentedCertificate, ParsedCertificate>();

function parsedOf(cert: PresentedCertificate): ParsedCertificate {
  let known = parsed.get(cert);
  if (!known) {
    known = {};
    parsed.set(cert, known);
  }
  return known;
}

function subjectOf(cert: PresentedCertificate): DistinguishedName {
  const known = parsedOf(cert);
  return (known.subject ??= certificateSubject(cert.der));
}

function subjectMatches(cert: PresentedCertificate, registered: DistinguishedName): boolean {
  const matches = (parsedOf(cert).matches ??= new WeakMap());
  let match = matches.get(registered);
  if (match === undefined) {
    match = distinguishedNamesEqual(subjectOf(cert), registered);
    matches.set(registered, match);
  }
  return match;
}

function sansOf(cert: PresentedCertificate): { type: string; value: string }[] {
  const known = parsedOf(cert);
  return (known.sans ??= (
    new x509.X509Certificate(cert.der).getExtension(x509.SubjectAlternativeNameExtension)?.names.items ?? []
  ).map((n) => ({ type: n.type, value: n.value })));
}

function sanMatches(cert: PresentedCertificate, want: { type: SanType; value: string }): boolean {
  const names = sansOf(cert);
  return names.some((n) => {
    if (n.type !== want.type) return false;
    switch (want.type) {
      case 'dns':
        return n.value.toLowerCase() === want.value.toLowerCase(); // RFC 4343: DNS names are case-insensitive
      case 'ip':
        return normaliseIp(n.value) === normaliseIp(want.value);
      default:
        return n.value === want.value;
    }
  });
}

export const tlsClientAuth: ClientAuthenticator = {
  method: 'tls_client_auth',
  verify({ client, request }, runtime: IssuerRuntime) {
    const cert = request.certificate;
    if (!cert)
      throw invalidClient(
        'tls_client_auth needs a client certificate on the mTLS endpoint',
        'certificate_missing',
      );
    if (!cert.chainVerified)
      throw invalidClient('the client certificate does not chain to a trusted CA', 'certificate_untrusted');
    const dn = runtime.subjectDns.get(client.clientId);
    if (dn) {
      if (!subjectMatches(cert, dn)) {
        const subject = subjectOf(cert);
        const reversed = distinguishedNamesEqual([...subject].reverse(), dn);
        runtime.log.info(
          { clientId: client.clientId, certificateSubject: formatDistinguishedName(subject) },
          reversed
            ? 'tls_client_auth subject DN matches only in reverse order: RFC 4514 lists RDNs last-encoded first'
            : 'tls_client_auth subject DN mismatch',
        );
        throw invalidClient(
          'the client certificate subject does not match the registration',
          'certificate_mismatch',
        );
      }
      return Promise.resolve();
    }
    const san = registeredSan(client);
    if (!san || !sanMatches(cert, san))
      throw invalidClient(
        'the client certificate subjectAltName does not match the registration',
        'certificate_mismatch',
      );
    return Promise.resolve();
  },
};
