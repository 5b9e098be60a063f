/**
 * Authorization server metadata (RFC 8414) at `/.well-known/oauth-authorization-server` and the same
 * document at `/.well-known/openid-configuration` (OIDC Discovery §4). Built from the endpoint list:
 * each endpoint adds its URL (and its mTLS alias, RFC 8705 §5) and the fields of its feature.
 */
import { SIGNING_ALGORITHMS } from '../config.js';
import type { JsonBody } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';
import type { Endpoint } from './endpoint.js';

export function discoveryDocument(endpoints: readonly Endpoint[], runtime: IssuerRuntime): JsonBody {
  const { urls, config } = runtime;
  const scopes = new Set<string>();
  for (const c of config.clients) for (const s of c.scopes) scopes.add(s);
  const doc: JsonBody = {
    issuer: urls.issuer,
    scopes_supported: [...scopes].sort(),
    response_types_supported: [] as string[],
    tls_client_certificate_bound_access_tokens: true,
    // RFC 9068 access tokens are signed with the active key's algorithm.
    access_token_signing_alg_values_supported: [...new Set(runtime.keys.all.map((k) => k.alg))],
    id_token_signing_alg_values_supported: [...SIGNING_ALGORITHMS],
    subject_types_supported: ['public'],
    claims_parameter_supported: false,
    request_parameter_supported: false,
    request_uri_parameter_supported: false,
  };
  const aliases: Record<string, string> = {};
  for (const e of endpoints) {
    if (e.metadataName) {
      doc[e.metadataName] = urls.endpoint(e.path, 'main');
      if (e.mtlsAlias && urls.separateMtls) aliases[e.metadataName] = urls.endpoint(e.path, 'mtls');
    }
    if (e.discovery) Object.assign(doc, e.discovery(runtime));
  }
  if (Object.keys(aliases).length > 0) doc.mtls_endpoint_aliases = aliases;
  return doc;
}

function discoveryEndpoint(name: string, path: string, all: () => readonly Endpoint[]): Endpoint {
  return {
    name,
    path,
    methods: ['GET', 'HEAD'],
    respond(_request, runtime) {
      return Promise.resolve({
        status: 200,
        headers: { 'Content-Type': 'application/json', 'Cache-Control': 'public, max-age=300' },
        body: JSON.stringify(discoveryDocument(all(), runtime)),
      });
    },
  };
}

export const discoveryEndpoints = (all: () => readonly Endpoint[]): Endpoint[] => [
  discoveryEndpoint('discovery', '/.well-known/oauth-authorization-server', all),
  discoveryEndpoint('discovery_oidc', '/.well-known/openid-configuration', all),
];
