/**
 * What every FAPI listener does with a connection before HTTP sees it: refuse it at the per-process cap,
 * count and close a handshake that fails or times out, switch renegotiation off, and refuse a client
 * certificate the FAPI rules do not allow (client-certificate-rules.ts). A refused certificate closes the
 * connection before any request on it is read, so nothing is ever forwarded or bound to it.
 *
 * TLS state is created only once the client has sent its first bytes (the start of its ClientHello).
 * Node's TLS server creates an OpenSSL session for every accepted TCP connection, and when the client
 * closes one before saying anything, the end of the stream is still read through OpenSSL, which allocates
 * about 40 KiB (the size of its record buffers) just before the connection is freed. A flood of a
 * thousand such connections closed at once leaves tens of MiB of freed blocks in the process's malloc heap
 * that glibc keeps resident, and each further flood fragments it more (a server's RSS rose by 100 MiB over
 * ten floods, the V8 heap unchanged). A connection that closes before sending a byte now costs only its
 * socket, and one that stays silent is closed (and counted) after the handshake timeout as before.
 */
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import type { DetailedPeerCertificate, Server as TlsServer, TLSSocket } from 'node:tls';
import { classifyHandshakeFailure, type HandshakeFailureReason } from './handshake-failures.js';
import {
  clientCertificateProblem,
  issuerKeyProblem,
  type ClientCertificateProblem,
} from './client-certificate-rules.js';
import type { ClientCertificateMode } from './policy.js';

export interface ConnectionGuardOptions {
  /**
   * What a client connecting directly must present. With `certificateFromProxy` the TLS layer only
   * requests a certificate (OpenSSL mode `requested`) and this rule is applied here, after the handshake.
   */
  clientCertificate: ClientCertificateMode;
  /**
   * A trusted TLS-terminating proxy (RFC 9440): its own certificate, presented or not, is no client
   * identity and is not checked; its requests carry their clients' certificates in headers.
   */
  certificateFromProxy?: (socket: TLSSocket) => boolean;
  /** Open connections per process (TLS handshakes included); 0 or absent: no cap. */
  maxConnections?: number;
  /**
   * How long a new connection may stay silent before its ClientHello begins (the TLS server's own
   * `handshakeTimeout` then bounds the handshake itself); closed and counted as `handshake_timeout`.
   */
  handshakeTimeoutMs: number;
  clientCertificateMaxBytes?: number;
  onHandshakeFailure(reason: HandshakeFailureReason, detail: string): void;
  onConnectionRefused(): void;
  /**
   * A connection that passed every check; `peer` is its client certificate, if one was presented (never
   * for a trusted proxy, which `viaProxy` marks).
   */
  onAccepted(socket: TLSSocket, peer: X509Certificate | undefined, viaProxy: boolean): void;
}

/**
 * The certificates above the client's in the chain OpenSSL verified, up to its trust anchor (RFC 5280
 * §6.1). They are few and the same on most connections: each one's verdict is kept (bounded).
 */
function chainChecker(): (socket: TLSSocket) => ClientCertificateProblem | undefined {
  const verdicts = new Map<string, ClientCertificateProblem | null>();
  return (socket) => {
    let cert: DetailedPeerCertificate | undefined = socket.getPeerCertificate(true);
    for (let depth = 0; depth < 10; depth++) {
      const issuer: DetailedPeerCertificate | undefined = cert?.issuerCertificate;
      if (issuer === undefined || issuer === cert) return undefined;
      let verdict = verdicts.get(issuer.fingerprint256);
      if (verdict === undefined) {
        verdict = issuerKeyProblem(new X509Certificate(issuer.raw)) ?? null;
        if (verdicts.size >= 256) verdicts.clear();
        verdicts.set(issuer.fingerprint256, verdict);
      }
      if (verdict !== null) return verdict;
      cert = issuer;
    }
    return undefined;
  };
}

/**
 * Defers the TLS server's own `connection` listener (which wraps the TCP socket in a TLSSocket) until the
 * client has sent something. Node's TLSSocket takes over the socket's handle and replays what was read.
 */
function startTlsOnFirstBytes(server: TlsServer, o: ConnectionGuardOptions): void {
  const wrappers = (server.listeners('connection') as ((this: TlsServer, socket: Socket) => void)[]).filter(
    (l) => l.name === 'tlsConnectionListener',
  );
  // Node 20 and 24 name it so; a Node that does not fails at start instead of silently keeping TLS
  // state for every connection.
  if (wrappers.length !== 1) throw new Error("Node's TLS connection listener was not found");
  const startTls = wrappers[0]!;
  server.removeListener('connection', startTls);
  server.on('connection', (socket: Socket) => {
    const close = () => socket.destroy();
    const silent = () => {
      o.onHandshakeFailure('handshake_timeout', 'no ClientHello');
      socket.destroy();
    };
    socket.on('error', close);
    socket.setTimeout(o.handshakeTimeoutMs);
    socket.once('timeout', silent);
    socket.once('readable', () => {
      socket.setTimeout(0);
      socket.removeListener('timeout', silent);
      // Readable with nothing buffered: the end of the stream, before any byte.
      if (socket.readableLength === 0) return socket.destroy();
      socket.removeListener('error', close);
      startTls.call(server, socket);
    });
  });
}

export function guardConnections(server: TlsServer, o: ConnectionGuardOptions): void {
  const chainProblem = chainChecker();
  if (o.maxConnections) {
    server.maxConnections = o.maxConnections;
    // net.Server closes the socket itself and reports it only through 'drop'.
    server.on('drop', () => o.onConnectionRefused());
  }
  startTlsOnFirstBytes(server, o);
  server.on('tlsClientError', (err: Error & { code?: string }, socket: TLSSocket) => {
    o.onHandshakeFailure(classifyHandshakeFailure(err, socket.authorizationError), err.message);
    socket.destroy();
  });
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.disableRenegotiation();
    const refuse = (reason: HandshakeFailureReason, detail: string) => {
      o.onHandshakeFailure(reason, detail);
      socket.destroy();
    };
    if (o.certificateFromProxy?.(socket) === true) return o.onAccepted(socket, undefined, true);
    const peer = o.clientCertificate === 'none' ? undefined : socket.getPeerX509Certificate();
    if (peer === undefined) {
      // With requestCert + rejectUnauthorized OpenSSL already refused this; fail closed anyway.
      if (o.clientCertificate === 'required') return refuse('no_certificate', 'no client certificate');
      return o.onAccepted(socket, undefined, false);
    }
    if (!socket.authorized && o.clientCertificate !== 'requested') {
      const why = String(socket.authorizationError ?? 'not verified');
      return refuse(classifyHandshakeFailure(new Error(why), why), why);
    }
    const problem = clientCertificateProblem(peer, {
      maxBytes: o.clientCertificateMaxBytes,
      trustedByChain: socket.authorized,
    });
    if (problem) return refuse(problem.reason, problem.detail);
    if (socket.authorized) {
      const weakChain = chainProblem(socket);
      if (weakChain) return refuse(weakChain.reason, weakChain.detail);
    }
    o.onAccepted(socket, peer, false);
  });
}
