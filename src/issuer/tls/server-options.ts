/**
 * The issuer's listeners under the FAPI TLS policy shared with the gateway (src/tls/): the same versions,
 * suites (chosen by the server key), renegotiation handling, handshake timeout, connection cap and client
 * certificate rules. A client certificate is requested, never required: a private_key_jwt client may
 * connect without one, and a self-signed certificate must get through to be matched against its JWK Set
 * (RFC 8705 §2.2), so `tls.clientCa` decides only whether `tls_client_auth` sees a verified chain.
 */
import { readFileSync } from 'node:fs';
import type { Server as TlsServer, TlsOptions } from 'node:tls';
import type { ServerOptions } from 'node:https';
import type { Logger } from 'pino';
import type { IssuerConfig } from '../config.js';
import type { IssuerMetrics } from '../metrics.js';
import type { ListenerName } from '../http.js';
import { guardConnections } from '../../tls/connection-guard.js';
import { fapiServerOptions } from '../../tls/policy.js';

/** A whole request must arrive within 30 s (issuer requests are small forms and JWTs). */
const REQUEST_TIMEOUT_MS = 30_000;

export function issuerTlsOptions(
  config: Pick<IssuerConfig, 'tls'>,
  requestClientCertificate: boolean,
): ServerOptions & TlsOptions {
  return fapiServerOptions(
    {
      certPem: readFileSync(config.tls.cert),
      keyPem: readFileSync(config.tls.key),
      clientCaPem: readFileSync(config.tls.clientCa),
    },
    {
      clientCertificate: requestClientCertificate ? 'requested' : 'none',
      handshakeTimeoutMs: config.tls.handshakeTimeoutMs,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
    },
  );
}

/** Counts and closes refused handshakes and connections over the cap; refuses certificates FAPI does not allow. */
export function guardIssuerListener(
  server: TlsServer,
  listener: ListenerName,
  requestClientCertificate: boolean,
  config: Pick<IssuerConfig, 'limits' | 'tls'>,
  metrics: IssuerMetrics,
  log: Logger,
): void {
  guardConnections(server, {
    clientCertificate: requestClientCertificate ? 'requested' : 'none',
    maxConnections: config.limits.maxConnections,
    handshakeTimeoutMs: config.tls.handshakeTimeoutMs,
    onHandshakeFailure: (reason, detail) => {
      metrics.tlsHandshakeFailures.inc({ listener, reason });
      log.debug({ listener, reason, err: detail }, 'TLS handshake failed');
    },
    onConnectionRefused: () => metrics.connectionsRefused.inc({ listener }),
    onAccepted: () => undefined,
  });
}
