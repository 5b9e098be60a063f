/**
 * State of the authorization code flow between requests: pushed requests (RFC 9126), interactions
 * (one authorization request waiting for login/consent in one browser session), authorization codes
 * and remembered consent. Every record expires; pushed requests and codes are single use. Behind an
 * interface so a shared store (Redis) can replace the in-memory default for several issuer replicas.
 */
import { z } from 'zod';
import { recordKind, recordSchema } from '../storage/records.js';
import { tokenKey, type StateStore } from '../storage/store.js';
import {
  ALL_RESPONSE_MODES,
  type AuthorizationRequest,
  type ResponseTarget,
} from './authorization-request.js';
import { claimsRequestSchema, type AcrRequirement } from './claims-request.js';
import { SIGNING_ALGORITHMS } from '../config.js';

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

const unixSeconds = z.number().int().nonnegative();
const responseMode = z.enum(ALL_RESPONSE_MODES as [ResponseTarget['responseMode']]);

const targetSchema = recordSchema<ResponseTarget>({
  clientId: z.string(),
  redirectUri: z.string(),
  responseMode,
  state: z.string().optional(),
  jarmAlg: z.enum(SIGNING_ALGORITHMS),
});

const requestSchema = recordSchema<AuthorizationRequest>({
  clientId: z.string(),
  redirectUri: z.string(),
  responseType: z.enum(['code', 'code id_token']),
  responseMode,
  scopes: z.array(z.string()),
  state: z.string().optional(),
  nonce: z.string().optional(),
  codeChallenge: z.string(),
  claims: claimsRequestSchema.optional(),
  acr: recordSchema<AcrRequirement>({
    essential: z.boolean(),
    values: z.array(z.string()).optional(),
  }).optional(),
  prompt: z.array(z.string()),
  maxAge: z.number().int().nonnegative().optional(),
  loginHint: z.string().optional(),
  dpopJkt: z.string().optional(),
});

const pushedKind = recordKind<PushedRequest>(
  'par',
  recordSchema<PushedRequest>({
    clientId: z.string(),
    parameters: z.record(z.string(), z.unknown()),
    expiresAt: unixSeconds,
  }),
);

const interactionKind = recordKind<Interaction>(
  'interaction',
  recordSchema<Interaction>({
    id: z.string(),
    sessionId: z.string(),
    request: requestSchema,
    target: targetSchema,
    expiresAt: unixSeconds,
  }),
);

interface StoredCode {
  grant: CodeGrant;
  used: boolean;
}

const codeKind = recordKind<StoredCode>(
  'code',
  recordSchema<StoredCode>({
    grant: recordSchema<CodeGrant>({
      grantId: z.string(),
      clientId: z.string(),
      redirectUri: z.string(),
      codeChallenge: z.string(),
      scopes: z.array(z.string()),
      sub: z.string(),
      authTime: unixSeconds,
      acr: z.string().optional(),
      amr: z.array(z.string()).optional(),
      nonce: z.string().optional(),
      claims: claimsRequestSchema.optional(),
      dpopJkt: z.string().optional(),
      expiresAt: unixSeconds,
    }),
    used: z.boolean(),
  }),
);

const consentKind = recordKind<true>('consent', z.literal(true));

export interface AuthorizationStore {
  savePushedRequest(requestUri: string, request: PushedRequest): Promise<void>;
  /** Returns and deletes (single use, RFC 9126 §4). */
  takePushedRequest(requestUri: string): Promise<PushedRequest | undefined>;
  /** Reads without using it up: who may use a request_uri is checked before anyone consumes it. */
  peekPushedRequest(requestUri: string): Promise<PushedRequest | undefined>;
  /** Stores a new interaction (its id is fresh and random). */
  saveInteraction(interaction: Interaction): Promise<void>;
  getInteraction(id: string): Promise<{ interaction: Interaction; version: number } | undefined>;
  /**
   * Replaces the interaction read at `version` (sign-in moves it to the new session); false when it
   * changed or ended since, so two concurrent sign-ins cannot both continue it.
   */
  replaceInteraction(interaction: Interaction, version: number): Promise<boolean>;
  /** Returns and deletes: of concurrent form posts exactly one continues the interaction to its end. */
  takeInteraction(id: string): Promise<Interaction | undefined>;
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

/** Redeemed codes stay known this long, so a late replay still revokes what the first use produced. */
export const REDEEMED_CODE_MEMORY_SECONDS = 3600;

export function consentKey(sub: string, clientId: string, scopes: readonly string[]): string {
  return tokenKey(JSON.stringify([sub, clientId, [...new Set(scopes)].sort()]));
}

/**
 * The authorization store over the issuer's `StateStore` (memory or a shared store): codes and
 * request_uris keyed by their SHA-256 (`tokenKey`), so a store dump holds nothing redeemable.
 */
export function stateAuthorizationStore(
  state: StateStore,
  opts: { nowSeconds: () => number; consentTtlSeconds: number },
): AuthorizationStore {
  const ms = (unixSeconds: number) => unixSeconds * 1000;
  return {
    async savePushedRequest(requestUri, request) {
      if (!(await state.create(pushedKind, tokenKey(requestUri), request, ms(request.expiresAt))))
        throw new Error('request_uri collision (random source broken?)');
    },
    takePushedRequest(requestUri) {
      return state.consume(pushedKind, tokenKey(requestUri));
    },
    async peekPushedRequest(requestUri) {
      return (await state.get(pushedKind, tokenKey(requestUri)))?.value;
    },
    async saveInteraction(interaction) {
      if (!(await state.create(interactionKind, interaction.id, interaction, ms(interaction.expiresAt))))
        throw new Error('interaction id collision (random source broken?)');
    },
    async getInteraction(id) {
      const stored = await state.get(interactionKind, id);
      return stored && { interaction: stored.value, version: stored.version };
    },
    replaceInteraction(interaction, version) {
      return state.compareAndSet(interactionKind, interaction.id, version, interaction);
    },
    takeInteraction(id) {
      return state.consume(interactionKind, id);
    },
    deleteInteraction(id) {
      return state.delete(interactionKind, id);
    },
    async saveCode(code, grant) {
      if (!(await state.create(codeKind, tokenKey(code), { grant, used: false }, ms(grant.expiresAt))))
        throw new Error('authorization code collision (random source broken?)');
    },
    async findCode(code) {
      return (await state.get(codeKind, tokenKey(code)))?.value;
    },
    async redeemCode(code) {
      const id = tokenKey(code);
      // A compare-and-set on the version read: of concurrent redemptions exactly one flips `used`.
      for (;;) {
        const stored = await state.get(codeKind, id);
        if (!stored) return undefined;
        if (stored.value.used) return { grant: stored.value.grant, firstUse: false };
        const redeemed: StoredCode = { grant: stored.value.grant, used: true };
        const expiresAtMs = ms(opts.nowSeconds() + REDEEMED_CODE_MEMORY_SECONDS);
        if (await state.compareAndSet(codeKind, id, stored.version, redeemed, expiresAtMs))
          return { grant: stored.value.grant, firstUse: true };
      }
    },
    async rememberConsent(sub, clientId, scopes) {
      await state.put(
        consentKind,
        consentKey(sub, clientId, scopes),
        true,
        ms(opts.nowSeconds() + opts.consentTtlSeconds),
      );
    },
    async hasConsent(sub, clientId, scopes) {
      return (await state.get(consentKind, consentKey(sub, clientId, scopes)))?.value === true;
    },
  };
}
