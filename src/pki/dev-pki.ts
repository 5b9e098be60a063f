/**
 * The development PKI of `fapi-gateway pki init` and the demo: a CA; server certificates for the issuer
 * and the gateway; client certificates for each FAPI client authentication method; the issuer's token
 * signing key; each private_key_jwt client's signing key and JWK Set. Subjects are encoded in the
 * conventional order (O first, CN last), so their RFC 4514 form reads `CN=acme-tls,O=Acme`.
 */
import { X509Certificate, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  createCa,
  issueCertificate,
  loadCa,
  selfSignedCertificate,
  type IssuedCertificate,
} from './certificates.js';

export interface DevPkiOptions {
  /** Extra DNS names (or IP addresses) for the server certificates, besides localhost/127.0.0.1/::1. */
  names?: string[];
  /** Overwrite existing files. */
  force?: boolean;
}

/** Every file `createDevPki` writes, relative to the output folder. */
export const DEV_PKI_FILES = {
  caCert: 'ca.pem',
  caKey: 'ca-key.pem',
  issuerCert: 'issuer.pem',
  issuerKey: 'issuer-key.pem',
  gatewayCert: 'gateway.pem',
  gatewayKey: 'gateway-key.pem',
  issuerSigningKey: 'issuer-signing-key.pem',
  /** tls_client_auth client (CN=acme-tls,O=Acme). */
  acmeTlsCert: 'clients/acme-tls.pem',
  acmeTlsKey: 'clients/acme-tls-key.pem',
  /** A second tls_client_auth client: "another client's certificate" (CN=other-tls,O=Other Corp). */
  otherTlsCert: 'clients/other-tls.pem',
  otherTlsKey: 'clients/other-tls-key.pem',
  /** self_signed_tls_client_auth client: certificate, key and the JWK Set to register. */
  selfSignedCert: 'clients/acme-self-signed.pem',
  selfSignedKey: 'clients/acme-self-signed-key.pem',
  selfSignedJwks: 'clients/acme-self-signed.jwks.json',
  /** private_key_jwt client: assertion signing key, its public JWK Set, and a certificate for binding. */
  jwtSigningKey: 'clients/acme-jwt-signing-key.pem',
  jwtJwks: 'clients/acme-jwt.jwks.json',
  jwtCert: 'clients/acme-jwt.pem',
  jwtKey: 'clients/acme-jwt-key.pem',
  /** The gateway as an introspection client of the issuer (tls_client_auth, CN=fapi-gateway,O=fapi-gateway development). */
  gatewayClientCert: 'clients/fapi-gateway.pem',
  gatewayClientKey: 'clients/fapi-gateway-key.pem',
  /**
   * A DPoP client without any certificate: its private_key_jwt signing key and JWK Set, and the separate
   * key its DPoP proofs are signed with (RFC 9449: the token is bound to this one).
   */
  dpopClientSigningKey: 'clients/acme-dpop-signing-key.pem',
  dpopClientJwks: 'clients/acme-dpop.jwks.json',
  dpopKey: 'clients/acme-dpop-dpop-key.pem',
  /**
   * Client CAs for the gateway: the dev CA plus the self-signed client's certificate, its own trust
   * anchor (RFC 8705 §2.2 clients have no CA; a resource server that accepts them must trust each one).
   */
  gatewayClientCas: 'gateway-client-cas.pem',
} as const;

export type DevPkiFile = keyof typeof DEV_PKI_FILES;
export type DevPkiPaths = Record<DevPkiFile, string>;

/** Key id of the private_key_jwt client's signing key in its JWKS. */
export const DEV_JWT_CLIENT_KID = 'acme-jwt-1';
export const DEV_ISSUER_SIGNING_KID = 'dev-issuer-1';
/** Key id of the DPoP client's assertion signing key in its JWKS. */
export const DEV_DPOP_CLIENT_KID = 'acme-dpop-1';

/**
 * Files that PKIs made before they existed lack, in groups that belong together (a certificate and its
 * key); `completeDevPki` adds them with the existing CA, so a folder made by an earlier version keeps working.
 */
const LATER_FILE_GROUPS: readonly (readonly DevPkiFile[])[] = [
  ['gatewayClientCert', 'gatewayClientKey'],
  ['dpopClientSigningKey', 'dpopClientJwks'],
  ['dpopKey'],
];

export class DevPkiExistsError extends Error {}

export function devPkiPaths(dir: string): DevPkiPaths {
  const out = {} as DevPkiPaths;
  for (const [k, rel] of Object.entries(DEV_PKI_FILES)) out[k as DevPkiFile] = path.join(dir, rel);
  return out;
}

function pkcs8(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function publicJwkOf(cert: IssuedCertificate): Record<string, unknown> {
  return new X509Certificate(cert.der).publicKey.export({ format: 'jwk' });
}

export async function createDevPki(dir: string, options: DevPkiOptions = {}): Promise<DevPkiPaths> {
  const paths = devPkiPaths(dir);
  if (!options.force) {
    const existing = Object.values(paths).find((p) => existsSync(p));
    if (existing)
      throw new DevPkiExistsError(`${existing} already exists (use --force to overwrite the PKI)`);
  }
  const names = options.names ?? [];
  const isIp = (n: string) => /^[\d.]+$/.test(n) || n.includes(':');
  const serverNames = {
    dns: ['localhost', ...names.filter((n) => !isIp(n))],
    ips: ['127.0.0.1', '::1', ...names.filter(isIp)],
  };
  const ca = await createCa({ subject: 'O=fapi-gateway development, CN=fapi-gateway dev CA' });
  const [issuer, gateway, acmeTls, otherTls, selfSigned, jwtCert] = await Promise.all([
    issueCertificate(ca, {
      subject: 'O=fapi-gateway development, CN=issuer',
      usage: 'server',
      ...serverNames,
    }),
    issueCertificate(ca, {
      subject: 'O=fapi-gateway development, CN=gateway',
      usage: 'server',
      ...serverNames,
    }),
    issueCertificate(ca, { subject: 'O=Acme, CN=acme-tls', usage: 'client' }),
    issueCertificate(ca, { subject: 'O=Other Corp, CN=other-tls', usage: 'client' }),
    selfSignedCertificate({ subject: 'O=Acme, CN=acme-self-signed', usage: 'client' }),
    issueCertificate(ca, { subject: 'O=Acme, CN=acme-jwt', usage: 'client' }),
  ]);
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const jwtSigning = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwtPublic = {
    ...(jwtSigning.publicKey.export({ format: 'jwk' }) as Record<string, unknown>),
    kid: DEV_JWT_CLIENT_KID,
    alg: 'PS256',
    use: 'sig',
  };
  // RFC 8705 §2.2.2: the certificate goes in x5c, next to the key members it must match.
  const selfSignedJwk = { ...publicJwkOf(selfSigned), x5c: [selfSigned.der.toString('base64')] };

  const secret = { mode: 0o600 };
  const files: PkiFileContent[] = [
    ['caCert', ca.certPem],
    ['caKey', ca.keyPem, secret],
    ['issuerCert', issuer.certPem],
    ['issuerKey', issuer.keyPem, secret],
    ['gatewayCert', gateway.certPem],
    ['gatewayKey', gateway.keyPem, secret],
    ['issuerSigningKey', pkcs8(signing), secret],
    ['acmeTlsCert', acmeTls.certPem],
    ['acmeTlsKey', acmeTls.keyPem, secret],
    ['otherTlsCert', otherTls.certPem],
    ['otherTlsKey', otherTls.keyPem, secret],
    ['selfSignedCert', selfSigned.certPem],
    ['selfSignedKey', selfSigned.keyPem, secret],
    ['selfSignedJwks', JSON.stringify({ keys: [selfSignedJwk] }, null, 2) + '\n'],
    ['jwtSigningKey', pkcs8(jwtSigning.privateKey), secret],
    ['jwtJwks', JSON.stringify({ keys: [jwtPublic] }, null, 2) + '\n'],
    ['jwtCert', jwtCert.certPem],
    ['jwtKey', jwtCert.keyPem, secret],
    ['gatewayClientCas', ca.certPem + selfSigned.certPem],
    ...(await laterFiles(ca)),
  ];
  mkdirSync(path.join(dir, 'clients'), { recursive: true });
  for (const [name, content, mode] of files) writeFileSync(paths[name], content, mode);
  return paths;
}

type PkiFileContent = [DevPkiFile, string, { mode: number }?];

/** The files of LATER_FILES, issued by `ca`. */
async function laterFiles(ca: IssuedCertificate): Promise<PkiFileContent[]> {
  const secret = { mode: 0o600 };
  const gatewayClient = await issueCertificate(ca, {
    subject: 'O=fapi-gateway development, CN=fapi-gateway',
    usage: 'client',
  });
  const dpopClientSigning = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const dpopClientPublic = {
    ...(dpopClientSigning.publicKey.export({ format: 'jwk' }) as Record<string, unknown>),
    kid: DEV_DPOP_CLIENT_KID,
    alg: 'PS256',
    use: 'sig',
  };
  const dpopKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  return [
    ['gatewayClientCert', gatewayClient.certPem],
    ['gatewayClientKey', gatewayClient.keyPem, secret],
    ['dpopClientSigningKey', pkcs8(dpopClientSigning.privateKey), secret],
    ['dpopClientJwks', JSON.stringify({ keys: [dpopClientPublic] }, null, 2) + '\n'],
    ['dpopKey', pkcs8(dpopKey), secret],
  ];
}

/**
 * A PKI folder that lacks only files added in later versions (LATER_FILE_GROUPS) gets them (with the rest of their group), issued by its
 * own CA; returns whether it was complete or completed. Any other missing file: false (left alone).
 */
export async function completeDevPki(dir: string): Promise<boolean> {
  const paths = devPkiPaths(dir);
  const missing = (Object.keys(paths) as DevPkiFile[]).filter((k) => !existsSync(paths[k]));
  if (missing.length === 0) return true;
  if (!missing.every((k) => LATER_FILE_GROUPS.some((g) => g.includes(k)))) return false;
  const ca = await loadCa(readFileSync(paths.caCert, 'utf8'), readFileSync(paths.caKey, 'utf8'));
  const renew = LATER_FILE_GROUPS.filter((g) => g.some((k) => missing.includes(k))).flat();
  for (const [name, content, mode] of await laterFiles(ca))
    if (renew.includes(name)) writeFileSync(paths[name], content, mode);
  return true;
}
