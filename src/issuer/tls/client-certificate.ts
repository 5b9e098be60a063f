/**
 * The client certificate of a connection, read once per TLS connection (all requests on a keep-alive
 * connection share it): the DER, its RFC 8705 §3.1 thumbprint, and whether OpenSSL verified its chain
 * to `tls.clientCa` during the handshake (what tls_client_auth needs; self_signed_tls_client_auth and
 * certificate binding do not need a chain, RFC 8705 §2.2 and §3).
 */
import type { TLSSocket } from 'node:tls';
import { certificateThumbprint } from '../../pki/thumbprint.js';

export interface PresentedCertificate {
  der: Buffer;
  /** base64url SHA-256 of the DER: the `cnf.x5t#S256` value. */
  thumbprint: string;
  /** The chain verified to `tls.clientCa` (validity dates included) in the handshake. */
  chainVerified: boolean;
}

const perConnection = new WeakMap<TLSSocket, PresentedCertificate | null>();

export function presentedCertificate(socket: TLSSocket): PresentedCertificate | undefined {
  let known = perConnection.get(socket);
  if (known === undefined) {
    const peer =
      typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate(false) : undefined;
    const raw = peer && 'raw' in peer ? (peer.raw as Buffer | undefined) : undefined;
    known =
      raw && raw.length > 0
        ? { der: raw, thumbprint: certificateThumbprint(raw), chainVerified: socket.authorized }
        : null;
    perConnection.set(socket, known);
  }
  return known ?? undefined;
}
