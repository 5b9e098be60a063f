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
 * Limits on what one client can make the issuer do. A user's phone is the resource push bombing exhausts
 * (MFA fatigue), so pending CIBA requests are capped per user and per client, and the backchannel endpoint
 * is rate limited per client.
 */
export const ABUSE_LIMIT_DEFAULTS = {
  cibaPendingPerUser: 5,
  cibaPendingPerClient: 1000,
  cibaRequestsPerClientPerMinute: 120,
} as const;

/**
 * Guessing of passwords and user_codes (NIST SP 800-63B §5.2.2: throttle rather than lock out; at most 100
 * consecutive failures on one account). One source on one account is slowed down after 5 failures, up to
 * an hour between guesses; an account from all sources after 10, capped at 15 minutes (Keycloak's default
 * maximum wait), so at most ~100 guesses a day reach one account and a victim waits at most 15 minutes; one
 * source over all accounts after 50 (shared addresses: NAT, proxies).
 */
export const SIGN_IN_LIMIT_DEFAULTS = {
  perSourceAndUser: { failuresBeforeDelay: 5, firstDelaySeconds: 30, maxDelaySeconds: 3600 },
  perUser: { failuresBeforeDelay: 10, firstDelaySeconds: 30, maxDelaySeconds: 900 },
  perSource: { failuresBeforeDelay: 50, firstDelaySeconds: 30, maxDelaySeconds: 3600 },
  /** Failures are forgotten this long after the last wait ends. */
  forgetAfterSeconds: 24 * 3600,
} as const;
