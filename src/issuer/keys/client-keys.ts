/**
 * Client key material: the JWK Set a client registered inline (`jwks`), in a file (`jwksFile`) or by
 * reference (`jwksUri`). Inline and file sets are checked at start-up (strength, no private members);
 * a remote set is fetched on demand, cached, and its keys are checked when used, since they can change
 * at any time (RFC 7591 §2: that is what jwks_uri is for).
 */
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  type FetchImplementation,
  type JWK,
  type JWTVerifyGetKey,
} from 'jose';
import type { ConfigProblem } from '../../config/load.js';
import { KeyRing } from '../../jose/key-ring.js';
import { SIGNING_ALGORITHMS, type ClientConfig } from '../config.js';
import { publicJwkProblem } from './key-strength.js';

export interface ClientKeys {
  /** Key selection for jose's jwtVerify (by kid and alg). */
  resolver: JWTVerifyGetKey;
  /**
   * The client's keys prepared for synchronous verification (client assertions: each one is new, so
   * each costs a signature check), made once per key set. A jwks_uri set is fetched when missing or
   * older than its cache age; rejects when it cannot be fetched.
   */
  keyRing(): KeyRing | Promise<KeyRing>;
  /**
   * No key matched: the set fetched again when the last fetch is older than the cooldown (the client
   * may have rotated), as jose's remote JWK Set does; a static set is returned as it is.
   */
  afterUnknownKey(): KeyRing | Promise<KeyRing>;
  /** The client's current public keys; weak or malformed remote keys are left out. */
  currentKeys(): Promise<JWK[]>;
  /** The keys of an inline or file JWK Set (checked at start-up); undefined for a jwks_uri. */
  staticKeys: JWK[] | undefined;
}

export interface ClientKeyOptions {
  /** fetch for jwks_uri (e.g. one trusting a private CA); the global fetch otherwise. */
  fetch?: FetchImplementation;
}

/** Problems of a static JWK Set, phrased for `clients[i].jwks: ...`. */
export function jwkSetProblems(set: unknown): string[] {
  if (typeof set !== 'object' || set === null || !Array.isArray((set as { keys?: unknown }).keys))
    return ['must be a JWK Set: {"keys": [...]}'];
  const keys = (set as { keys: unknown[] }).keys;
  if (keys.length === 0) return ['the JWK Set has no keys'];
  const out: string[] = [];
  keys.forEach((k, i) => {
    const prefix = keys.length > 1 ? `keys[${i}]: ` : '';
    if (typeof k !== 'object' || k === null) {
      out.push(`${prefix}not a JWK object`);
      return;
    }
    const problem = publicJwkProblem(k);
    if (problem) out.push(prefix + problem);
  });
  return out;
}

function staticKeys(keys: JWK[]): ClientKeys {
  const local = createLocalJWKSet({ keys });
  const ring = new KeyRing({ keys }, SIGNING_ALGORITHMS);
  return {
    resolver: local,
    keyRing: () => ring,
    afterUnknownKey: () => ring,
    currentKeys: () => Promise.resolve(keys),
    staticKeys: keys,
  };
}

const JWKS_COOLDOWN_MS = 30_000;

function remoteKeys(uri: string, options: ClientKeyOptions): ClientKeys {
  const remote = createRemoteJWKSet(new URL(uri), {
    timeoutDuration: 5000,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: 300_000,
    ...(options.fetch ? { [customFetch]: options.fetch } : {}),
  });
  // The resolver (request objects) can refetch the set too, unseen here: the ring is made again from
  // the set jose holds at least once per cooldown, so a key the client withdrew stops verifying as
  // soon as either path has seen the new set.
  let ring: KeyRing | undefined;
  let madeAt = 0;
  const remake = (): KeyRing => {
    ring = new KeyRing(remote.jwks() ?? { keys: [] }, SIGNING_ALGORITHMS);
    madeAt = Date.now();
    return ring;
  };
  const current = async (): Promise<KeyRing> => {
    if (!remote.fresh) await remote.reload();
    return remake();
  };
  return {
    resolver: remote,
    keyRing: () =>
      ring !== undefined && remote.fresh && Date.now() - madeAt < JWKS_COOLDOWN_MS ? ring : current(),
    async afterUnknownKey() {
      if (!remote.coolingDown) await remote.reload();
      return remake();
    },
    staticKeys: undefined,
    async currentKeys() {
      if (!remote.fresh) await remote.reload();
      return (remote.jwks()?.keys ?? []).filter((k) => publicJwkProblem(k) === undefined);
    },
  };
}

/**
 * Loads the key material of every client, reporting problems with their key paths. Clients without
 * keys (tls_client_auth, client_secret_jwt) get none.
 */
export function loadClientKeys(
  clients: readonly ClientConfig[],
  problems: ConfigProblem[],
  options: ClientKeyOptions = {},
): Map<string, ClientKeys> {
  const out = new Map<string, ClientKeys>();
  clients.forEach((client, i) => {
    if (client.jwksUri) {
      out.set(client.clientId, remoteKeys(client.jwksUri, options));
      return;
    }
    let set: unknown;
    let at: string;
    if (client.jwks) {
      set = client.jwks;
      at = `clients[${i}].jwks`;
    } else if (client.jwksFile) {
      at = `clients[${i}].jwksFile`;
      try {
        set = JSON.parse(readFileSync(client.jwksFile, 'utf8'));
      } catch (err) {
        problems.push({
          path: at,
          message: `cannot read a JWK Set from ${client.jwksFile}: ${(err as Error).message}`,
        });
        return;
      }
    } else {
      return;
    }
    const found = jwkSetProblems(set);
    for (const message of found) problems.push({ path: at, message });
    if (found.length === 0) out.set(client.clientId, staticKeys((set as { keys: JWK[] }).keys));
  });
  return out;
}
