/**
 * Calls to a gateway fixture with DPoP-bound tokens (RFC 9449 §7): `Authorization: DPoP <token>` and a
 * fresh proof for the exact request, unless the test supplies its own proof(s) or none.
 */
import type { GatewayFixture } from './gateway.js';
import type { TestCredential } from './pki.js';
import type { TestResponse } from './tls-client.js';
import { mtlsRequest } from './tls-client.js';
import { mintDpopProof, type DpopKey, type ProofOptions } from './dpop.js';

export interface DpopCallOptions {
  key: DpopKey;
  token: string;
  method?: string;
  /** Request target (path and query). Default /payments. */
  path?: string;
  /** A given proof, several (several DPoP header lines), or null for none; default a valid fresh proof. */
  proof?: string | string[] | null;
  /** Overrides for the minted proof. */
  proofOptions?: ProofOptions;
  /** The name the DPoP header is sent under (default `DPoP`). */
  proofHeaderName?: string;
  /** Authorization scheme as sent (default `DPoP`). */
  scheme?: string;
  /** Client certificate; null for none. Default client A (a DPoP client may also hold a certificate). */
  client?: TestCredential | null;
  headers?: Record<string, string>;
  /** Unix seconds used for the proof's iat (the gateway's injected clock in nonce tests). */
  now?: number;
}

/** The htu a proof names for `path` on this fixture: the Host the test client sends. */
export function htuFor(f: GatewayFixture, path: string): string {
  return `https://127.0.0.1:${f.gateway.listenPort}${path.split('?')[0]}`;
}

export async function dpopCall(f: GatewayFixture, o: DpopCallOptions): Promise<TestResponse> {
  const method = o.method ?? 'GET';
  const path = o.path ?? '/payments';
  const proof =
    o.proof !== undefined
      ? o.proof
      : await mintDpopProof(o.key, {
          htm: method,
          htu: htuFor(f, path),
          accessToken: o.token,
          ...(o.now !== undefined ? { iat: o.now } : {}),
          ...o.proofOptions,
        });
  const headers: Record<string, string | string[]> = {
    authorization: `${o.scheme ?? 'DPoP'} ${o.token}`,
    ...o.headers,
  };
  if (proof !== null) headers[o.proofHeaderName ?? 'DPoP'] = proof;
  return mtlsRequest({
    port: f.gateway.listenPort,
    caPem: f.pki.ca.certPem,
    ...(o.client === null ? {} : { client: o.client ?? f.pki.clientA }),
    method,
    path,
    headers,
  });
}
