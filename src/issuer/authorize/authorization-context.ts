/**
 * Everything the authorization endpoints need from the rest of the issuer, as one value built at
 * start-up: client registry, key resolution, signing, end-user authentication, stores, lifetimes.
 */
import type { JWTVerifyGetKey } from 'jose';
import type { ClientConfig } from '../config.js';
import type { BrowserSessionStore } from '../pages/index.js';
import type { EndUserAuthenticator } from '../users/authenticator.js';
import type { Profile } from './authorization-request.js';
import type { JwtSigner } from './authorization-response.js';
import type { AuthorizationStore } from './authorization-store.js';

export interface AuthorizationPaths {
  authorize: string;
  login: string;
  consent: string;
}

export const DEFAULT_AUTHORIZATION_PATHS: AuthorizationPaths = {
  authorize: '/authorize',
  login: '/authorize/login',
  consent: '/authorize/consent',
};

export interface AuthorizationEvents {
  /** A refusal or completion, for metrics and the log (never with secrets). */
  outcome(event: {
    endpoint: 'par' | 'authorize' | 'login' | 'consent';
    clientId?: string;
    outcome: string;
  }): void;
}

export interface AuthorizationContext {
  issuer: string;
  profile: Profile;
  findClient(clientId: string): ClientConfig | undefined;
  /** The client's registered public keys (request objects are signed with them). */
  clientKeys(client: ClientConfig): JWTVerifyGetKey;
  signer: JwtSigner;
  users: EndUserAuthenticator;
  sessions: BrowserSessionStore;
  store: AuthorizationStore;
  lifetimes: {
    pushedRequestSeconds: number;
    codeSeconds: number;
    idTokenSeconds: number;
    interactionSeconds: number;
    jarmSeconds: number;
    sessionSeconds: number;
  };
  clockSkewSeconds: number;
  paths: AuthorizationPaths;
  /** Seconds since the epoch. */
  now(): number;
  /** Human descriptions of scopes for the consent page. */
  scopeDescriptions: Record<string, string>;
  events?: AuthorizationEvents;
  /** Failed sign-ins allowed per authorization request before it ends with access_denied. */
  maxFailedLogins: number;
}

export const DEFAULT_SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Confirm who you are',
  profile: 'Your name',
  email: 'Your email address',
  offline_access: 'Keep access while you are away',
};
