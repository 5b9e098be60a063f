/**
 * Everything the authorization endpoints need, as one value derived once per running issuer from its
 * runtime: client lookup and keys, signing, end-user authentication, browser sessions, flow state,
 * lifetimes and the outcome metric.
 */
import { SignJWT, type JWTVerifyGetKey } from 'jose';
import { Counter } from 'prom-client';
import type { ClientConfig } from '../config.js';
import { stateBrowserSessions, type BrowserSessionStore } from '../pages/index.js';
import type { IssuerRuntime } from '../runtime.js';
import { endUsersOf, type EndUserAuthenticator } from '../users/authenticator.js';
import { signInLimiterOf, type SignInLimiter } from '../users/sign-in-limits.js';
import type { Profile } from './authorization-request.js';
import type { JwtSigner } from './authorization-response.js';
import { stateAuthorizationStore, type AuthorizationStore } from './authorization-store.js';

export interface AuthorizationPaths {
  authorize: string;
  login: string;
  consent: string;
}

export const AUTHORIZATION_PATHS: AuthorizationPaths = {
  authorize: '/authorize',
  login: '/authorize/login',
  consent: '/authorize/consent',
};

export type AuthorizationEndpointName = 'par' | 'authorize' | 'login' | 'consent';

export interface AuthorizationContext {
  runtime: IssuerRuntime;
  issuer: string;
  profile: Profile;
  findClient(clientId: string): Promise<ClientConfig | undefined>;
  /** The client's registered public keys (request objects are signed with them). */
  clientKeys(client: ClientConfig): JWTVerifyGetKey;
  signer: JwtSigner;
  users: EndUserAuthenticator;
  sessions: BrowserSessionStore;
  store: AuthorizationStore;
  lifetimes: {
    pushedRequestSeconds: number;
    codeSeconds: number;
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
  /** Guess limits of the password, shared with every sign-in page and replica. */
  signInLimits: SignInLimiter;
  /** Counts outcomes (closed set: OAuth error codes, code_issued, accepted, login_failed, login_limited). */
  outcome(endpoint: AuthorizationEndpointName, clientId: string | undefined, outcome: string): void;
}

const NO_KEYS: JWTVerifyGetKey = () => Promise.reject(new Error('the client registered no keys'));

/** A signer over the issuer's keys: the first key of the requested algorithm (keys/signing-keys.ts). */
export function runtimeSigner(runtime: IssuerRuntime): JwtSigner {
  return {
    sign(claims, opts) {
      const key = runtime.keys.forAlgorithm(opts.alg);
      if (!key) throw new Error(`no signing key for ${opts.alg} (checked at start-up)`);
      return new SignJWT(claims)
        .setProtectedHeader({ alg: opts.alg, kid: key.kid, ...(opts.typ ? { typ: opts.typ } : {}) })
        .sign(key.privateKey);
    },
  };
}

const contexts = new WeakMap<IssuerRuntime, AuthorizationContext>();

export function authorizationContextOf(runtime: IssuerRuntime): AuthorizationContext {
  const known = contexts.get(runtime);
  if (known) return known;
  const { config } = runtime;
  const outcomes = new Counter({
    name: 'fapi_issuer_authorization_outcomes_total',
    help: 'Authorization code flow outcomes, by endpoint (par|authorize|login|consent) and outcome (OAuth error code, accepted, login_failed, login_limited, code_issued).',
    labelNames: ['endpoint', 'outcome'],
    registers: [runtime.metrics.registry],
  });
  const ctx: AuthorizationContext = {
    runtime,
    issuer: runtime.urls.issuer,
    profile: config.profile,
    findClient: (clientId) => runtime.storage.clients.findClient(clientId),
    clientKeys: (client) => runtime.clientKeys.get(client.clientId)?.resolver ?? NO_KEYS,
    signer: runtimeSigner(runtime),
    users: endUsersOf(runtime),
    sessions: stateBrowserSessions(
      runtime.storage.state,
      () => runtime.clock.nowMs(),
      config.sessions.ttlSeconds,
    ),
    store: stateAuthorizationStore(runtime.storage.state, {
      nowSeconds: () => runtime.clock.nowSeconds(),
      consentTtlSeconds: config.consents.ttlSeconds,
    }),
    lifetimes: {
      pushedRequestSeconds: config.par.ttlSeconds,
      codeSeconds: config.authorizationCodes.ttlSeconds,
      interactionSeconds: config.interactions.ttlSeconds,
      jarmSeconds: config.authorizationResponses.ttlSeconds,
      sessionSeconds: config.sessions.ttlSeconds,
    },
    clockSkewSeconds: config.clientAssertions.clockSkewSeconds,
    paths: AUTHORIZATION_PATHS,
    now: () => runtime.clock.nowSeconds(),
    scopeDescriptions: config.scopeDescriptions,
    signInLimits: signInLimiterOf(runtime),
    outcome(endpoint, clientId, outcome) {
      outcomes.inc({ endpoint, outcome });
      runtime.log.info({ endpoint, clientId, outcome }, 'authorization flow');
    },
  };
  contexts.set(runtime, ctx);
  return ctx;
}
