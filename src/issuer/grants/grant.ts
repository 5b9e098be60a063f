/** The shape of one grant type at the token endpoint (one module each, listed in ./index.ts). */
import type { AuthenticatedClient } from '../client-auth/method.js';
import { OAuthError } from '../errors.js';
import type { IssuerRequest } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';
import type { FormParams } from '../steps/form-body.js';

export interface GrantRequest {
  params: FormParams;
  client: AuthenticatedClient;
  request: IssuerRequest;
  /**
   * RFC 7638 thumbprint of the key of a valid DPoP proof on this request (RFC 9449 §5): the access
   * token is bound to it (steps/dpop-proof.ts checked the proof before the grant ran).
   */
  dpopJkt: string | undefined;
}

/** RFC 6749 §5.1 (+ OIDC `id_token`); sent with Cache-Control: no-store. */
export interface TokenResponse {
  access_token: string;
  /** RFC 9449 §5.1: `DPoP` when the access token is DPoP-bound. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  /** FAPI 2 §5.3.2.1 / FAPI 1 §5.2.2: always present. */
  scope: string;
  refresh_token?: string;
  id_token?: string;
  [extra: string]: unknown;
}

/**
 * FAPI 2.0 §5.3.2.1 / FAPI 1 Advanced §5.2.2-5: access tokens are sender-constrained, by the connection's
 * client certificate (RFC 8705) or by a DPoP proof (RFC 9449); a token request with neither is refused.
 */
export function senderConstraintRequired(): OAuthError {
  return new OAuthError(
    'certificate_required',
    'a client certificate or a DPoP proof is required: FAPI access tokens are sender-constrained (RFC 8705, RFC 9449); use the mtls_endpoint_aliases token endpoint or send a DPoP header',
  );
}

export interface Grant {
  /** The `grant_type` value (and the `grant_types_supported` entry). */
  grantType: string;
  /** Runs after client authentication and the client's `grantTypes` check. Throws OAuthError. */
  exchange(request: GrantRequest, runtime: IssuerRuntime): Promise<TokenResponse>;
}
