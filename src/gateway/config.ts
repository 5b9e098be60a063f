/**
 * The gateway's configuration: one zod schema validates files at start (and on reload), produces the
 * Helm chart's values.schema.json and docs/configuration.md. Keys are documented here, where
 * they are defined; `describe()` texts are what users read in error messages and docs.
 */
import { z } from 'zod';
import { filePath } from '../config/schema-walk.js';
import { replayStoreSchema } from '../redis/config.js';
import { parseCidr } from '../net/cidr.js';
import { DEFAULT_DPOP_NONCE, DEFAULT_DPOP_PROOF_ALGORITHMS, dpopProofShape } from '../dpop/config.js';

const port = (d: number) => z.number().int().min(0).max(65535).default(d);
const host = (d: string) => z.string().min(1).default(d);

/** Asymmetric JWS algorithms only: `none` and HMAC are never accepted for access tokens (RFC 8725 §3.1). */
export const ACCESS_TOKEN_ALGORITHMS = [
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'RS256',
  'EdDSA',
] as const;

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

const httpsUrl = z
  .string()
  .url('must be an absolute URL')
  .refine(
    (u) => u.startsWith('https://'),
    'must be an https:// URL (tokens and keys are never fetched over plain HTTP)',
  );

const httpsOrigin = z
  .string()
  .regex(
    /^https:\/\/[^/?#@\s]+$/,
    'must be an https origin: https://host or https://host:port, no path (e.g. https://api.bank.example)',
  );

export const dpopSchema = z
  .object({
    ...dpopProofShape('announced in the challenge as algs='),
    replayStore: replayStoreSchema.prefault({ type: 'memory' }),
    publicOrigins: z
      .array(httpsOrigin)
      .min(1)
      .optional()
      .describe(
        "Origins a proof's htu may name, instead of https:// plus the request's Host (a load balancer that rewrites Host).",
      ),
  })
  .strict();

export const routeSchema = z
  .object({
    path: z
      .string()
      .regex(/^\/[^?#]*$/, 'must start with / and contain no query or fragment')
      .describe(
        'Path prefix, matched on whole path segments (`/accounts` matches `/accounts/1`, not `/accountsX`).',
      ),
    methods: z
      .array(z.enum(HTTP_METHODS))
      .min(1)
      .default(['GET'])
      .describe('Allowed methods; others get 405 with an Allow header.'),
    scopes: z
      .array(z.string().min(1))
      .default([])
      .describe('Scopes the token must all carry; missing -> 403 insufficient_scope.'),
    binding: z
      .enum(['mtls', 'dpop', 'any'])
      .default('mtls')
      .describe(
        'What the token must be bound to: mtls (the client certificate, RFC 8705), dpop (a DPoP key, RFC 9449) or any (either).',
      ),
    mode: z
      .enum(['enforce', 'report-only'])
      .default('enforce')
      .describe(
        'enforce refuses failing calls; report-only forwards them without identity headers and counts them in fapi_gateway_would_reject_total (route, path, size and TLS refusals always apply).',
      ),
    maxConcurrent: z
      .number()
      .int()
      .min(0)
      .max(65536)
      .optional()
      .describe(
        'Requests of this route with the upstream at once, per process; more get 503 route_concurrency_limit at once, never forwarded. Default: half of upstream.maxSockets (rounded up), so one route that stops answering cannot take the whole pool; 0: no limit.',
      ),
  })
  .strict();

/** Client authentication methods at the introspection endpoint (RFC 7662 §2.1). */
export const INTROSPECTION_AUTH_METHODS = [
  'tls_client_auth',
  'private_key_jwt',
  'client_secret_basic',
] as const;
/** Which `tokens.introspection.auth` keys each method uses; any other key set is a mistake worth naming. */
const INTROSPECTION_AUTH_KEYS = {
  tls_client_auth: { required: ['cert', 'key'], allowed: ['cert', 'key'] },
  private_key_jwt: { required: ['keyFile'], allowed: ['keyFile', 'alg', 'kid', 'audience'] },
  client_secret_basic: { required: ['clientSecret'], allowed: ['clientSecret'] },
} as const;

export const introspectionSchema = z
  .object({
    endpoint: httpsUrl.describe(
      "The authorization server's RFC 7662 introspection endpoint (HTTPS; system CAs, NODE_EXTRA_CA_CERTS and tokens.jwksCa are trusted).",
    ),
    clientId: z.string().min(1).describe('The client_id the gateway authenticates as at the endpoint.'),
    auth: z
      .object({
        method: z
          .enum(INTROSPECTION_AUTH_METHODS)
          .describe(
            'tls_client_auth (RFC 8705 §2, cert + key), private_key_jwt (RFC 7523, keyFile + alg), or client_secret_basic (not a FAPI method: a warning is logged at start).',
          ),
        cert: filePath(
          "tls_client_auth: the gateway's client certificate (PEM) for the endpoint.",
        ).optional(),
        key: filePath('tls_client_auth: the private key (PEM) of that certificate.').optional(),
        keyFile: filePath(
          'private_key_jwt: the private key (PEM, PKCS#8 or SEC1/PKCS#1) signing the client assertion.',
        ).optional(),
        alg: z
          .enum(['PS256', 'ES256'])
          .optional()
          .describe(
            "private_key_jwt: the assertion's JWS algorithm (FAPI 2: PS256 or ES256); default PS256.",
          ),
        kid: z.string().min(1).optional().describe("private_key_jwt: the assertion's kid header."),
        audience: z
          .string()
          .min(1)
          .optional()
          .describe("private_key_jwt: the assertion's aud; default tokens.issuer."),
        clientSecret: z
          .string()
          .min(1)
          .optional()
          .describe(
            'client_secret_basic: the client secret (prefer the environment variable over the file).',
          ),
      })
      .strict()
      .superRefine((auth, ctx) => {
        const rule = INTROSPECTION_AUTH_KEYS[auth.method];
        for (const key of rule.required) {
          if (auth[key] === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `required with method ${auth.method}`,
            });
          }
        }
        for (const key of ['cert', 'key', 'keyFile', 'alg', 'kid', 'audience', 'clientSecret'] as const) {
          if (auth[key] !== undefined && !(rule.allowed as readonly string[]).includes(key)) {
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: `not used with method ${auth.method}: remove it or change auth.method`,
            });
          }
        }
      })
      .describe('How the gateway authenticates to the introspection endpoint.'),
    cacheMaxSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(60)
      .describe(
        'Active answers are cached until min(exp, now + this): a revocation at the authorization server takes effect within this many seconds (0: no cache).',
      ),
    negativeCacheSeconds: z
      .number()
      .int()
      .min(0)
      .max(3600)
      .default(10)
      .describe(
        'Refused tokens (active false, expired, foreign iss/aud, unbound) are remembered this long (0: off).',
      ),
    timeoutMs: z
      .number()
      .int()
      .min(50)
      .max(60000)
      .default(2000)
      .describe(
        'Total deadline of one introspection call (connect, headers and body); past it the request gets 503.',
      ),
    introspectJwts: z
      .boolean()
      .default(false)
      .describe(
        'true: at+jwt access tokens are verified locally AND introspected (revocation); false: JWTs are never introspected.',
      ),
  })
  .strict()
  .describe(
    'RFC 7662 introspection of access tokens that are not at+jwt JWTs (opaque tokens); absent: such tokens get 401 invalid_token.',
  );

export const gatewayConfigSchema = z
  .object({
    listen: z
      .object({ host: host('0.0.0.0'), port: port(8443) })
      .strict()
      .default({ host: '0.0.0.0', port: 8443 })
      .describe('The mutual-TLS listener API clients connect to.'),
    admin: z
      .object({
        host: host('127.0.0.1').describe(
          'Loopback by default: the admin listener has no TLS. The Helm chart binds it to the pod (0.0.0.0) behind a NetworkPolicy.',
        ),
        port: port(9464),
        metricsAuth: z
          .object({
            bearerTokenFile: filePath('File holding the bearer token /metrics requires.').optional(),
            basic: z
              .object({
                username: z.string().min(1),
                passwordFile: filePath('File holding the password /metrics requires.'),
              })
              .strict()
              .optional(),
          })
          .strict()
          .refine(
            (a) => (a.bearerTokenFile === undefined) !== (a.basic === undefined),
            'set exactly one of bearerTokenFile or basic',
          )
          .optional()
          .describe('Credentials /metrics requires (probes stay open); off when absent.'),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 9464 })
      .describe('Plain-HTTP admin listener: /metrics, /healthz, /readyz.'),
    tls: z
      .object({
        cert: filePath('Server certificate chain (PEM), leaf first.'),
        key: filePath('Server private key (PEM).'),
        clientCa: filePath('PEM bundle of the CAs trusted for client certificates.'),
        sessionTimeoutSeconds: z
          .number()
          .int()
          .min(0)
          .max(86400)
          .default(300)
          .describe('TLS session resumption lifetime.'),
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
    trustedProxies: z
      .object({
        cidrs: z
          .array(
            z.string().superRefine((cidr, ctx) => {
              try {
                parseCidr(cidr);
              } catch (err) {
                ctx.addIssue({ code: 'custom', message: (err as Error).message });
              }
            }),
          )
          .min(1, 'list at least one address range, e.g. [10.0.0.0/8, "fd00::/8"]')
          .describe(
            'TCP peers (IPv4/IPv6 ranges or addresses) that terminate TLS for clients and send their certificate in Client-Cert, and optionally its intermediates in Client-Cert-Chain (RFC 9440); ::ffff:-mapped peers match IPv4 ranges.',
          ),
        certificateCacheEntries: z
          .number()
          .int()
          .min(1)
          .max(1000000)
          .default(10000)
          .describe(
            'Distinct Client-Cert values (with their Client-Cert-Chain) kept parsed and validated (least recently used are dropped).',
          ),
      })
      .strict()
      .optional()
      .describe(
        'Client certificates from a TLS-terminating load balancer; absent: every client connects directly. Changes need a restart.',
      ),
    upstream: z
      .object({
        url: z
          .string()
          .url('must be an absolute http:// or https:// URL')
          .refine((u) => /^https?:\/\//.test(u), 'must be an http:// or https:// URL')
          .describe('The protected (legacy) API.'),
        timeoutMs: z
          .number()
          .int()
          .min(1)
          .max(600000)
          .default(30000)
          .describe('No upstream answer in time -> 504.'),
        ca: filePath('PEM CA bundle for an https upstream (system CAs if absent).').optional(),
        maxSockets: z
          .number()
          .int()
          .min(1)
          .max(65536)
          .default(1024)
          .describe(
            "Keep-alive connections per gateway process, opened as the load needs them (Envoy's default circuit breaker allows as many). A route may use half unless routes[].maxConcurrent says otherwise, so by default up to 512 concurrent requests per route and process are forwarded.",
          ),
      })
      .strict(),
    tokens: z
      .object({
        issuer: z.string().min(1).describe('Exact `iss` value required in access tokens.'),
        audience: z
          .union([z.string().min(1), z.array(z.string().min(1)).min(1)])
          .describe("The token's `aud` must contain one of these."),
        jwksUri: httpsUrl
          .describe(
            "Issuer's JWKS for JWT access tokens (HTTPS; system CAs plus NODE_EXTRA_CA_CERTS are trusted). At least one of jwksUri / introspection is required.",
          )
          .optional(),
        algorithms: z
          .array(z.enum(ACCESS_TOKEN_ALGORITHMS))
          .min(1)
          .default(['PS256', 'ES256'])
          .describe('Allowed JWS algorithms (never none or HMAC).'),
        clockSkewSeconds: z.number().int().min(0).max(120).default(30).describe('Tolerance for exp/nbf/iat.'),
        jwksCooldownSeconds: z
          .number()
          .int()
          .min(0)
          .max(3600)
          .default(30)
          .describe('At most one JWKS refetch per cooldown on an unknown kid.'),
        jwksCa: filePath(
          'PEM CA bundle trusted for jwksUri in addition to the system CAs and NODE_EXTRA_CA_CERTS.',
        ).optional(),
        cacheMaxEntries: z
          .number()
          .int()
          .min(0)
          .max(1000000)
          .default(10000)
          .describe(
            'Verified tokens remembered until their exp, so repeated tokens skip signature checks (0: off).',
          ),
        jwksRefreshSeconds: z
          .number()
          .int()
          .min(10)
          .max(86400)
          .default(300)
          .describe('Background JWKS refresh period; cached keys keep serving while the endpoint is down.'),
        introspection: introspectionSchema.optional(),
      })
      .strict()
      .superRefine((tokens, ctx) => {
        // Read as unknown: a verifier of opaque tokens may add its own key next to jwksUri.
        const introspection = (tokens as Record<string, unknown>).introspection;
        if (tokens.jwksUri === undefined && introspection === undefined) {
          ctx.addIssue({
            code: 'custom',
            path: ['jwksUri'],
            message:
              "at least one of tokens.jwksUri / tokens.introspection is required (set jwksUri to the issuer's JWKS URL)",
          });
        }
      }),
    forwardHeaders: z
      .object({
        clientId: z
          .string()
          .min(1)
          .default('X-Authenticated-Client-Id')
          .describe("Header carrying the token's client_id."),
        subject: z
          .string()
          .min(1)
          .default('X-Authenticated-Subject')
          .describe("Header carrying the token's sub."),
        scope: z
          .string()
          .min(1)
          .default('X-Authenticated-Scope')
          .describe("Header carrying the token's scope."),
      })
      .strict()
      .default({
        clientId: 'X-Authenticated-Client-Id',
        subject: 'X-Authenticated-Subject',
        scope: 'X-Authenticated-Scope',
      }),
    routes: z
      .array(routeSchema)
      .min(1, 'at least one route is required')
      .describe('First match wins; no match -> 404.'),
    dpop: dpopSchema
      .default({
        algorithms: DEFAULT_DPOP_PROOF_ALGORITHMS,
        iatWindowSeconds: 60,
        nonce: DEFAULT_DPOP_NONCE,
        replayStore: {
          type: 'memory',
          maxEntries: 100_000,
          keyPrefix: 'fapi-gateway:',
          connectTimeoutMs: 2000,
          commandTimeoutMs: 1000,
        },
      })
      .describe('DPoP-bound tokens (RFC 9449), for routes whose binding is dpop or any.'),
    limits: z
      .object({
        formBodyBytes: z
          .number()
          .int()
          .min(1024)
          .max(64 * 1024 * 1024)
          .default(1024 * 1024)
          .describe('Largest form body read to look for an access_token (larger -> 413).'),
        bufferedBodyBytes: z
          .number()
          .int()
          .min(1024 * 1024)
          .max(4 * 1024 * 1024 * 1024)
          .default(32 * 1024 * 1024)
          .describe(
            'All form bodies being read by one process together (beyond -> 503 body_buffer_full): bounds memory spent before authentication.',
          ),
        maxConnections: z
          .number()
          .int()
          .min(0)
          .max(1000000)
          .default(4096)
          .describe(
            'Open client connections per process, TLS handshakes included; more are closed on accept and counted (0: no cap).',
          ),
        clientCertificateBytes: z
          .number()
          .int()
          .min(1024)
          .max(65536)
          .default(5120)
          .describe(
            'Largest client certificate (DER) accepted; larger ones fail the handshake (reason certificate_too_large).',
          ),
      })
      .strict()
      .default({
        formBodyBytes: 1024 * 1024,
        bufferedBodyBytes: 32 * 1024 * 1024,
        maxConnections: 4096,
        clientCertificateBytes: 5120,
      })
      .describe('Request limits.'),
    workers: z
      .union([z.literal('auto'), z.number().int().min(1).max(256)])
      .default(1)
      .describe('Processes sharing the listener: a number, or auto (one per core).'),
    logging: z
      .object({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .strict()
      .default({ level: 'info' }),
    shutdown: z
      .object({
        drainTimeoutMs: z
          .number()
          .int()
          .min(0)
          .max(300000)
          .default(10000)
          .describe(
            'After the grace period, in-flight requests and the first request of connections opened just before get this long; then every connection is closed.',
          ),
        graceSeconds: z
          .number()
          .int()
          .min(0)
          .max(300)
          .default(5)
          .describe(
            'On SIGTERM, /readyz answers 503 and the gateway keeps serving this long (every answer with Connection: close) before it stops accepting, so load balancers stop sending first.',
          ),
      })
      .strict()
      .default({ drainTimeoutMs: 10000, graceSeconds: 5 }),
  })
  .strict()
  .superRefine((config, ctx) => {
    config.routes.forEach((route, i) => {
      const max = route.maxConcurrent;
      if (max !== undefined && max > config.upstream.maxSockets) {
        ctx.addIssue({
          code: 'custom',
          path: ['routes', i, 'maxConcurrent'],
          message: `${max} is more than upstream.maxSockets (${config.upstream.maxSockets}): the route could take the whole upstream pool; lower it, raise upstream.maxSockets, or set 0 for no limit`,
        });
      }
    });
  });

export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type IntrospectionConfig = z.output<typeof introspectionSchema>;
export type DpopConfig = z.output<typeof dpopSchema>;

/** Environment overrides for the gateway use this prefix: `admin.port` -> `FAPI_GATEWAY_ADMIN_PORT`. */
export const GATEWAY_ENV_PREFIX = 'FAPI_GATEWAY_';
