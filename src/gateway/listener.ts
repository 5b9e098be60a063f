/**
 * The mutual-TLS listener and its TLS policy (FAPI 1 Advanced §8.5, FAPI 2 Security Profile §5.2.1):
 * TLS 1.3, or TLS 1.2 with only the four RFC 7525-recommended ECDHE/DHE-RSA AES-GCM suites; a client
 * certificate chaining to `tls.clientCa` is required in the initial handshake and renegotiation is off
 * (a certificate obtained by renegotiation could differ from the one the connection was checked with).
 */
import https from 'node:https';
import { constants } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket, SecureContextOptions } from 'node:tls';
import { certificateThumbprint } from '../pki/thumbprint.js';
import type { HandshakeFailureReason } from './metrics.js';
import type { ConnectionIdentity } from './request-context.js';

/** FAPI 1 Advanced §8.5-2: the only TLS 1.2 suites allowed. */
export const FAPI_TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'DHE-RSA-AES128-GCM-SHA256',
  'DHE-RSA-AES256-GCM-SHA384',
];
/** TLS 1.3 suites (all AEAD; FAPI 2 allows TLS 1.3 without restriction). */
export const TLS13_CIPHERSUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
];

export interface TlsMaterial {
  certPem: string;
  keyPem: string;
  clientCaPem: string;
}

/** The secure-context part of the policy (also used by setSecureContext on certificate reload). */
export function fapiSecureContextOptions(
  material: TlsMaterial,
  sessionTimeoutSeconds: number,
): SecureContextOptions {
  return {
    cert: material.certPem,
    key: material.keyPem,
    ca: material.clientCaPem,
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: [...TLS13_CIPHERSUITES, ...FAPI_TLS12_CIPHERS].join(':'),
    honorCipherOrder: true,
    dhparam: 'auto',
    sessionTimeout: sessionTimeoutSeconds,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
  };
}

const IDENTITY = Symbol('fapi-gateway.connection-identity');
type IdentifiedSocket = TLSSocket & { [IDENTITY]?: ConnectionIdentity };

/** The identity computed at handshake time (undefined only if the handshake did not complete). */
export function connectionIdentityOf(socket: unknown): ConnectionIdentity | undefined {
  return (socket as IdentifiedSocket)[IDENTITY];
}

/** Maps an OpenSSL handshake error to a metric reason. Codes checked against Node 20 and 24. */
export function classifyHandshakeFailure(
  err: Error & { code?: string; reason?: string },
): HandshakeFailureReason {
  const text = `${err.code ?? ''} ${err.reason ?? ''} ${err.message}`.toUpperCase();
  if (/DID_NOT_RETURN_A_CERTIFICATE|DID NOT RETURN A CERTIFICATE|CERTIFICATE_REQUIRED/.test(text))
    return 'no_certificate';
  if (
    /CERTIFICATE_VERIFY_FAILED|CERTIFICATE VERIFY FAILED|UNKNOWN_CA|UNKNOWN CA|SELF.SIGNED|UNABLE.TO.GET.ISSUER|CERT_/.test(
      text,
    )
  )
    return 'untrusted_certificate';
  if (
    /UNSUPPORTED_PROTOCOL|UNSUPPORTED PROTOCOL|WRONG_VERSION|VERSION_TOO_LOW|NO_PROTOCOLS|PROTOCOL_VERSION|PROTOCOL VERSION/.test(
      text,
    )
  )
    return 'protocol_version';
  if (/NO_SHARED_CIPHER|NO SHARED CIPHER|NO_CIPHERS|NO_SUITABLE|SIGALGS/.test(text)) return 'cipher';
  return 'other';
}

export interface ListenerHooks {
  onHandshakeFailure(reason: HandshakeFailureReason, err: Error): void;
  onConnectionOpened(): void;
  onConnectionClosed(): void;
}

export function createListener(
  material: TlsMaterial,
  sessionTimeoutSeconds: number,
  onRequest: (req: IncomingMessage, res: ServerResponse) => void,
  hooks: ListenerHooks,
): https.Server {
  const server = https.createServer(
    {
      ...fapiSecureContextOptions(material, sessionTimeoutSeconds),
      requestCert: true,
      rejectUnauthorized: true,
      // Slowloris bounds: headers must arrive within 10 s, a whole request within 60 s.
      headersTimeout: 10_000,
      requestTimeout: 60_000,
      keepAliveTimeout: 5_000,
    },
    onRequest,
  );
  server.on('secureConnection', (socket: IdentifiedSocket) => {
    // RFC 8705 §3: the thumbprint of the certificate on THIS connection, computed once per connection.
    const peer = socket.getPeerX509Certificate();
    if (!peer) {
      socket.destroy();
      return;
    }
    socket.disableRenegotiation();
    socket[IDENTITY] = {
      certificate: {
        thumbprint: certificateThumbprint(peer.raw),
        clientCertHeader: `:${peer.raw.toString('base64')}:`,
      },
      tokenMemo: {},
    };
    hooks.onConnectionOpened();
    socket.once('close', () => hooks.onConnectionClosed());
  });
  server.on('tlsClientError', (err, socket) => {
    // Node verifies the client chain after the handshake and, with rejectUnauthorized, closes the socket
    // itself: the only trace of an untrusted certificate is the socket's authorizationError.
    const authorizationError = socket.authorizationError;
    const reason = authorizationError ? 'untrusted_certificate' : classifyHandshakeFailure(err);
    hooks.onHandshakeFailure(reason, authorizationError ? new Error(String(authorizationError)) : err);
    socket.destroy();
  });
  return server;
}
