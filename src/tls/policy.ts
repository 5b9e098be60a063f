/**
 * The FAPI TLS policy of every listener that speaks to API clients (the gateway and both issuer listeners).
 *
 * - TLS 1.2 or 1.3 only (FAPI 2 Security Profile §5.2.1, FAPI 1 Advanced §8.5-1).
 * - Under TLS 1.2, only ECDHE/DHE with AES-GCM (forward secrecy and AEAD). The suites offered follow the
 *   server key: ECDHE-RSA and DHE-RSA (FAPI 1 Advanced §8.5-2) with an RSA key, ECDHE-ECDSA (FAPI 2
 *   Security Profile §5.2.1 via RFC 9325 §4.2) with an EC key; any other key is refused at start, so a
 *   listener can never be configured into refusing every TLS 1.2 client. TLS 1.3 suites are all AEAD.
 * - No renegotiation: a certificate obtained by renegotiation could differ from the one the connection
 *   was checked with (RFC 8705 §3 binds tokens to the certificate of the connection).
 * - Time limits: the ClientHello must begin within `handshakeTimeoutMs` and the handshake finish within
 *   `handshakeTimeoutMs` of it (a connection that never sends a ClientHello costs memory and a file
 *   descriptor, and is invisible until it is counted; connection-guard.ts), request
 *   headers within 10 s, keep-alive connections idle at most 5 s.
 */
import { constants, createPrivateKey, type KeyObject } from 'node:crypto';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { ServerOptions } from 'node:https';

export type ServerKeyKind = 'rsa' | 'ec';

export const TLS12_CIPHERS: Record<ServerKeyKind, readonly string[]> = {
  rsa: [
    'ECDHE-RSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'DHE-RSA-AES128-GCM-SHA256',
    'DHE-RSA-AES256-GCM-SHA384',
  ],
  ec: ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
};
export const TLS13_CIPHERSUITES = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
] as const;

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const HEADERS_TIMEOUT_MS = 10_000;
export const KEEP_ALIVE_TIMEOUT_MS = 5_000;
export const DEFAULT_SESSION_TIMEOUT_SECONDS = 300;

/** A server key the policy cannot serve; `key` is the configuration key to name (e.g. `tls.key`). */
export class TlsPolicyError extends Error {
  constructor(
    readonly key: string,
    readonly problem: string,
  ) {
    super(`${key}: ${problem}`);
    this.name = 'TlsPolicyError';
  }
}

const KEY_TYPE_NAMES: Record<string, string> = {
  ed25519: 'an Ed25519 key',
  ed448: 'an Ed448 key',
  'rsa-pss': 'an RSA-PSS key',
  dsa: 'a DSA key',
};
const EC_SERVER_CURVES = new Set(['prime256v1', 'secp384r1', 'secp521r1']);

/** Which TLS 1.2 suites a server key can use; anything FAPI offers no TLS 1.2 suite for is refused. */
export function serverKeyKind(key: KeyObject | string | Buffer, configKey = 'tls.key'): ServerKeyKind {
  let k: KeyObject;
  try {
    k = typeof key === 'string' || Buffer.isBuffer(key) ? createPrivateKey(key) : key;
  } catch (err) {
    throw new TlsPolicyError(configKey, `not a readable private key (${(err as Error).message})`);
  }
  const details = k.asymmetricKeyDetails ?? {};
  const type = k.asymmetricKeyType ?? 'unknown';
  let what: string;
  if (type === 'rsa') {
    const bits = details.modulusLength ?? 0;
    if (bits >= 2048) return 'rsa';
    what = `an RSA key of ${bits} bits`;
  } else if (type === 'ec') {
    const curve = details.namedCurve ?? 'an unknown curve';
    if (EC_SERVER_CURVES.has(curve)) return 'ec';
    what = `an EC key on ${curve}`;
  } else {
    what = `${KEY_TYPE_NAMES[type] ?? `a ${type} key`}`;
  }
  throw new TlsPolicyError(
    configKey,
    `${what}, which the FAPI TLS policy cannot serve: use an RSA (at least 2048 bits) or ECDSA P-256/P-384 key`,
  );
}

export interface ServerTlsMaterial {
  certPem: string | Buffer;
  keyPem: string | Buffer;
  /** CAs trusted for client certificates; omit on a listener that asks for none. */
  clientCaPem?: string | Buffer;
}

/** The secure-context part of the policy (also what `setSecureContext` takes on a certificate reload). */
export function fapiSecureContextOptions(
  material: ServerTlsMaterial,
  sessionTimeoutSeconds: number = DEFAULT_SESSION_TIMEOUT_SECONDS,
): SecureContextOptions {
  const kind = serverKeyKind(material.keyPem);
  return {
    cert: material.certPem,
    key: material.keyPem,
    ...(material.clientCaPem === undefined ? {} : { ca: material.clientCaPem }),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    // Node splits one list: names starting with TLS_ configure TLS 1.3, the rest TLS 1.2. OpenSSL's
    // security level 1 on every Node (Node 20's default; Node 24's OpenSSL defaults to 2): the FAPI key
    // sizes are then decided by client-certificate-rules.ts over the whole verified chain, which is
    // stricter than level 2 and names the refusal (weak_key), where OpenSSL's level 2 refusal of a small key
    // reaches Node only as an unspecified verification error.
    ciphers: [...TLS13_CIPHERSUITES, ...TLS12_CIPHERS[kind], '@SECLEVEL=1'].join(':'),
    honorCipherOrder: true,
    dhparam: kind === 'rsa' ? 'auto' : undefined,
    sessionTimeout: sessionTimeoutSeconds,
    secureOptions: constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_CIPHER_SERVER_PREFERENCE,
  };
}

/**
 * How a listener asks for client certificates (RFC 8705 §5: in the initial handshake, never by
 * renegotiation). `required`: no certificate, or one not chaining to the CA, fails the handshake.
 * `requested`: a certificate is asked for; none is fine. `verified-if-presented` additionally fails the
 * handshake when one is presented that does not chain. `none`: not asked for.
 */
export type ClientCertificateMode = 'required' | 'verified-if-presented' | 'requested' | 'none';

export interface FapiServerOptions {
  clientCertificate: ClientCertificateMode;
  handshakeTimeoutMs?: number;
  sessionTimeoutSeconds?: number;
  /** A whole request must arrive within this (slow-body bound). */
  requestTimeoutMs: number;
}

export function fapiServerOptions(
  material: ServerTlsMaterial,
  o: FapiServerOptions,
): ServerOptions & TlsOptions {
  const asks = o.clientCertificate !== 'none';
  return {
    ...fapiSecureContextOptions(
      asks ? material : { ...material, clientCaPem: undefined },
      o.sessionTimeoutSeconds,
    ),
    requestCert: asks,
    rejectUnauthorized: o.clientCertificate === 'required',
    handshakeTimeout: o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS,
    headersTimeout: HEADERS_TIMEOUT_MS,
    requestTimeout: o.requestTimeoutMs,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
  };
}
