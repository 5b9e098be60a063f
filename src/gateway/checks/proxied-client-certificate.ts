/**
 * On a connection from a trusted TLS-terminating proxy, the request's client certificate is its
 * `Client-Cert` header (RFC 9440 §2.2), and only that: the proxy's own certificate is never the client's.
 * `Client-Cert-Chain` (§2.3), when sent, holds intermediates that may complete the path. A header that does
 * not parse, chain to `tls.clientCa`, pass the FAPI certificate rules or fall within its validity refuses
 * the request on every route, as the same certificate would fail a handshake. No header means no
 * certificate: the binding check answers certificate-bound tokens with certificate_missing, and DPoP routes
 * work as they do for a client that presented none; a `Client-Cert-Chain` without `Client-Cert` is a
 * proxy fault (§2.3 forbids it) and is refused as malformed.
 *
 * Not reportable: like a TLS-level refusal, a report-only route never relaxes it.
 */
import { reject } from '../rejections.js';
import type { Check } from '../request-context.js';
import type { ProxiedCertificates } from '../trusted-proxies.js';

export function proxiedClientCertificateCheck(
  certificates: () => ProxiedCertificates,
  now: () => number,
): Check {
  return {
    name: 'proxied-client-certificate',
    requires: ['route'],
    provides: [],
    reportable: false,
    run(ctx) {
      if (ctx.connection.trustedProxy !== true) return undefined;
      const value = ctx.req.headers['client-cert'];
      const chain = ctx.req.headers['client-cert-chain'];
      if (value === undefined) {
        return chain === undefined
          ? undefined
          : reject('proxy_certificate_malformed', 'Client-Cert-Chain without Client-Cert (RFC 9440 §2.3)');
      }
      if (typeof value !== 'string') {
        return reject('proxy_certificate_malformed', 'more than one Client-Cert header (RFC 9440 §2.2)');
      }
      const outcome = certificates().resolve(
        value,
        typeof chain === 'string' ? chain : undefined,
        ctx.connection,
      );
      if (!outcome.ok) return outcome.reject;
      const t = now();
      if (t < outcome.notBefore || t > outcome.notAfter) {
        return reject(
          'proxy_certificate_expired',
          'the client certificate (or a CA above it) is outside its validity period',
        );
      }
      ctx.certificate = outcome.certificate;
      return undefined;
    },
  };
}
