/** The issuer's public keys (RFC 8414 `jwks_uri`): every configured key, the active one first. */
import type { Endpoint } from './endpoint.js';

export const jwksEndpoint: Endpoint = {
  name: 'jwks',
  path: '/jwks',
  methods: ['GET', 'HEAD'],
  metadataName: 'jwks_uri',
  respond(_request, runtime) {
    return Promise.resolve({
      status: 200,
      // Short caching: relying parties pick up a rotation within minutes (RFC 7517 has no TTL of its own).
      headers: { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': 'public, max-age=300' },
      body: JSON.stringify(runtime.keys.jwks),
    });
  },
};
