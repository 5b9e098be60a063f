/** Every client authentication method the issuer supports: one module each, one line here. */
import { clientSecretJwt } from './client-secret-jwt.js';
import type { ClientAuthenticator, ClientAuthMethod } from './method.js';
import { privateKeyJwt } from './private-key-jwt.js';
import { selfSignedTlsClientAuth } from './self-signed-tls-client-auth.js';
import { tlsClientAuth } from './tls-client-auth.js';

export const clientAuthenticators: ReadonlyMap<ClientAuthMethod, ClientAuthenticator> = new Map(
  [privateKeyJwt, clientSecretJwt, tlsClientAuth, selfSignedTlsClientAuth].map((a) => [a.method, a]),
);

/** Methods using a client assertion (RFC 7521 §4.2) vs a certificate (RFC 8705 §2). */
export const ASSERTION_METHODS: readonly ClientAuthMethod[] = ['private_key_jwt', 'client_secret_jwt'];
export const CERTIFICATE_METHODS: readonly ClientAuthMethod[] = [
  'tls_client_auth',
  'self_signed_tls_client_auth',
];
