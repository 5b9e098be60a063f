/** The shape of one client authentication method (one module each, listed in ./index.ts). */
import type { DecodedJws } from '../../jose/key-ring.js';
import type { ClientConfig } from '../config.js';
import type { FormParams } from '../steps/form-body.js';
import type { IssuerRequest } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';

export type ClientAuthMethod = ClientConfig['authMethod'];

export interface ClientAuthInput {
  client: ClientConfig;
  params: FormParams;
  request: IssuerRequest;
  /**
   * Audiences a client assertion may name (see steps/authenticate-client.ts); with one entry, `aud` must be
   * that string itself, not an array holding it (FAPI 2 SP §5.3.2.1).
   */
  acceptedAudiences: readonly string[];
  /** The client assertion, decoded once (RFC 7515 §5.2) when the request carries one. */
  assertion?: DecodedJws;
}

export interface ClientAuthenticator {
  method: ClientAuthMethod;
  /** Resolves when `client` proved its identity with this method; throws invalid_client otherwise. */
  verify(input: ClientAuthInput, runtime: IssuerRuntime): Promise<void>;
}

export interface AuthenticatedClient {
  client: ClientConfig;
  method: ClientAuthMethod;
}
