/**
 * State of the authorization code flow between requests: pushed requests (RFC 9126), interactions
 * (one authorization request waiting for login/consent in one browser session), authorization codes
 * and remembered consent. Every record expires; pushed requests and codes are single use. Behind an
 * interface so a shared store (Redis) can replace the in-memory default for several issuer replicas.
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
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
  /**
   * Atomically marks the code used and returns it; a redeemed code stays known until it expires, so a
   * second use is recognised (and its grant revoked) rather than looking like an unknown code.
   */
  redeemCode(code: string): Promise<CodeRedemption | undefined>;
  rememberConsent(sub: string, clientId: string, scopes: readonly string[]): Promise<void>;
  hasConsent(sub: string, clientId: string, scopes: readonly string[]): Promise<boolean>;
}

/** Codes and request_uris are stored by hash: a leaked store dump holds nothing redeemable. */
export function storageKey(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('base64url');
}

export function consentKey(sub: string, clientId: string, scopes: readonly string[]): string {
  return JSON.stringify([sub, clientId, [...new Set(scopes)].sort()]);
}

export const REDEEMED_CODE_MEMORY_SECONDS = 3600;

function ttlMs(expiresAt: number): number {
  return Math.max(1, expiresAt * 1000 - Date.now());
}

export class InMemoryAuthorizationStore implements AuthorizationStore {
  readonly #pushed = new LRUCache<string, PushedRequest>({ max: 100_000 });
  readonly #interactions = new LRUCache<string, Interaction>({ max: 100_000 });
  readonly #codes = new LRUCache<string, { grant: CodeGrant; used: boolean }>({ max: 100_000 });
  readonly #consents = new LRUCache<string, true>({ max: 100_000, ttl: 365 * 86400_000 });

  savePushedRequest(requestUri: string, request: PushedRequest): Promise<void> {
    this.#pushed.set(storageKey(requestUri), request, { ttl: ttlMs(request.expiresAt) });
    return Promise.resolve();
  }
  takePushedRequest(requestUri: string): Promise<PushedRequest | undefined> {
    const key = storageKey(requestUri);
    const found = this.#pushed.get(key);
    this.#pushed.delete(key);
    return Promise.resolve(found);
  }
  saveInteraction(interaction: Interaction): Promise<void> {
    this.#interactions.set(interaction.id, interaction, { ttl: ttlMs(interaction.expiresAt) });
    return Promise.resolve();
  }
  getInteraction(id: string): Promise<Interaction | undefined> {
    return Promise.resolve(this.#interactions.get(id));
  }
  deleteInteraction(id: string): Promise<void> {
    this.#interactions.delete(id);
    return Promise.resolve();
  }
  saveCode(code: string, grant: CodeGrant): Promise<void> {
    this.#codes.set(storageKey(code), { grant, used: false }, { ttl: ttlMs(grant.expiresAt) });
    return Promise.resolve();
  }
  redeemCode(code: string): Promise<CodeRedemption | undefined> {
    const key = storageKey(code);
    const entry = this.#codes.get(key);
    if (!entry) return Promise.resolve(undefined);
    const firstUse = !entry.used;
    entry.used = true;
    // Keep a redeemed code known for an hour so a late replay still revokes what it produced.
    if (firstUse) this.#codes.set(key, entry, { ttl: REDEEMED_CODE_MEMORY_SECONDS * 1000 });
    return Promise.resolve({ grant: entry.grant, firstUse });
  }
  rememberConsent(sub: string, clientId: string, scopes: readonly string[]): Promise<void> {
    this.#consents.set(consentKey(sub, clientId, scopes), true);
    return Promise.resolve();
  }
  hasConsent(sub: string, clientId: string, scopes: readonly string[]): Promise<boolean> {
    return Promise.resolve(this.#consents.has(consentKey(sub, clientId, scopes)));
  }
}
