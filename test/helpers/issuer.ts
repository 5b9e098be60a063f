/**
 * A running issuer for tests: the test PKI, a PS256 signing key, and one client per authentication
 * method, on ephemeral ports. Also an HTTPS request function that can present a client certificate,
 * and a client-assertion builder. Tests can pass extra clients and configuration. With
 * FAPI_TEST_ISSUER_STORAGE=redis the issuer stores its state in a shared Redis instead of memory.
 */
import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import https from 'node:https';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { SignJWT, exportJWK, type JWK } from 'jose';
import pino from 'pino';
import type { KeyObject } from 'node:crypto';
import { issuerConfigSchema, type IssuerConfig } from '../../src/issuer/config.js';
import { startIssuer, type IssuerOptions, type RunningIssuer } from '../../src/issuer/server.js';
import { testPki, type TestCredential, type TestPki } from './pki.js';

/** The JSON bodies the issuer answers with (token, error, introspection, discovery). */
export interface OAuthJson {
  error?: string;
  error_description?: string;
  access_token?: string;
  [member: string]: unknown;
}

export interface HttpsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** Parsed JSON body ({} when not JSON). */
  json: OAuthJson;
}

export interface RequestOptions {
  method?: string;
  /** Client certificate to present. */
  credential?: TestCredential;
  headers?: Record<string, string>;
  body?: string | Buffer;
  ca?: string;
  /** The local address to connect from (another 127.x address is another client source). */
  localAddress?: string;
}

/** Assertion message for an expected success: the error description if it failed. */
export function outcome(r: HttpsResponse): string {
  return r.json.error_description ?? `HTTP ${r.status}`;
}

/** An HTTPS request that never reuses connections (each request is a fresh TLS handshake). */
export function httpsRequest(url: string, options: RequestOptions = {}): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = https.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: options.method ?? (options.body !== undefined ? 'POST' : 'GET'),
        headers: options.headers,
        ca: options.ca,
        cert: options.credential?.certPem,
        key: options.credential?.keyPem,
        servername: 'localhost',
        agent: false,
        ...(options.localAddress !== undefined && { localAddress: options.localAddress }),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: OAuthJson = {};
          try {
            json = JSON.parse(text) as OAuthJson;
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

export interface JwtClientKeys {
  privateKey: KeyObject;
  publicJwk: JWK;
}

export async function rsaClientKeys(kid: string, modulusLength = 2048): Promise<JwtClientKeys> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'PS256', use: 'sig' } };
}

export interface AssertionOptions {
  clientId: string;
  audience: string | string[];
  key: KeyObject | Uint8Array;
  alg?: string;
  kid?: string;
  /** Seconds from now (default 60). */
  expiresIn?: number;
  jti?: string;
  iat?: number;
  omit?: ('exp' | 'jti' | 'iss' | 'sub')[];
  claims?: Record<string, unknown>;
  typ?: string;
}

export async function clientAssertion(o: AssertionOptions): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const omit = new Set(o.omit ?? []);
  const jwt = new SignJWT({ ...o.claims })
    .setProtectedHeader({
      alg: o.alg ?? (o.key instanceof Uint8Array ? 'HS256' : 'PS256'),
      ...(o.kid ? { kid: o.kid } : {}),
      ...(o.typ ? { typ: o.typ } : {}),
    })
    .setAudience(o.audience)
    .setIssuedAt(o.iat ?? now);
  if (!omit.has('iss')) jwt.setIssuer(o.clientId);
  if (!omit.has('sub')) jwt.setSubject(o.clientId);
  if (!omit.has('exp')) jwt.setExpirationTime(now + (o.expiresIn ?? 60));
  if (!omit.has('jti')) jwt.setJti(o.jti ?? randomBytes(16).toString('hex'));
  return jwt.sign(o.key);
}

export const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface TestIssuer {
  pki: TestPki;
  issuer: RunningIssuer;
  config: IssuerConfig;
  /** Keys of the `jwt-client` (private_key_jwt). */
  jwtClient: JwtClientKeys;
  /** Secret of the `secret-client` (client_secret_jwt). */
  clientSecret: string;
  /** POST a form to a path of the mTLS (default) or main listener. */
  postForm(
    pathname: string,
    params: Record<string, string>,
    options?: Omit<RequestOptions, 'body'> & { listener?: 'main' | 'mtls' },
  ): Promise<HttpsResponse>;
  get(pathname: string, options?: RequestOptions & { listener?: 'main' | 'mtls' }): Promise<HttpsResponse>;
  close(): Promise<void>;
}

export interface TestIssuerOptions {
  /** Replaces (by clientId) or adds clients; raw config objects, validated by the schema. */
  clients?: Record<string, unknown>[];
  /** Merged over the generated configuration (top-level keys). */
  config?: Record<string, unknown>;
  options?: IssuerOptions;
  /** Use one listener (no `mtls` block). */
  singleListener?: boolean;
}

/** `redis` runs the issuer tests on the Redis store (`npm run test:issuer-redis`); memory otherwise. */
export const TEST_STORAGE_ENV = 'FAPI_TEST_ISSUER_STORAGE';
/** The redis-server the Redis pass shares (scripts/run-tests.mjs starts it). */
export const TEST_REDIS_URL_ENV = 'FAPI_TEST_REDIS_URL';

/**
 * The store a test issuer runs on when its test does not choose one: the same assertions hold on both.
 * Each issuer gets its own key prefix in the shared Redis, so tests never see each other's state.
 */
function testStorage(): Record<string, unknown> | undefined {
  if (process.env[TEST_STORAGE_ENV] !== 'redis') return undefined;
  const url = process.env[TEST_REDIS_URL_ENV];
  if (!url)
    throw new Error(
      `${TEST_STORAGE_ENV}=redis needs ${TEST_REDIS_URL_ENV} (run the tests with npm run test:issuer-redis)`,
    );
  return { type: 'redis', redis: { url, keyPrefix: `test-${randomBytes(6).toString('hex')}:` } };
}

export async function startTestIssuer(opts: TestIssuerOptions = {}): Promise<TestIssuer> {
  const pki = await testPki();
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const signingKeyFile = path.join(pki.dir, `as-signing-${randomBytes(4).toString('hex')}.pem`);
  writeFileSync(signingKeyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const jwtClient = await rsaClientKeys('jwt-client-1');
  const clientSecret = randomBytes(32).toString('base64url');
  // RFC 8705 §2.2.2: the certificate in x5c, next to the key members it must match.
  const selfSignedJwk: JWK = {
    ...(new X509Certificate(pki.selfSigned.der).publicKey.export({ format: 'jwk' }) as JWK),
    x5c: [pki.selfSigned.der.toString('base64')],
  };

  const baseClients: Record<string, unknown>[] = [
    {
      clientId: 'tls-a',
      authMethod: 'tls_client_auth',
      // client-a's subject is encoded CN first, so its RFC 4514 form lists O first (RFC 4514 §2.1).
      tlsClientAuthSubjectDn: 'O=Acme,CN=client-a',
      scopes: ['accounts', 'payments'],
    },
    {
      clientId: 'tls-b',
      authMethod: 'tls_client_auth',
      tlsClientAuthSubjectDn: 'O=Other,CN=client-b',
      scopes: ['accounts'],
    },
    {
      clientId: 'self-signed',
      authMethod: 'self_signed_tls_client_auth',
      jwks: { keys: [selfSignedJwk] },
      scopes: ['accounts'],
    },
    {
      clientId: 'jwt-client',
      authMethod: 'private_key_jwt',
      jwks: { keys: [jwtClient.publicJwk] },
      scopes: ['accounts', 'payments'],
    },
    { clientId: 'secret-client', authMethod: 'client_secret_jwt', clientSecret, scopes: ['accounts'] },
  ];
  const extra = opts.clients ?? [];
  const clients = [...baseClients.filter((c) => !extra.some((e) => e.clientId === c.clientId)), ...extra];
  const raw: Record<string, unknown> = {
    issuer: 'https://localhost:0',
    listen: { host: '127.0.0.1', port: 0 },
    ...(opts.singleListener ? {} : { mtls: { host: '127.0.0.1', port: 0 } }),
    admin: { host: '127.0.0.1', port: 0 },
    tls: { cert: pki.server.certFile, key: pki.server.keyFile, clientCa: pki.ca.certFile },
    signingKeys: [{ file: signingKeyFile, alg: 'PS256', kid: 'test-1' }],
    accessTokens: { audience: 'https://api.example', ttlSeconds: 300 },
    clients,
    logging: { level: 'silent' },
    ...opts.config,
  };
  const storage = opts.config?.storage ?? (opts.options?.storage ? undefined : testStorage());
  const config = issuerConfigSchema.parse({ ...raw, ...(storage && { storage }) });
  const issuer = await startIssuer(config, { logger: pino({ level: 'silent' }), ...opts.options });
  // The shared test Redis's connection is opened in the background; a test's first request must not race
  // it. A test that configures its own storage decides itself when Redis is there (it may be away on purpose).
  const sharedRedis = opts.config?.storage === undefined && storage !== undefined;
  if (sharedRedis && issuer.runtime.redis && !(await issuer.runtime.redis.whenAvailable(20_000)))
    throw new Error(`the test Redis (${String(process.env[TEST_REDIS_URL_ENV])}) is not reachable`);
  const base = (listener: 'main' | 'mtls' | undefined) => (listener === 'main' ? issuer.url : issuer.mtlsUrl);
  return {
    pki,
    issuer,
    config,
    jwtClient,
    clientSecret,
    postForm(pathname, params, options = {}) {
      return httpsRequest(base(options.listener) + pathname, {
        ca: pki.ca.certPem,
        ...options,
        method: options.method ?? 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...options.headers },
        body: new URLSearchParams(params).toString(),
      });
    },
    get(pathname, options = {}) {
      return httpsRequest(base(options.listener ?? 'main') + pathname, { ca: pki.ca.certPem, ...options });
    },
    close: () => issuer.close(),
  };
}
