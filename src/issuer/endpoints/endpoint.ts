/** The shape of one issuer endpoint (one module each, listed in ./index.ts). */
import type { IssuerRequest, Reply } from '../http.js';
import type { IssuerConfig } from '../config.js';
import type { IssuerRuntime } from '../runtime.js';

export interface Endpoint {
  /** Metric label and log field, e.g. `token`. */
  name: string;
  path: string;
  /** For endpoints whose path is configured (e.g. `ciba.devicePath`): replaces `path` at start. */
  configuredPath?(config: IssuerConfig): string;
  methods: readonly string[];
  /**
   * Discovery metadata name of this endpoint's URL (e.g. `token_endpoint`); with `mtlsAlias` the mTLS
   * listener's URL is also advertised under `mtls_endpoint_aliases` (RFC 8705 §5).
   */
  metadataName?: string;
  mtlsAlias?: boolean;
  /** Discovery fields this feature contributes (e.g. `token_endpoint_auth_methods_supported`). */
  discovery?(runtime: IssuerRuntime): Record<string, unknown>;
  respond(request: IssuerRequest, runtime: IssuerRuntime): Promise<Reply>;
}
