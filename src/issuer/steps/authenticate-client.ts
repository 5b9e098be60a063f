/**
 * Client authentication at the token, introspection, revocation (and later PAR and backchannel)
 * endpoints: works out which method the request uses (RFC 6749 §2.3: exactly one), finds the client,
 * checks that this is the method it registered, and runs that method's module (client-auth/).
 * `client_secret_basic` and `client_secret_post` are refused for every client: the FAPI profiles allow
 * only private_key_jwt and the mTLS methods (client_secret_jwt is kept for non-FAPI clients).
 */
import { decodeCompactJws, type DecodedJws } from '../../jose/key-ring.js';
import { OAuthError, invalidClient, invalidRequest } from '../errors.js';
import type { ClientConfig } from '../config.js';
import type { IssuerRequest } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';
import { ASSERTION_METHODS, CERTIFICATE_METHODS, clientAuthenticators } from '../client-auth/index.js';
import { ASSERTION_TYPE } from '../client-auth/jwt-assertion.js';
import type { AuthenticatedClient, ClientAuthMethod } from '../client-auth/method.js';
import type { FormParams } from './form-body.js';

type Attempt = ClientAuthMethod | 'client_secret_basic' | 'client_secret_post' | 'none';

/**
 * Audiences a client assertion may name here. FAPI 2 SP §5.3.2.1: the issuer identifier only (an
 * endpoint URL as audience is what the 2025 "audience injection" finding exploited). Clients of the FAPI 1
 * Advanced profile keep RFC 7523 §3 item 3 and RFC 9126 §2: the token endpoint, or the endpoint called.
 */
export function acceptedAudiences(
  request: IssuerRequest,
  runtime: IssuerRuntime,
  client: Pick<ClientConfig, 'profile'>,
): string[] {
  const { urls } = runtime;
  if ((client.profile ?? runtime.config.profile) === 'fapi2-security') return [urls.issuer];
  return [
    ...new Set([
      urls.issuer,
      urls.endpoint('/token', 'main'),
      urls.endpoint('/token', 'mtls'),
      urls.endpoint(request.path, 'main'),
      urls.endpoint(request.path, 'mtls'),
    ]),
  ];
}

export async function authenticateClient(
  request: IssuerRequest,
  params: FormParams,
  runtime: IssuerRuntime,
): Promise<AuthenticatedClient> {
  let attempt: Attempt = 'none';
  try {
    const result = await identifyAndVerify(request, params, runtime, (a) => (attempt = a));
    runtime.metrics.clientAuthentications.inc({ method: result.method, result: 'success' });
    return result;
  } catch (err) {
    if (err instanceof OAuthError)
      runtime.metrics.clientAuthentications.inc({ method: attempt, result: 'failure' });
    throw err;
  }
}

async function identifyAndVerify(
  request: IssuerRequest,
  params: FormParams,
  runtime: IssuerRuntime,
  noteAttempt: (a: Attempt) => void,
): Promise<AuthenticatedClient> {
  const authorization = request.headers.authorization;
  const hasAssertion = params.has('client_assertion') || params.has('client_assertion_type');
  const hasSecret = params.has('client_secret');
  if ([authorization !== undefined, hasAssertion, hasSecret].filter(Boolean).length > 1)
    throw invalidRequest(
      'use exactly one client authentication method (RFC 6749 §2.3)',
      'multiple_auth_methods',
    );

  if (authorization !== undefined) {
    const basic = /^basic\s/i.test(authorization);
    noteAttempt(basic ? 'client_secret_basic' : 'none');
    throw invalidClient(
      basic
        ? 'client_secret_basic is not allowed under the FAPI profiles; use private_key_jwt, tls_client_auth or self_signed_tls_client_auth'
        : 'the Authorization header is not a client authentication method here',
      basic ? 'client_secret_basic_refused' : 'unsupported_auth_scheme',
      true,
    );
  }
  if (hasSecret) {
    noteAttempt('client_secret_post');
    throw invalidClient(
      'client_secret_post is not allowed under the FAPI profiles; use private_key_jwt, tls_client_auth or self_signed_tls_client_auth',
      'client_secret_post_refused',
    );
  }

  let clientId: string;
  let presented: 'assertion' | 'certificate';
  let decoded: DecodedJws | undefined;
  if (hasAssertion) {
    presented = 'assertion';
    if (params.get('client_assertion_type') !== ASSERTION_TYPE)
      throw invalidClient(`client_assertion_type must be ${ASSERTION_TYPE}`, 'assertion_type_unsupported');
    const assertion = params.get('client_assertion');
    if (!assertion) throw invalidClient('client_assertion is missing', 'assertion_malformed');
    try {
      decoded = decodeCompactJws(assertion);
    } catch {
      throw invalidClient('client_assertion is not a JWT', 'assertion_malformed');
    }
    const sub = decoded.payload.sub;
    if (typeof sub !== 'string' || sub === '')
      throw invalidClient('client assertion has no sub (the client_id)', 'assertion_claims');
    const claimed = params.get('client_id');
    // RFC 7521 §4.2: a client_id parameter, when sent, must name the same client.
    if (claimed !== undefined && claimed !== sub)
      throw invalidClient('client_id does not match the client assertion sub', 'client_id_mismatch');
    clientId = sub;
  } else {
    presented = 'certificate';
    const claimed = params.get('client_id');
    if (claimed === undefined)
      throw invalidClient(
        'client authentication is required (no client_id or client assertion)',
        'no_client_authentication',
      );
    clientId = claimed;
  }

  const client = await runtime.storage.clients.findClient(clientId);
  if (!client) throw invalidClient('unknown client', 'unknown_client');
  noteAttempt(client.authMethod);
  const expected = presented === 'assertion' ? ASSERTION_METHODS : CERTIFICATE_METHODS;
  if (!expected.includes(client.authMethod))
    throw invalidClient(`this client must authenticate with ${client.authMethod}`, 'auth_method_mismatch');
  const authenticator = clientAuthenticators.get(client.authMethod)!;
  await authenticator.verify(
    {
      client,
      params,
      request,
      acceptedAudiences: acceptedAudiences(request, runtime, client),
      assertion: decoded,
    },
    runtime,
  );
  return { client, method: client.authMethod };
}
