/**
 * Token introspection (RFC 7662), for authenticated clients only (§2.1: the endpoint must be
 * protected, or it becomes a token-scanning oracle). Any registered client may introspect access
 * tokens (resource servers are registered clients); refresh tokens only by the client they were
 * issued to (RFC 7662 §4: answer inactive rather than reveal another client's token). Anything
 * invalid, expired, revoked or unknown is `{"active": false}` and nothing more (§2.2).
 */
import { jsonReply, type JsonBody } from '../http.js';
import { authenticateClient } from '../steps/authenticate-client.js';
import { readForm } from '../steps/form-body.js';
import { tokenKey } from '../storage/store.js';
import { verifyOwnAccessToken } from '../tokens/verify-access-token.js';
import type { IssuerRuntime } from '../runtime.js';
import { clientAuthDiscovery } from './client-auth-discovery.js';
import type { Endpoint } from './endpoint.js';

async function introspect(
  token: string,
  hint: string | undefined,
  callerId: string,
  runtime: IssuerRuntime,
): Promise<JsonBody> {
  const tryRefreshFirst = hint === 'refresh_token';
  const asAccess = async (): Promise<JsonBody | undefined> => {
    const active = await verifyOwnAccessToken(token, runtime);
    if (!active) return undefined;
    const p = active.payload;
    return {
      active: true,
      token_type: 'Bearer',
      scope: p.scope,
      client_id: p.client_id,
      sub: p.sub,
      aud: p.aud,
      iss: p.iss,
      exp: p.exp,
      iat: p.iat,
      jti: p.jti,
      ...(p.cnf ? { cnf: p.cnf } : {}),
    };
  };
  const asRefresh = async (): Promise<JsonBody | undefined> => {
    const record = await runtime.storage.refreshTokens.findRefreshToken(tokenKey(token));
    if (!record || record.clientId !== callerId || record.exp <= runtime.clock.nowSeconds()) return undefined;
    return {
      active: true,
      token_type: 'refresh_token',
      scope: record.scope,
      client_id: record.clientId,
      sub: record.sub,
      iss: runtime.urls.issuer,
      exp: record.exp,
      iat: record.iat,
    };
  };
  const order = tryRefreshFirst ? [asRefresh, asAccess] : [asAccess, asRefresh];
  for (const attempt of order) {
    const body = await attempt();
    if (body) return body;
  }
  return { active: false };
}

export const introspectionEndpoint: Endpoint = {
  name: 'introspection',
  path: '/introspect',
  methods: ['POST'],
  metadataName: 'introspection_endpoint',
  mtlsAlias: true,
  discovery: () => clientAuthDiscovery('introspection_endpoint'),
  async respond(request, runtime) {
    const params = await readForm(request);
    const caller = await authenticateClient(request, params, runtime);
    const token = params.required('token');
    const body = await introspect(token, params.get('token_type_hint'), caller.client.clientId, runtime);
    runtime.metrics.introspections.inc({ active: String(body.active) });
    return jsonReply(body);
  },
};
