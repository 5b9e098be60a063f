/**
 * State of the authorization code flow between requests: pushed requests (RFC 9126), interactions
 * (one authorization request waiting for login/consent in one browser session), authorization codes
 * and remembered consent. Every record expires; pushed requests and codes are single use. Behind an
 * interface so a shared store (Redis) can replace the in-memory default for several issuer replicas.
 */
import { tokenKey, type Json, type StateStore } from '../storage/store.js';
import type { AuthorizationRequest, ResponseTarget } from './authorization-request.js';

export interface PushedRequest {
  clientId: string;
  /** The verified authorization parameters (from the request object). */
  parameters: Record<string, unknown>;
  /** Seconds since the epoch. */
  expiresAt: number;
}

export interface Interaction {
  id: string;
  /** The browser session that may continue it (replaced when the session id rotates at sign-in). */
  sessionId: string;
  request: AuthorizationRequest;
  target: ResponseTarget;
  expiresAt: number;
  failedLogins: number;
}

/** What an authorization code stands for (RFC 6749 §4.1.2: bound to client, redirect_uri, PKCE). */
export interface CodeGrant {
  /** Identifies every token issued from this code (revoked together on code reuse, RFC 6749 §4.1.2). */
  grantId: string;
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  scopes: string[];
  sub: string;
  authTime: number;
  acr?: string;
  amr?: string[];
  nonce?: string;
  /** The OIDC claims request, for the ID token and userinfo. */
  claims?: AuthorizationRequest['claims'];
  /** RFC 9449 §10: the DPoP key (thumbprint) the token request must prove. */
  dpopJkt?: string;
  expiresAt: number;
}

export interface CodeRedemption {
  grant: CodeGrant;
  /** False when the code had already been redeemed: a replay. */
  firstUse: boolean;
}

export interface AuthorizationStore {
  savePushedRequest(requestUri: string, request: PushedRequest): Promise<void>;
  /** Returns and deletes (single use, RFC 9126 §4). */
  takePushedRequest(requestUri: string): Promise<PushedRequest | undefined>;
  saveInteraction(interaction: Interaction): Promise<void>;
  getInteraction(id: string): Promise<Interaction | undefined>;
  deleteInteraction(id: string): Promise<void>;
  saveCode(code: string, grant: CodeGrant): Promise<void>;
  /** The code's record without changing it (used: already redeemed). */
  findCode(code: string): Promise<{ grant: CodeGrant; used: boolean } | undefined>;
  /**
   * Atomically marks the code used and returns it; a redeemed code stays known until it expires, so a
   * second use is recognised (and its grant revoked) rather than looking like an unknown code.
   */
  redeemCode(code: string): Promise<CodeRedemption | undefined>;
  rememberConsent(sub: string, clientId: string, scopes: readonly string[]): Promise<void>;
  hasConsent(sub: string, clientId: string, scopes: readonly string[]): Promise<boolean>;
}

const KIND = { pushed: 'par', interaction: 'interaction', code: 'code', consent: 'consent' } as const;

/** Redeemed codes stay known this long, so a late replay still revokes what the first use produced. */
export const REDEEMED_CODE_MEMORY_SECONDS = 3600;

export function consentKey(sub: string, clientId: string, scopes: readonly string[]): string {
  return tokenKey(JSON.stringify([sub, clientId, [...new Set(scopes)].sort()]));
}

interface StoredCode {
  grant: CodeGrant;
  used: boolean;
}

/**
 * The authorization store over the issuer's `StateStore` (memory or a shared store): codes and
 * request_uris keyed by their SHA-256 (`tokenKey`), so a store dump holds nothing redeemable.
 */
export function stateAuthorizationStore(
  state: StateStore,
  opts: { nowSeconds: () => number; consentTtlSeconds: number },
): AuthorizationStore {
  const ttl = (expiresAt: number) => Math.max(1, expiresAt - opts.nowSeconds());
  return {
    async savePushedRequest(requestUri, request) {
      await state.create(
        KIND.pushed,
        tokenKey(requestUri),
        request as unknown as Json,
        ttl(request.expiresAt),
      );
    },
    takePushedRequest(requestUri) {
      return state.consume<Json>(KIND.pushed, tokenKey(requestUri)) as Promise<PushedRequest | undefined>;
    },
    async saveInteraction(interaction) {
      await state.delete(KIND.interaction, interaction.id);
      await state.create(
        KIND.interaction,
        interaction.id,
        interaction as unknown as Json,
        ttl(interaction.expiresAt),
      );
    },
    getInteraction(id) {
      return state.get<Json>(KIND.interaction, id) as Promise<Interaction | undefined>;
    },
    deleteInteraction(id) {
      return state.delete(KIND.interaction, id);
    },
    async saveCode(code, grant) {
      const stored: StoredCode = { grant, used: false };
      await state.create(KIND.code, tokenKey(code), stored as unknown as Json, ttl(grant.expiresAt));
    },
    findCode(code) {
      return state.get<Json>(KIND.code, tokenKey(code)) as Promise<
        { grant: CodeGrant; used: boolean } | undefined
      >;
    },
    async redeemCode(code) {
      let firstUse = false;
      const after = (await state.update<Json>(KIND.code, tokenKey(code), (current) => {
        firstUse = false;
        const stored = current as unknown as StoredCode;
        if (stored.used) return undefined;
        firstUse = true;
        return {
          value: { ...stored, used: true } as unknown as Json,
          ttlSeconds: REDEEMED_CODE_MEMORY_SECONDS,
        };
      })) as unknown as StoredCode | undefined;
      return after ? { grant: after.grant, firstUse } : undefined;
    },
    async rememberConsent(sub, clientId, scopes) {
      const key = consentKey(sub, clientId, scopes);
      await state.delete(KIND.consent, key);
      await state.create(KIND.consent, key, true, opts.consentTtlSeconds);
    },
    async hasConsent(sub, clientId, scopes) {
      return (await state.get<Json>(KIND.consent, consentKey(sub, clientId, scopes))) === true;
    },
  };
}
