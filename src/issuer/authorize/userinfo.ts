/**
 * The OIDC UserInfo endpoint (OIDC Core §5.3) for certificate-bound access tokens: the token comes in
 * the Authorization header only (RFC 6750 §2.1; FAPI forbids query and body), must be one of ours,
 * active, carry `openid`, and be bound to the certificate of this connection (RFC 8705 §3, checked
 * like the gateway does: a token without `cnf` or with another thumbprint is refused). Errors follow
 * RFC 6750 §3 with a `WWW-Authenticate: Bearer` challenge.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Endpoint } from '../endpoints/endpoint.js';
import { jsonReply, type IssuerRequest, type Reply } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';
import { verifyOwnAccessToken } from '../tokens/verify-access-token.js';
import { endUsersOf } from '../users/authenticator.js';
import type { ClaimsRequest } from './claims-request.js';
import { userinfoClaims } from './user-claims.js';

function bearerError(status: number, error: string | undefined, description: string, scope?: string): Reply {
  const params = [
    'realm="fapi-issuer"',
    ...(error ? [`error="${error}"`, `error_description="${description}"`] : []),
    ...(scope ? [`scope="${scope}"`] : []),
  ];
  return jsonReply(error ? { error, error_description: description } : {}, status, {
    'WWW-Authenticate': `Bearer ${params.join(', ')}`,
  });
}

function thumbprintsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

async function userinfo(request: IssuerRequest, runtime: IssuerRuntime): Promise<Reply> {
  if (request.query.has('access_token'))
    return bearerError(400, 'invalid_request', 'send the access token in the Authorization header only');
  const header = request.headers.authorization;
  if (header === undefined) return bearerError(401, undefined, '');
  const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(header);
  if (!match) return bearerError(401, 'invalid_token', 'the Authorization header is not a Bearer token');
  const active = await verifyOwnAccessToken(match[1]!, runtime);
  if (!active) return bearerError(401, 'invalid_token', 'the access token is invalid, expired or revoked');
  const bound = active.payload.cnf?.['x5t#S256'];
  const presented = request.certificate?.thumbprint;
  if (bound === undefined)
    return bearerError(401, 'invalid_token', 'the access token is not certificate-bound');
  if (presented === undefined || !thumbprintsEqual(bound, presented))
    return bearerError(401, 'invalid_token', 'the access token is bound to another client certificate');
  const scopes = (active.payload.scope ?? '').split(' ');
  if (!scopes.includes('openid'))
    return bearerError(403, 'insufficient_scope', 'userinfo needs the openid scope', 'openid');
  const sub = active.payload.sub;
  const user = await endUsersOf(runtime).findBySubject(sub);
  const grant = active.grantId ? await runtime.storage.grants.findGrant(active.grantId) : undefined;
  const claimsRequest = grant?.claims?.['claims_request'] as ClaimsRequest | undefined;
  return jsonReply({ ...userinfoClaims(user?.claims ?? {}, scopes, claimsRequest), sub });
}

export const userinfoEndpoint: Endpoint = {
  name: 'userinfo',
  path: '/userinfo',
  methods: ['GET', 'POST'],
  metadataName: 'userinfo_endpoint',
  mtlsAlias: true,
  respond: userinfo,
};
