/**
 * Guess limits for every secret an end-user proves (NIST SP 800-63B §5.2.2): the password on every sign-in
 * page (authorization code flow, CIBA device page) and the CIBA `user_code`. Each guess is counted, before
 * the secret is checked, under three subjects, each with its own exponential backoff (`signIn.limits`):
 *
 * - the source and the user together (`source_user`): strict, so one source guessing one account is
 *   slowed down long before it can slow the account down for anyone else;
 * - the user, from any source (`user`): looser, with a wait capped at minutes, against guessing from many
 *   sources; the only limit a victim signing in from elsewhere can meet, and never for longer than the cap;
 * - the source, for any user (`source`): against one source trying one password on many accounts.
 *
 * A guess refused by one subject is taken back from the subjects that counted it, and nothing is checked
 * while any subject waits (the answer is the same whether the secret was right: no oracle). A success
 * resets the user and the pair and takes the guess back from the source (so a source's own successful
 * sign-ins cannot wash out its failures on other accounts). The counters live in the issuer's store, so
 * every replica sees the same waits.
 */
import { Counter } from 'prom-client';
import type { IssuerRuntime } from '../runtime.js';
import { tokenKey, type AttemptStore, type BackoffPolicy } from '../storage/store.js';

/** What a guess is of: `password` at the sign-in pages, `user_code` at the backchannel endpoint. */
export type GuessedSecret = 'password' | 'user_code';
export type SignInLimitName = 'source_user' | 'user' | 'source';
export const SIGN_IN_LIMIT_NAMES: readonly SignInLimitName[] = ['source_user', 'user', 'source'];

export interface SignInLimitSettings {
  perSourceAndUser: { failuresBeforeDelay: number; firstDelaySeconds: number; maxDelaySeconds: number };
  perUser: { failuresBeforeDelay: number; firstDelaySeconds: number; maxDelaySeconds: number };
  perSource: { failuresBeforeDelay: number; firstDelaySeconds: number; maxDelaySeconds: number };
  forgetAfterSeconds: number;
}

interface Counted {
  namespace: string;
  id: string;
  blockedUntilMs: number;
}

/** A guess that may go ahead; report how it went with `succeeded` or `failed`. */
export interface AdmittedGuess {
  admitted: true;
  counted: readonly Counted[];
}

/** A guess refused unchecked: `limit` is waiting until `retryAfterSeconds` from now. */
export interface RefusedGuess {
  admitted: false;
  limit: SignInLimitName;
  retryAfterSeconds: number;
}

export interface SignInLimiter {
  /**
   * Counts one guess of `secret` for `user` (a username, or the user a hint named) from `source` (the
   * client's address at the pages, the client id at the backchannel endpoint).
   */
  admit(secret: GuessedSecret, user: string, source: string): Promise<AdmittedGuess | RefusedGuess>;
  succeeded(guess: AdmittedGuess): Promise<void>;
}

function policyOf(
  limit: { failuresBeforeDelay: number; firstDelaySeconds: number; maxDelaySeconds: number },
  forgetAfterSeconds: number,
): BackoffPolicy {
  return {
    failuresBeforeDelay: limit.failuresBeforeDelay,
    firstDelayMs: limit.firstDelaySeconds * 1000,
    maxDelayMs: limit.maxDelaySeconds * 1000,
    forgetAfterMs: forgetAfterSeconds * 1000,
  };
}

export function createSignInLimiter(opts: {
  store: AttemptStore;
  settings: SignInLimitSettings;
  nowMs: () => number;
  /** Called once per refused guess. */
  limited?: (secret: GuessedSecret, limit: SignInLimitName) => void;
}): SignInLimiter {
  const { store, settings } = opts;
  const policies: Record<SignInLimitName, BackoffPolicy> = {
    source_user: policyOf(settings.perSourceAndUser, settings.forgetAfterSeconds),
    user: policyOf(settings.perUser, settings.forgetAfterSeconds),
    source: policyOf(settings.perSource, settings.forgetAfterSeconds),
  };
  const namespace = (secret: GuessedSecret, limit: SignInLimitName) => `sign-in:${secret}:${limit}`;
  return {
    async admit(secret, user, source) {
      const nowMs = opts.nowMs();
      // Hashed: bounded key sizes whatever was typed, and no usernames or addresses in store keys.
      const ids: Record<SignInLimitName, string> = {
        source_user: tokenKey(JSON.stringify([source, user])),
        user: tokenKey(user),
        source: tokenKey(source),
      };
      const counted: Counted[] = [];
      for (const limit of SIGN_IN_LIMIT_NAMES) {
        const ns = namespace(secret, limit);
        const decision = await store.beginAttempt(ns, ids[limit], nowMs, policies[limit]);
        if (!decision.allowed) {
          // A guess that is not checked counts nowhere: a source waiting on its own limit cannot
          // push the user's count up for everyone else.
          await Promise.all(
            counted.map((c) => store.forgiveAttempt(c.namespace, c.id, c.blockedUntilMs, nowMs)),
          );
          opts.limited?.(secret, limit);
          return {
            admitted: false,
            limit,
            retryAfterSeconds: Math.max(1, Math.ceil((decision.retryAtMs - nowMs) / 1000)),
          };
        }
        counted.push({ namespace: ns, id: ids[limit], blockedUntilMs: decision.blockedUntilMs });
      }
      return { admitted: true, counted };
    },
    async succeeded(guess) {
      const nowMs = opts.nowMs();
      await Promise.all(
        guess.counted.map((c) =>
          c.namespace.endsWith(':source')
            ? store.forgiveAttempt(c.namespace, c.id, c.blockedUntilMs, nowMs)
            : store.resetAttempts(c.namespace, c.id),
        ),
      );
    },
  };
}

const limiters = new WeakMap<IssuerRuntime, SignInLimiter>();

/** The limiter of a running issuer (`signIn.limits`, its store and clock), shared by every page and endpoint. */
export function signInLimiterOf(runtime: IssuerRuntime): SignInLimiter {
  const known = limiters.get(runtime);
  if (known) return known;
  const metric = new Counter({
    name: 'fapi_issuer_sign_in_limited_total',
    help: 'Guesses refused unchecked while a limit waits, by credential (password|user_code) and limit (source_user|user|source).',
    labelNames: ['credential', 'limit'],
    registers: [runtime.metrics.registry],
  });
  const limiter = createSignInLimiter({
    store: runtime.storage.attempts,
    settings: runtime.config.signIn.limits,
    nowMs: () => runtime.clock.nowMs(),
    limited: (credential, limit) => metric.inc({ credential, limit }),
  });
  limiters.set(runtime, limiter);
  return limiter;
}

/** What a refused sign-in page says: plainly that it waits, and until when. */
export function retryMessage(retryAfterSeconds: number): string {
  const wait =
    retryAfterSeconds >= 120
      ? `${Math.ceil(retryAfterSeconds / 60)} minutes`
      : `${retryAfterSeconds} second${retryAfterSeconds === 1 ? '' : 's'}`;
  return `Too many failed sign-in attempts. Sign-in is paused: try again in ${wait}.`;
}

/**
 * The source of a browser's guess: the peer address, IPv4-mapped addresses as IPv4, and IPv6 by its /64
 * (one subscriber is usually given a whole /64, so its addresses are one source).
 */
export function sourceAddress(remoteAddress: string | undefined): string {
  if (remoteAddress === undefined || remoteAddress === '') return 'unknown';
  const address = remoteAddress.replace(/%.*$/, '').toLowerCase();
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.split('::');
  const headParts = head === '' ? [] : head.split(':');
  const tailParts = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [
    ...headParts,
    ...Array<string>(Math.max(0, 8 - headParts.length - tailParts.length)).fill('0'),
    ...tailParts,
  ];
  return `${groups
    .slice(0, 4)
    .map((g) => (Number.parseInt(g, 16) || 0).toString(16))
    .join(':')}::/64`;
}
