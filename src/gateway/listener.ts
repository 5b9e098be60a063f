/**
 * The gateway's mutual-TLS listener: the FAPI TLS policy of src/tls/ (versions, suites by server key,
 * no renegotiation, handshake timeout, connection cap, client-certificate rules) with a client
 * certificate chaining to `tls.clientCa` required in the initial handshake, and the connection's identity
 * (RFC 8705 §3.1 thumbprint, RFC 9440 `Client-Cert` value) computed once per connection.
 */
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { certificateThumbprint } from '../pki/thumbprint.js';
import type { HandshakeFailureReason } from '../tls/handshake-failures.js';
import { guardConnections } from '../tls/connection-guard.js';
import { fapiServerOptions, type ServerTlsMaterial } from '../tls/policy.js';
import type { ConnectionIdentity } from './request-context.js';
import { clientCertHeaderValue } from './client-cert-header.js';
import type { TrustedProxies } from './trusted-proxies.js';

export { fapiSecureContextOptions } from '../tls/policy.js';

export interface TlsMaterial extends ServerTlsMaterial {
  certPem: string;
  keyPem: string;
  clientCaPem: string;
}

const IDENTITY = Symbol('fapi-gateway.connection-identity');
type IdentifiedSocket = TLSSocket & { [IDENTITY]?: ConnectionIdentity };

/** The identity computed at handshake time (undefined only if the handshake did not complete). */
export function connectionIdentityOf(socket: unknown): ConnectionIdentity | undefined {
  return (socket as IdentifiedSocket)[IDENTITY];
}

export interface ListenerHooks {
  onHandshakeFailure(reason: HandshakeFailureReason, detail: string): void;
  onConnectionRefused(): void;
  /** A connection ready for requests: TLS established and every check passed. */
  onConnectionOpened(socket: TLSSocket): void;
  onConnectionClosed(): void;
}

export interface ListenerSettings {
  sessionTimeoutSeconds: number;
  handshakeTimeoutMs: number;
  /** 0: no cap. */
  maxConnections: number;
  clientCertificateMaxBytes: number;
  /**
   * Some route accepts DPoP-bound tokens (binding dpop or any): a client certificate is requested but
   * not required. One that is presented must still chain to tls.clientCa and obey the key rules;
   * routes with binding mtls then refuse the certificate-less request themselves (401).
   */
  certificateOptional?: boolean;
  /**
   * Peers whose client certificates arrive in `Client-Cert` headers (RFC 9440). The listener then only
   * requests a certificate: a proxy may connect with one (from any CA) or without; a direct client is
   * still held to the rule above, checked after the handshake.
   */
  trustedProxies?: TrustedProxies;
}

export function createListener(
  material: TlsMaterial,
  settings: ListenerSettings,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
  hooks: ListenerHooks,
): https.Server {
  const mode = settings.certificateOptional === true ? 'verified-if-presented' : 'required';
  const proxies = settings.trustedProxies;
  const server = https.createServer(
    {
      ...fapiServerOptions(material, {
        clientCertificate: proxies === undefined ? mode : 'requested',
        handshakeTimeoutMs: settings.handshakeTimeoutMs,
        sessionTimeoutSeconds: settings.sessionTimeoutSeconds,
        requestTimeoutMs: 60_000,
      }),
      // Node's own answer to a missing Host is a bare 400; the message-framing check answers it instead.
      requireHostHeader: false,
    },
    onRequest,
  );
  guardConnections(server, {
    clientCertificate: mode,
    maxConnections: settings.maxConnections,
    handshakeTimeoutMs: settings.handshakeTimeoutMs,
    clientCertificateMaxBytes: settings.clientCertificateMaxBytes,
    onHandshakeFailure: (reason, detail) => hooks.onHandshakeFailure(reason, detail),
    onConnectionRefused: () => hooks.onConnectionRefused(),
    ...(proxies === undefined
      ? {}
      : { certificateFromProxy: (socket: TLSSocket) => proxies.includes(socket.remoteAddress) }),
    onAccepted: (socket: IdentifiedSocket, peer, viaProxy) => {
      if (!peer && mode === 'required' && !viaProxy) return socket.destroy();
      socket[IDENTITY] = {
        ...(viaProxy ? { trustedProxy: true } : {}),
        certificate: peer
          ? {
              thumbprint: certificateThumbprint(peer.raw),
              clientCertHeader: clientCertHeaderValue(peer.raw),
            }
          : undefined,
        tokenMemo: {},
      };
      hooks.onConnectionOpened(socket);
      socket.once('close', () => hooks.onConnectionClosed());
    },
  });
  return server;
}
