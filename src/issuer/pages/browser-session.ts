/**
 * The end-user's browser session at the issuer: one random id in a `__Host-` cookie (HttpOnly, Secure,
 * Path=/, no Domain: it cannot be set or read by another origin or by script), and server-side state
 * holding the CSRF token of the session's forms and, once signed in, who the user is.
 *
 * SameSite=Lax rather than Strict: the authorization request is a cross-site top-level GET from the
 * relying party, and a signed-in user's session must reach it (OIDC `prompt`, `max_age`, remembered
 * consent). Every state-changing request is a same-origin POST carrying the CSRF token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { recordKind, recordSchema } from '../storage/records.js';
import type { StateStore } from '../storage/store.js';
import { LIFETIME_DEFAULTS } from '../defaults.js';

export const SESSION_COOKIE = '__Host-fapi-issuer-session';
export const DEFAULT_SESSION_TTL_SECONDS = LIFETIME_DEFAULTS.sessionSeconds;

export interface EndUserAuthentication {
  /** Subject identifier (OIDC `sub`). */
  sub: string;
  /** Seconds since the epoch when the user authenticated (OIDC `auth_time`). */
  authTime: number;
  /** Authentication context class the login satisfied, if the user has one. */
  acr?: string;
  amr?: string[];
}

export interface BrowserSession {
  id: string;
  csrfToken: string;
  createdAt: number;
  authentication?: EndUserAuthentication;
}

/** Where browser sessions live: the issuer's state store (`stateBrowserSessions`). */
export interface BrowserSessionStore {
  get(id: string): Promise<BrowserSession | undefined>;
  save(session: BrowserSession): Promise<void>;
  delete(id: string): Promise<void>;
}

const unixSeconds = z.number().int().nonnegative();

const browserSessionKind = recordKind<BrowserSession>(
  'browser_session',
  recordSchema<BrowserSession>({
    id: z.string(),
    csrfToken: z.string(),
    createdAt: unixSeconds,
    authentication: recordSchema<EndUserAuthentication>({
      sub: z.string(),
      authTime: unixSeconds,
      acr: z.string().optional(),
      amr: z.array(z.string()).optional(),
    }).optional(),
  }),
);

/** Browser sessions in the issuer's state store (shared by replicas when the store is). */
export function stateBrowserSessions(
  state: StateStore,
  nowMs: () => number,
  ttlSeconds = DEFAULT_SESSION_TTL_SECONDS,
): BrowserSessionStore {
  return {
    get: async (id) => (await state.get(browserSessionKind, id))?.value,
    save: (session) => state.put(browserSessionKind, session.id, session, nowMs() + ttlSeconds * 1000),
    delete: (id) => state.delete(browserSessionKind, id),
  };
}

function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** The session id from a `Cookie` header (RFC 6265 §5.4 `name=value; name=value`), if well formed. */
export function sessionIdFromCookieHeader(cookie: string | undefined): string | undefined {
  if (!cookie) return undefined;
  for (const part of cookie.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() !== SESSION_COOKIE) continue;
    const value = part.slice(eq + 1).trim();
    return /^[A-Za-z0-9_-]{43}$/.test(value) ? value : undefined;
  }
  return undefined;
}

export function sessionCookie(id: string, ttlSeconds = DEFAULT_SESSION_TTL_SECONDS): string {
  return `${SESSION_COOKIE}=${id}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=${ttlSeconds}`;
}

export function clearedSessionCookie(): string {
  return `${SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0`;
}

/**
 * A session's CSRF token is derived from its id, so a form can be served before anything is stored (a
 * page that anyone may open must not let anyone fill the store). Only the holder of the cookie, which is
 * HttpOnly and `__Host-`, knows the id; the form proves it by carrying the derived token.
 */
function csrfTokenFor(id: string): string {
  return createHash('sha256').update(`fapi-issuer-csrf\0${id}`, 'utf8').digest('base64url');
}

export function newBrowserSession(now = Math.floor(Date.now() / 1000), id = randomToken()): BrowserSession {
  return { id, csrfToken: csrfTokenFor(id), createdAt: now };
}

/**
 * The request's session, or a new one (not yet saved) when the cookie is absent, unknown or expired.
 * `isNew` tells the caller to send `sessionCookie(session.id)` and, where the page needs server-side
 * state, to save it. A new session keeps the id of a well-formed cookie (`fromCookie`), so a form served
 * without storing anything can be posted back with it.
 */
export async function browserSessionOf(
  store: BrowserSessionStore,
  cookieHeader: string | undefined,
): Promise<{ session: BrowserSession; isNew: boolean; fromCookie: boolean }> {
  const id = sessionIdFromCookieHeader(cookieHeader);
  const existing = id !== undefined ? await store.get(id) : undefined;
  if (existing) return { session: existing, isNew: false, fromCookie: true };
  if (id !== undefined) return { session: newBrowserSession(undefined, id), isNew: true, fromCookie: true };
  return { session: newBrowserSession(), isNew: true, fromCookie: false };
}

/**
 * Signing in replaces the session id and the CSRF token (session fixation: an id planted before login
 * must not become an authenticated session).
 */
export async function signInBrowserSession(
  store: BrowserSessionStore,
  previous: BrowserSession,
  authentication: EndUserAuthentication,
): Promise<BrowserSession> {
  await store.delete(previous.id);
  const session: BrowserSession = { ...newBrowserSession(), authentication };
  await store.save(session);
  return session;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time comparison of two secrets of any length (equal-length digests). */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(digest(a), digest(b));
}

/** The CSRF token of a form must be the one of the session whose cookie came with the POST. */
export function csrfTokenValid(session: BrowserSession, presented: unknown): boolean {
  return typeof presented === 'string' && presented.length > 0 && secretsEqual(session.csrfToken, presented);
}

/**
 * Fetch-metadata / Origin check for form posts (defence in depth behind the CSRF token): a browser
 * that says where the request came from must say it came from the issuer itself.
 */
export function sameOriginFormPost(
  headers: Record<string, string | string[] | undefined>,
  issuerOrigin: string,
): boolean {
  const origin = headers['origin'];
  const site = headers['sec-fetch-site'];
  // Under `Referrer-Policy: no-referrer` (every issuer page) Chromium sends `Origin: null` even for a
  // same-origin form post; then only Fetch Metadata can vouch for it.
  if (origin === 'null') return site === 'same-origin';
  if (typeof origin === 'string' && origin !== issuerOrigin) return false;
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none') return false;
  return true;
}
