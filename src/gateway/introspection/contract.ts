// Stand-in for src/gateway/tokens/verifier.ts until it lands; same shapes.
import type { Reject } from '../rejections.js';

export type TokenBinding = { kind: 'mtls'; x5t: string } | { kind: 'dpop'; jkt: string };
export interface VerifiedAccessToken {
  clientId: string;
  subject: string;
  scope: string;
  scopes: ReadonlySet<string>;
  binding: TokenBinding | undefined;
  expiresAt: number;
}
export interface ConnectionTokenMemo {
  token?: string;
  verified?: VerifiedAccessToken;
  owner?: TokenVerifier;
  generation?: number;
}
export interface TokenVerifier {
  readonly kind: string;
  verify(
    token: string,
    memo?: ConnectionTokenMemo,
  ): VerifiedAccessToken | Reject | Promise<VerifiedAccessToken | Reject>;
  ready(): boolean;
  whenReady(): Promise<void>;
  stop(): void;
}
