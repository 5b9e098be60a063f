/**
 * End-user authentication behind an interface: the issuer's login pages (authorization code flow, CIBA
 * device page) ask an `EndUserAuthenticator`; the configured development users are one implementation,
 * a bank's directory would be another.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { UserConfig } from '../config.js';

export interface EndUser {
  /** OIDC subject identifier: `claims.sub` if configured, else the username. */
  sub: string;
  username: string;
  /** OIDC claims about the user (name, email, …), released per scope and claims request. */
  claims: Record<string, unknown>;
  /** The authentication context class a login of this user achieves. */
  acr?: string;
}

export interface EndUserAuthenticator {
  /** The user when the credentials match; undefined otherwise (never says which part was wrong). */
  authenticate(username: string, password: string): Promise<EndUser | undefined>;
  findBySubject(sub: string): Promise<EndUser | undefined>;
  findByUsername(username: string): Promise<EndUser | undefined>;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Users from the issuer configuration (`users:`). Passwords are compared as equal-length SHA-256
 * digests with `timingSafeEqual`, and an unknown username costs the same comparison, so timing tells
 * nothing about either.
 */
export class ConfiguredUsers implements EndUserAuthenticator {
  readonly #byUsername = new Map<string, { user: EndUser; passwordDigest: Buffer }>();
  readonly #bySubject = new Map<string, EndUser>();
  readonly #decoy = digest('decoy password that matches nothing');

  constructor(users: readonly UserConfig[]) {
    for (const u of users) {
      const sub = typeof u.claims['sub'] === 'string' ? u.claims['sub'] : u.username;
      const user: EndUser = {
        sub,
        username: u.username,
        claims: { ...u.claims },
        ...(u.acr !== undefined ? { acr: u.acr } : {}),
      };
      this.#byUsername.set(u.username, { user, passwordDigest: digest(u.password) });
      this.#bySubject.set(sub, user);
    }
  }

  authenticate(username: string, password: string): Promise<EndUser | undefined> {
    const entry = this.#byUsername.get(username);
    const matches = timingSafeEqual(entry?.passwordDigest ?? this.#decoy, digest(password));
    return Promise.resolve(entry && matches ? entry.user : undefined);
  }

  findBySubject(sub: string): Promise<EndUser | undefined> {
    return Promise.resolve(this.#bySubject.get(sub));
  }

  findByUsername(username: string): Promise<EndUser | undefined> {
    return Promise.resolve(this.#byUsername.get(username)?.user);
  }
}

const perRuntime = new WeakMap<object, EndUserAuthenticator>();

/** The end-user authenticator of a running issuer (the configured users), shared by every page. */
export function endUsersOf(runtime: { config: { users: readonly UserConfig[] } }): EndUserAuthenticator {
  let users = perRuntime.get(runtime);
  if (!users) perRuntime.set(runtime, (users = new ConfiguredUsers(runtime.config.users)));
  return users;
}
