/**
 * The issuer's defaults, in one place: how long each token, code, request and browser state lives, and
 * what the consent page says about each scope. The configuration schema (config.ts) takes its defaults
 * from here; the flows read only the configured values.
 */
export const LIFETIME_DEFAULTS = {
  accessTokenSeconds: 600,
  refreshTokenSeconds: 30 * 86400,
  idTokenSeconds: 300,
  /** RFC 6749 §4.1.2: short-lived, 10 minutes at most. */
  authorizationCodeSeconds: 60,
  /** RFC 9126 §2.2: the request_uri lives briefly (the endpoint caps it at 600). */
  pushedRequestSeconds: 90,
  cibaRequestSeconds: 120,
  /** CIBA Core §7.3: the minimum polling interval, raised by slow_down. */
  cibaIntervalSeconds: 5,
  /** From the authorization request to the code: sign-in and consent. */
  interactionSeconds: 600,
  /** A working day: the browser sign-in of the authorization and device pages. */
  sessionSeconds: 8 * 3600,
  consentSeconds: 365 * 86400,
  /** JARM §2.1: the response JWT is short-lived (the issuer caps it at 600). */
  authorizationResponseSeconds: 300,
} as const;

/** Shown next to each scope on the consent page; a scope without an entry is shown by name only. */
export const SCOPE_DESCRIPTIONS: Readonly<Record<string, string>> = {
  openid: 'Confirm who you are',
  profile: 'Your name',
  email: 'Your email address',
  accounts: 'Your accounts, balances and transactions',
  payments: 'Make payments from your accounts',
  offline_access: 'Keep access while you are away',
};

/**
 * Limits on what one client or one guesser can make the issuer do. A user's phone is the resource push
 * bombing exhausts (MFA fatigue), so pending CIBA requests are capped per user and per client, and the
 * backchannel endpoint is rate limited per client. Sign-in and user_code guessing follow NIST SP 800-63B
 * §5.2.2: a per-user limit with short lockouts (a victim cannot be locked out for long) and a stricter
 * per-source limit.
 */
export const ABUSE_LIMIT_DEFAULTS = {
  cibaPendingPerUser: 5,
  cibaPendingPerClient: 1000,
  cibaRequestsPerClientPerMinute: 120,
  /** Failed sign-ins (or user_codes) per user before a lockout of `userLockoutSeconds`. */
  failedAttemptsPerUser: 5,
  userLockoutSeconds: 60,
  /** Failed sign-ins (or user_codes) from one source address before a lockout of `sourceLockoutSeconds`. */
  failedAttemptsPerSource: 20,
  sourceLockoutSeconds: 900,
} as const;
