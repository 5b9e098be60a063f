/**
 * The issuer's configuration schema (one source of truth, like the gateway's). Cross-field rules that need
 * only the values live here (superRefine); rules that need key material (key sizes, JWKS contents) run at
 * start-up in the issuer and are reported with the same key paths.
 */
import { z } from 'zod';
import { filePath } from '../config/schema-walk.js';
import { DEFAULT_DPOP_NONCE, DEFAULT_DPOP_PROOF_ALGORITHMS, dpopProofShape } from '../dpop/config.js';
import { redisConnectionSchema } from '../redis/config.js';
import {
  ABUSE_LIMIT_DEFAULTS as LIMITS,
  LIFETIME_DEFAULTS as LIFETIMES,
  SCOPE_DESCRIPTIONS,
  SIGN_IN_LIMIT_DEFAULTS as SIGN_IN_LIMITS,
} from './defaults.js';

const port = (d: number) => z.number().int().min(0).max(65535).default(d);
const listener = (p: number) =>
  z.object({ host: z.string().min(1).default('127.0.0.1'), port: port(p) }).strict();

/** JWS algorithms the issuer signs with and accepts from clients (FAPI: PS256 and ES256 only). */
export const SIGNING_ALGORITHMS = ['PS256', 'ES256'] as const;

export const CLIENT_AUTH_METHODS = [
  'private_key_jwt',
  'client_secret_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
] as const;

export const GRANT_TYPES = [
  'client_credentials',
  'authorization_code',
  'refresh_token',
  'urn:openid:params:grant-type:ciba',
] as const;

export const PROFILES = ['fapi2-security', 'fapi1-advanced'] as const;
const cibaLimitDefaults = {
  pendingPerUser: LIMITS.cibaPendingPerUser,
  pendingPerClient: LIMITS.cibaPendingPerClient,
  requestsPerClientPerMinute: LIMITS.cibaRequestsPerClientPerMinute,
};
const cibaLimitsSchema = z
  .object({
    pendingPerUser: z
      .number()
      .int()
      .min(1)
      .max(100)
      .default(cibaLimitDefaults.pendingPerUser)
      .describe('Pending backchannel requests one user may have at once (push bombing).'),
    pendingPerClient: z
      .number()
      .int()
      .min(1)
      .default(cibaLimitDefaults.pendingPerClient)
      .describe('Backchannel requests one client may start per request lifetime (ciba.expiresInSeconds).'),
    requestsPerClientPerMinute: z
      .number()
      .int()
      .min(1)
      .default(cibaLimitDefaults.requestsPerClientPerMinute)
      .describe('Backchannel authentication requests one client may send per minute, refused or not.'),
  })
  .strict()
  .default(cibaLimitDefaults)
  .describe('Caps against push bombing, shared by every replica through the store.');

/** One exponential backoff (store.ts BackoffPolicy), in seconds. */
const backoffSchema = (
  defaults: { failuresBeforeDelay: number; firstDelaySeconds: number; maxDelaySeconds: number },
  maxDelayCap: number,
  subject: string,
) =>
  z
    .object({
      failuresBeforeDelay: z
        .number()
        .int()
        .min(1)
        .max(100)
        .default(defaults.failuresBeforeDelay)
        .describe(`Consecutive failures ${subject} before the next guess must wait.`),
      firstDelaySeconds: z
        .number()
        .int()
        .min(1)
        .max(3600)
        .default(defaults.firstDelaySeconds)
        .describe('The first wait; each further failure doubles it.'),
      maxDelaySeconds: z
        .number()
        .int()
        .min(1)
        .max(maxDelayCap)
        .default(defaults.maxDelaySeconds)
        .describe('The longest wait (the most a failure streak can delay the next guess).'),
    })
    .strict()
    .default({ ...defaults })
    .refine((b) => b.maxDelaySeconds >= b.firstDelaySeconds, {
      message: 'maxDelaySeconds must be at least firstDelaySeconds',
      path: ['maxDelaySeconds'],
    });
const signInLimitsSchema = z
  .object({
    perSourceAndUser: backoffSchema(SIGN_IN_LIMITS.perSourceAndUser, 86400, 'of one source on one user'),
    // NIST SP 800-63B §5.2.2: the user's own wait is short so that guessing cannot lock the user out.
    perUser: backoffSchema(SIGN_IN_LIMITS.perUser, 3600, 'on one user from any source'),
    perSource: backoffSchema(SIGN_IN_LIMITS.perSource, 86400, 'from one source on any user'),
    forgetAfterSeconds: z
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .default(SIGN_IN_LIMITS.forgetAfterSeconds)
      .describe('Failures are forgotten this long after the last wait ends.'),
  })
  .strict()
  .default({
    perSourceAndUser: { ...SIGN_IN_LIMITS.perSourceAndUser },
    perUser: { ...SIGN_IN_LIMITS.perUser },
    perSource: { ...SIGN_IN_LIMITS.perSource },
    forgetAfterSeconds: SIGN_IN_LIMITS.forgetAfterSeconds,
  })
  .describe(
    'Guess limits of passwords (every sign-in page) and CIBA user_codes, with exponential backoff, shared by every replica through the store. The source is the peer address at the pages and the client at the backchannel endpoint.',
  );

export const CIBA_PROFILES = ['fapi-ciba', 'ciba-core'] as const;
export const RESPONSE_MODES = [
  'jwt',
  'query.jwt',
  'fragment.jwt',
  'form_post.jwt',
  'query',
  'fragment',
  'form_post',
] as const;
export const RESPONSE_TYPES = ['code', 'code id_token'] as const;
export const CIBA_DELIVERY_MODES = ['poll', 'ping', 'push'] as const;
/** `jwt`: RFC 9068 JWTs a resource server verifies itself; `opaque`: reference tokens it introspects (RFC 7662). */
export const ACCESS_TOKEN_FORMATS = ['jwt', 'opaque'] as const;

const httpsUrl = z
  .string()
  .url('must be an absolute URL')
  .refine((u) => u.startsWith('https://'), 'must be an https:// URL');

/** `{ ttlSeconds }` within [min, max], defaulting to `seconds` also when the whole key is absent. */
const lifetime = ([min, max]: [number, number], seconds: number, description: string) =>
  z
    .object({ ttlSeconds: z.number().int().min(min).max(max).default(seconds).describe(description) })
    .strict()
    .default({ ttlSeconds: seconds });

const jwksSchema = z
  .object({ keys: z.array(z.record(z.string(), z.unknown())) })
  .describe('An inline JWK Set.');

export const clientSchema = z
  .object({
    clientId: z
      .string()
      .min(1)
      .regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
    clientName: z
      .string()
      .min(1)
      .optional()
      .describe('Shown on the consent and device pages (defaults to clientId).'),
    authMethod: z
      .enum(CLIENT_AUTH_METHODS, {
        error: (issue) =>
          issue.input === 'client_secret_basic' || issue.input === 'client_secret_post'
            ? `${issue.input} is not allowed under the FAPI profiles; use private_key_jwt, tls_client_auth or self_signed_tls_client_auth`
            : `must be one of ${CLIENT_AUTH_METHODS.join(', ')}`,
      })
      .describe('Token endpoint client authentication method.'),
    tlsClientAuthSubjectDn: z
      .string()
      .min(1)
      .optional()
      .describe('tls_client_auth: expected subject DN (RFC 4514).'),
    tlsClientAuthSanDns: z.string().min(1).optional(),
    tlsClientAuthSanUri: z.string().min(1).optional(),
    tlsClientAuthSanIp: z.string().min(1).optional(),
    tlsClientAuthSanEmail: z.string().min(1).optional(),
    jwks: jwksSchema.optional(),
    jwksFile: filePath(
      'A JWK Set file (private_key_jwt, self_signed_tls_client_auth, request objects).',
    ).optional(),
    jwksUri: httpsUrl.optional(),
    clientSecret: z
      .string()
      .min(1)
      .optional()
      .describe('client_secret_jwt only; at least 256 bits of entropy.'),
    tokenEndpointAuthSigningAlg: z.enum(SIGNING_ALGORITHMS).optional(),
    scopes: z.array(z.string().min(1)).default([]),
    grantTypes: z.array(z.enum(GRANT_TYPES)).min(1).default(['client_credentials']),
    profile: z.enum(PROFILES).optional().describe('Overrides the issuer-wide profile for this client.'),
    redirectUris: z.array(z.string().url()).default([]),
    responseTypes: z.array(z.enum(RESPONSE_TYPES)).default(['code']),
    responseModes: z.array(z.enum(RESPONSE_MODES)).optional(),
    authorizationSignedResponseAlg: z.enum(SIGNING_ALGORITHMS).default('PS256'),
    requestObjectSigningAlg: z.enum(SIGNING_ALGORITHMS).default('PS256'),
    requirePushedAuthorizationRequests: z.boolean().optional(),
    idTokenSignedResponseAlg: z.enum(SIGNING_ALGORITHMS).default('PS256'),
    backchannelTokenDeliveryMode: z.enum(CIBA_DELIVERY_MODES).optional(),
    backchannelClientNotificationEndpoint: httpsUrl.optional(),
    backchannelAuthenticationRequestSigningAlg: z.enum(SIGNING_ALGORITHMS).optional(),
    backchannelUserCodeParameter: z.boolean().default(false),
    cibaProfile: z.enum(CIBA_PROFILES).default('fapi-ciba'),
    accessTokenFormat: z
      .enum(ACCESS_TOKEN_FORMATS)
      .optional()
      .describe("Overrides accessTokens.format for this client's access tokens."),
    dpopBoundAccessTokens: z
      .boolean()
      .default(false)
      .describe(
        'RFC 9449 §5.2 dpop_bound_access_tokens: token requests without a DPoP proof are refused. Such a client may use private_key_jwt without a client certificate.',
      ),
    introspection: z
      .boolean()
      .default(false)
      .describe(
        'A resource server (e.g. the gateway): full introspection answers for every token. Other clients learn only about their own tokens (RFC 7662 §4).',
      ),
  })
  .strict()
  .superRefine((c, ctx) => {
    const need = (cond: boolean, path: string, message: string) => {
      if (!cond) ctx.addIssue({ code: 'custom', path: [path], message });
    };
    if (c.authMethod === 'client_secret_jwt')
      need(c.clientSecret !== undefined, 'clientSecret', 'required for client_secret_jwt');
    else
      need(
        c.clientSecret === undefined,
        'clientSecret',
        `only used by client_secret_jwt (this client uses ${c.authMethod})`,
      );
    if (c.authMethod === 'private_key_jwt' || c.authMethod === 'self_signed_tls_client_auth') {
      const sources = [c.jwks, c.jwksFile, c.jwksUri].filter((x) => x !== undefined).length;
      need(sources === 1, 'jwks', `${c.authMethod} needs exactly one of jwks, jwksFile or jwksUri`);
    }
    if (c.authMethod === 'tls_client_auth') {
      const ids = [
        c.tlsClientAuthSubjectDn,
        c.tlsClientAuthSanDns,
        c.tlsClientAuthSanUri,
        c.tlsClientAuthSanIp,
        c.tlsClientAuthSanEmail,
      ];
      need(
        ids.filter((x) => x !== undefined).length === 1,
        'tlsClientAuthSubjectDn',
        'tls_client_auth needs exactly one of tlsClientAuthSubjectDn or tlsClientAuthSan{Dns,Uri,Ip,Email}',
      );
    }
    if (c.grantTypes.includes('authorization_code')) {
      need(
        c.redirectUris.length > 0,
        'redirectUris',
        'the authorization_code grant needs at least one registered redirect URI',
      );
    }
    if (c.grantTypes.includes('urn:openid:params:grant-type:ciba')) {
      need(
        c.backchannelTokenDeliveryMode !== undefined,
        'backchannelTokenDeliveryMode',
        'required for the CIBA grant (poll, ping or push)',
      );
      if (c.backchannelTokenDeliveryMode === 'ping' || c.backchannelTokenDeliveryMode === 'push') {
        need(
          c.backchannelClientNotificationEndpoint !== undefined,
          'backchannelClientNotificationEndpoint',
          `required for ${c.backchannelTokenDeliveryMode} mode`,
        );
      }
      need(
        c.scopes.includes('openid'),
        'scopes',
        'the CIBA grant is an OpenID Connect flow: list openid in scopes',
      );
      // FAPI-CIBA §5.2.2: push mode bypasses the token endpoint where tokens get bound.
      need(
        !(c.backchannelTokenDeliveryMode === 'push' && c.cibaProfile === 'fapi-ciba'),
        'backchannelTokenDeliveryMode',
        'push mode is not allowed under the FAPI-CIBA profile (§5.2.2); use poll or ping, or set cibaProfile: ciba-core',
      );
    }
  });

const userSchema = z
  .object({
    username: z.string().min(1),
    password: z.string().min(1).describe('Development users only; compared in constant time.'),
    claims: z.record(z.string(), z.unknown()).default({}),
    acr: z.string().min(1).optional(),
    userCode: z
      .string()
      .min(1)
      .optional()
      .describe(
        'CIBA user_code: a secret the user gives the consumption device (clients with backchannelUserCodeParameter).',
      ),
  })
  .strict();

export const issuerConfigSchema = z
  .object({
    issuer: httpsUrl.describe('The `iss` value and public base URL (no trailing slash).'),
    listen: listener(8444)
      .default({ host: '127.0.0.1', port: 8444 })
      .describe('HTTPS listener (no client certificate requested).'),
    mtls: listener(8445)
      .extend({
        baseUrl: httpsUrl
          .optional()
          .describe('Public base URL of the mTLS listener (mtls_endpoint_aliases).'),
      })
      .optional()
      .describe(
        'Listener that requests client certificates; advertised as mtls_endpoint_aliases (RFC 8705 §5).',
      ),
    admin: listener(9465).optional().describe('Plain-HTTP /metrics, /healthz, /readyz.'),
    tls: z
      .object({
        cert: filePath('Server certificate chain (PEM).'),
        key: filePath('Server private key (PEM).'),
        clientCa: filePath('PEM bundle of CAs trusted for tls_client_auth client certificates.'),
        handshakeTimeoutMs: z
          .number()
          .int()
          .min(100)
          .max(120000)
          .default(10000)
          .describe(
            'A client must begin its TLS handshake within this time of connecting and finish it within this time of beginning it; otherwise the connection is closed and counted (reason handshake_timeout).',
          ),
      })
      .strict(),
    limits: z
      .object({
        maxConnections: z
          .number()
          .int()
          .min(0)
          .max(1000000)
          .default(4096)
          .describe(
            'Open client connections per listener, TLS handshakes included; more are closed on accept and counted (0: no cap).',
          ),
      })
      .strict()
      .default({ maxConnections: 4096 })
      .describe('Connection limits.'),
    signingKeys: z
      .array(
        z
          .object({
            file: filePath('PKCS#8 PEM private key.'),
            alg: z.enum(SIGNING_ALGORITHMS),
            kid: z.string().min(1),
          })
          .strict(),
      )
      .min(1, 'at least one signing key is required')
      .describe('The first is active for signing; all are published in the JWKS.'),
    profile: z.enum(PROFILES).default('fapi2-security'),
    accessTokens: z
      .object({
        audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
        ttlSeconds: z.number().int().min(30).max(86400).default(LIFETIMES.accessTokenSeconds),
        format: z
          .enum(ACCESS_TOKEN_FORMATS)
          .default('jwt')
          .describe(
            'jwt: RFC 9068 JWTs; opaque: 256-bit reference tokens stored as their hash, answered by introspection.',
          ),
      })
      .strict(),
    refreshTokens: z
      .object({
        ttlSeconds: z.number().int().min(60).default(LIFETIMES.refreshTokenSeconds),
      })
      .strict()
      .default({ ttlSeconds: LIFETIMES.refreshTokenSeconds }),
    idTokens: z
      .object({ ttlSeconds: z.number().int().min(30).max(3600).default(LIFETIMES.idTokenSeconds) })
      .strict()
      .default({ ttlSeconds: LIFETIMES.idTokenSeconds }),
    authorizationCodes: z
      .object({
        ttlSeconds: z.number().int().min(10).max(600).default(LIFETIMES.authorizationCodeSeconds),
      })
      .strict()
      .default({ ttlSeconds: LIFETIMES.authorizationCodeSeconds }),
    par: z
      .object({ ttlSeconds: z.number().int().min(10).max(600).default(LIFETIMES.pushedRequestSeconds) })
      .strict()
      .default({ ttlSeconds: LIFETIMES.pushedRequestSeconds }),
    interactions: lifetime(
      [60, 3600],
      LIFETIMES.interactionSeconds,
      'How long the user has to sign in and consent before the authorization request expires.',
    ),
    sessions: lifetime(
      [60, 30 * 86400],
      LIFETIMES.sessionSeconds,
      'Browser sign-in sessions of the authorization and CIBA device pages (cookie Max-Age).',
    ),
    consents: lifetime(
      [60, 3 * 365 * 86400],
      LIFETIMES.consentSeconds,
      "How long a user's consent to a client's scopes is remembered.",
    ),
    authorizationResponses: lifetime(
      [10, 600],
      LIFETIMES.authorizationResponseSeconds,
      'Lifetime of JARM response JWTs (JARM §2.1).',
    ),
    scopeDescriptions: z
      .record(z.string().min(1), z.string().min(1))
      .default({ ...SCOPE_DESCRIPTIONS })
      .describe('Shown next to each scope on the consent page; a scope without one is shown by name.'),
    clientAssertions: z
      .object({
        maxLifetimeSeconds: z.number().int().min(10).max(3600).default(300),
        clockSkewSeconds: z.number().int().min(0).max(120).default(30),
      })
      .strict()
      .default({ maxLifetimeSeconds: 300, clockSkewSeconds: 30 }),
    ciba: z
      .object({
        expiresInSeconds: z.number().int().min(10).max(3600).default(LIFETIMES.cibaRequestSeconds),
        intervalSeconds: z.number().int().min(1).max(60).default(LIFETIMES.cibaIntervalSeconds),
        devicePath: z
          .string()
          .regex(/^\/[A-Za-z0-9/_-]*$/)
          .default('/device'),
        notificationCa: filePath(
          "PEM CA bundle trusted for clients' ping/push notification endpoints (default: the system CAs).",
        ).optional(),
        limits: cibaLimitsSchema,
      })
      .strict()
      .default({
        expiresInSeconds: LIFETIMES.cibaRequestSeconds,
        intervalSeconds: LIFETIMES.cibaIntervalSeconds,
        devicePath: '/device',
        limits: cibaLimitDefaults,
      }),
    signIn: z
      .object({ limits: signInLimitsSchema })
      .strict()
      .default({
        limits: {
          perSourceAndUser: { ...SIGN_IN_LIMITS.perSourceAndUser },
          perUser: { ...SIGN_IN_LIMITS.perUser },
          perSource: { ...SIGN_IN_LIMITS.perSource },
          forgetAfterSeconds: SIGN_IN_LIMITS.forgetAfterSeconds,
        },
      })
      .describe('End-user sign-in at the authorization and CIBA device pages.'),
    dpop: z
      .object(dpopProofShape('dpop_signing_alg_values_supported in the metadata'))
      .strict()
      .default({
        algorithms: DEFAULT_DPOP_PROOF_ALGORITHMS,
        iatWindowSeconds: 60,
        nonce: DEFAULT_DPOP_NONCE,
      })
      .describe('DPoP-bound access tokens at the token, PAR and userinfo endpoints (RFC 9449).'),
    storage: z
      .object({
        type: z
          .enum(['memory', 'redis'])
          .default('memory')
          .describe('memory: one process only; redis: shared by every replica (needed with more than one).'),
        redis: redisConnectionSchema.optional(),
      })
      .strict()
      .default({ type: 'memory' })
      .describe('Where codes, PAR requests, grants, refresh tokens, replay ids and CIBA requests live.'),
    users: z.array(userSchema).default([]),
    clients: z.array(clientSchema).default([]),
    logging: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    c.clients.forEach((client, i) => {
      if (seen.has(client.clientId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['clients', i, 'clientId'],
          message: `duplicate clientId (also clients[${seen.get(client.clientId)}])`,
        });
      }
      seen.set(client.clientId, i);
    });
    const users = new Set<string>();
    c.users.forEach((u, i) => {
      if (users.has(u.username))
        ctx.addIssue({ code: 'custom', path: ['users', i, 'username'], message: 'duplicate username' });
      users.add(u.username);
    });
    const kids = new Set<string>();
    c.signingKeys.forEach((k, i) => {
      if (kids.has(k.kid))
        ctx.addIssue({ code: 'custom', path: ['signingKeys', i, 'kid'], message: 'duplicate kid' });
      kids.add(k.kid);
    });
    if (c.storage.type === 'redis' && !c.storage.redis) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'redis', 'url'],
        message: `required when storage.type is redis (or set ${ISSUER_ENV_PREFIX}STORAGE_REDIS_URL)`,
      });
    }
    if (c.storage.type === 'memory' && c.storage.redis) {
      ctx.addIssue({
        code: 'custom',
        path: ['storage', 'type'],
        message:
          'storage.redis is set but storage.type is memory: set storage.type: redis, or remove storage.redis',
      });
    }
    if (c.issuer.endsWith('/'))
      ctx.addIssue({ code: 'custom', path: ['issuer'], message: 'must not end with /' });
  });

export type IssuerConfig = z.output<typeof issuerConfigSchema>;
export type ClientConfig = z.output<typeof clientSchema>;
export type UserConfig = z.output<typeof userSchema>;

/** Environment overrides for the issuer: `listen.port` -> `FAPI_ISSUER_LISTEN_PORT`. */
export const ISSUER_ENV_PREFIX = 'FAPI_ISSUER_';
