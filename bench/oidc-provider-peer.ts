/**
 * node-oidc-provider, the issuer scenarios' peer, configured for the same work as fapi-gateway's issuer:
 * the FAPI 2.0 profile, client_credentials for a tls_client_auth client and a private_key_jwt client,
 * RFC 9068 JWT access tokens signed with the same ES256 key and bound to the client certificate
 * (RFC 8705 §3), and introspection for a resource server authenticating with tls_client_auth.
 * TLS and mTLS come from node:https (`requestCert`, chains checked against the client CA by OpenSSL);
 * the certificate, its verification result and its subject are read once per TLS connection, as a
 * careful deployment would.
 *
 * node-oidc-provider refuses to introspect JWT access tokens ("Structured JWT Tokens cannot be
 * introspected", unsupported_token_type): its resource server client therefore gets opaque access
 * tokens for itself, the only kind it can introspect.
 * Run as `node oidc-provider-peer.js SPEC_JSON`; prints `{"port":N}` once listening.
 */
import type { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';
import type { JWK } from 'jose';
import Provider from 'oidc-provider';

export interface OidcProviderPeerSpec {
  issuer: string;
  audience: string;
  scope: string;
  accessTokenSeconds: number;
  serverCert: string;
  serverKey: string;
  caCert: string;
  /** The issuer's ES256 private key (the one fapi-gateway's issuer signs with), as a JWK with kid. */
  signingJwk: JWK;
  clients: {
    /** tls_client_auth; `subjectDn` in RFC 4514 form. */
    tls: { clientId: string; subjectDn: string };
    /** private_key_jwt with this public key set. */
    jwt: { clientId: string; jwks: { keys: JWK[] } };
    /** A resource server that introspects (tls_client_auth). */
    resourceServer: { clientId: string; subjectDn: string };
    /** A client whose tokens are opaque (what node-oidc-provider can introspect), tls_client_auth. */
    opaque: { clientId: string; subjectDn: string };
  };
  /** Listen port (0: any). */
  port?: number;
}

/** The paths fapi-gateway's issuer uses, so one scenario URL fits both servers. */
export const PEER_ROUTES = { token: '/token', introspection: '/introspect', jwks: '/jwks' };

interface ConnectionCertificate {
  certificate: X509Certificate;
  /** RFC 4514 order: the reverse of the DER encoding order (RFC 4514 §2.1). */
  subjectDn: string;
}

const perSocket = new WeakMap<TLSSocket, ConnectionCertificate | null>();

function connectionCertificate(socket: TLSSocket): ConnectionCertificate | undefined {
  let known = perSocket.get(socket);
  if (known === undefined) {
    const certificate = socket.getPeerX509Certificate();
    known = certificate
      ? { certificate, subjectDn: certificate.subject.split('\n').reverse().join(',') }
      : null;
    perSocket.set(socket, known);
  }
  return known ?? undefined;
}

interface KoaLikeContext {
  socket: TLSSocket;
}

export interface RunningPeer {
  port: number;
  close(): Promise<void>;
}

export async function startOidcProviderPeer(spec: OidcProviderPeerSpec): Promise<RunningPeer> {
  const { clients } = spec;
  const tlsClient = (clientId: string, subjectDn: string, grantTypes: string[]) => ({
    client_id: clientId,
    token_endpoint_auth_method: 'tls_client_auth',
    tls_client_auth_subject_dn: subjectDn,
    tls_client_certificate_bound_access_tokens: true,
    grant_types: grantTypes,
    response_types: [],
    redirect_uris: [],
    scope: spec.scope,
  });
  const provider = new Provider(spec.issuer, {
    clients: [
      tlsClient(clients.tls.clientId, clients.tls.subjectDn, ['client_credentials']),
      tlsClient(clients.opaque.clientId, clients.opaque.subjectDn, ['client_credentials']),
      tlsClient(clients.resourceServer.clientId, clients.resourceServer.subjectDn, []),
      {
        client_id: clients.jwt.clientId,
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES256',
        jwks: clients.jwt.jwks,
        tls_client_certificate_bound_access_tokens: true,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        scope: spec.scope,
      },
    ],
    jwks: { keys: [spec.signingJwk] },
    scopes: [spec.scope],
    clientAuthMethods: ['private_key_jwt', 'tls_client_auth'],
    enabledJWA: { clientAuthSigningAlgValues: ['ES256', 'PS256'] },
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      id_token_signed_response_alg: 'ES256',
    },
    routes: PEER_ROUTES,
    ttl: { ClientCredentials: spec.accessTokenSeconds, AccessToken: spec.accessTokenSeconds },
    features: {
      devInteractions: { enabled: false },
      fapi: { enabled: true, profile: '2.0' },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate: (ctx: KoaLikeContext) => connectionCertificate(ctx.socket)?.certificate,
        certificateAuthorized: (ctx: KoaLikeContext) => ctx.socket.authorized,
        certificateSubjectMatches: (ctx: KoaLikeContext, property: string, expected: string) =>
          property === 'tls_client_auth_subject_dn' &&
          connectionCertificate(ctx.socket)?.subjectDn === expected,
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => spec.audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, _resource: string, client: { clientId: string }) => ({
          scope: spec.scope,
          audience: spec.audience,
          accessTokenFormat: client.clientId === clients.opaque.clientId ? 'opaque' : 'jwt',
          accessTokenTTL: spec.accessTokenSeconds,
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
  });
  // Errors are answered to the client; node-oidc-provider also emits them, which would print each one.
  provider.on('server_error', (_ctx: unknown, err: Error) =>
    process.stderr.write(`oidc-provider server_error: ${err.message}\n`),
  );

  const server = https.createServer(
    {
      cert: readFileSync(spec.serverCert),
      key: readFileSync(spec.serverKey),
      ca: readFileSync(spec.caCert),
      requestCert: true,
      rejectUnauthorized: false,
      minVersion: 'TLSv1.2',
      keepAliveTimeout: 60_000,
    },
    provider.callback(),
  );
  server.listen(spec.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  return {
    port: address && typeof address === 'object' ? address.port : 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as OidcProviderPeerSpec;
  const peer = await startOidcProviderPeer(spec);
  process.stdout.write(JSON.stringify({ port: peer.port }) + '\n');
  process.on('SIGTERM', () => void peer.close().then(() => process.exit(0)));
}
