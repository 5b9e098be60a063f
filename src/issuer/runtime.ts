/**
 * What every endpoint, step and grant receives: the validated configuration, resolved public URLs,
 * keys, storage, metrics, logger and clock. Built once by server.ts after the listeners are bound.
 */
import type { Logger } from 'pino';
import type { ClientConfig, IssuerConfig } from './config.js';
import type { ClientKeys } from './keys/client-keys.js';
import type { SigningKeySet } from './keys/signing-keys.js';
import type { IssuerMetrics } from './metrics.js';
import type { IssuerStorage } from './storage/store.js';
import type { RedisConnection } from '../redis/connection.js';
import type { DistinguishedName } from './client-auth/distinguished-name.js';
import type { ListenerName } from './http.js';

export interface IssuerClock {
  /** Unix seconds (JWT NumericDate). */
  nowSeconds(): number;
  nowMs(): number;
}

export interface IssuerUrls {
  /** The `iss` value: the main listener's public base URL. */
  issuer: string;
  /** Public base URL of the mTLS listener (the issuer URL when one listener serves both). */
  mtlsBase: string;
  /** True when a separate mTLS listener is advertised as mtls_endpoint_aliases (RFC 8705 §5). */
  separateMtls: boolean;
  /** Public URL of `path` on a listener. */
  endpoint(path: string, listener?: ListenerName): string;
}

export interface IssuerRuntime {
  config: IssuerConfig;
  urls: IssuerUrls;
  keys: SigningKeySet;
  /** Key material of clients that registered a JWK Set (by clientId). */
  clientKeys: ReadonlyMap<string, ClientKeys>;
  /** Parsed `tlsClientAuthSubjectDn` of tls_client_auth clients (by clientId). */
  subjectDns: ReadonlyMap<string, DistinguishedName>;
  storage: IssuerStorage;
  /** The Redis connection with `storage.type: redis` (shared by the storage and the CIBA delivery queue). */
  redis?: RedisConnection;
  metrics: IssuerMetrics;
  log: Logger;
  clock: IssuerClock;
}

export function clientName(client: ClientConfig): string {
  return client.clientName ?? client.clientId;
}
