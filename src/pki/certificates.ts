/**
 * Development and test PKI built with @peculiar/x509 over WebCrypto: a CA, server certificates and
 * client certificates (CA-issued for tls_client_auth, self-signed for self_signed_tls_client_auth).
 * Server keys are RSA by default because the FAPI TLS 1.2 suites are all ECDHE-RSA/DHE-RSA.
 */
import {
  X509Certificate as NodeX509Certificate,
  createPrivateKey,
  randomBytes,
  webcrypto,
} from 'node:crypto';
import * as x509 from '@peculiar/x509';

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export type KeyKind = 'rsa' | 'ec';

export interface IssuedCertificate {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  /** Certificate, PEM. */
  certPem: string;
  /** Private key, PKCS#8 PEM. */
  keyPem: string;
  /** Certificate, DER. */
  der: Buffer;
  kind: KeyKind;
}

const RSA: webcrypto.RsaHashedKeyGenParams = {
  name: 'RSASSA-PKCS1-v1_5',
  hash: 'SHA-256',
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const EC: webcrypto.EcKeyGenParams & { hash: string } = {
  name: 'ECDSA',
  namedCurve: 'P-256',
  hash: 'SHA-256',
};

function algorithmFor(kind: KeyKind) {
  return kind === 'rsa' ? RSA : EC;
}

async function generateKeys(kind: KeyKind): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(algorithmFor(kind), true, ['sign', 'verify']);
}

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return x509.PemConverter.encode(der, 'PRIVATE KEY') + '\n';
}

function serial(): string {
  const b = randomBytes(16);
  b[0] = b[0]! & 0x7f; // positive INTEGER
  return b.toString('hex');
}

function validity(days: number, notBefore?: Date, notAfter?: Date) {
  const nb = notBefore ?? new Date(Date.now() - 60_000);
  return { notBefore: nb, notAfter: notAfter ?? new Date(nb.getTime() + days * 86_400_000) };
}

async function finish(
  cert: x509.X509Certificate,
  keys: CryptoKeyPair,
  kind: KeyKind,
): Promise<IssuedCertificate> {
  return {
    cert,
    keys,
    kind,
    certPem: cert.toString('pem') + '\n',
    keyPem: await privateKeyPem(keys.privateKey),
    der: Buffer.from(cert.rawData),
  };
}

export interface CaOptions {
  /** Subject DN, e.g. `CN=fapi-gateway dev CA,O=Example`. */
  subject: string;
  kind?: KeyKind;
  days?: number;
}

export async function createCa(opts: CaOptions): Promise<IssuedCertificate> {
  const kind = opts.kind ?? 'ec';
  const keys = await generateKeys(kind);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: opts.subject,
    ...validity(opts.days ?? 3650),
    keys,
    signingAlgorithm: algorithmFor(kind),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return finish(cert, keys, kind);
}

export interface LeafOptions {
  subject: string;
  usage: 'server' | 'client';
  dns?: string[];
  ips?: string[];
  kind?: KeyKind;
  days?: number;
  notBefore?: Date;
  notAfter?: Date;
}

function leafExtensions(opts: LeafOptions): x509.Extension[] {
  const names: x509.JsonGeneralName[] = [
    ...(opts.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const ext: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([
      opts.usage === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
    ]),
  ];
  if (names.length > 0) ext.push(new x509.SubjectAlternativeNameExtension(names));
  return ext;
}

/** A certificate signed by `ca`. Server certificates default to RSA (FAPI TLS 1.2 suites need it). */
export async function issueCertificate(ca: IssuedCertificate, opts: LeafOptions): Promise<IssuedCertificate> {
  const kind = opts.kind ?? (opts.usage === 'server' ? 'rsa' : 'ec');
  const keys = await generateKeys(kind);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: opts.subject,
    issuer: ca.cert.subject,
    ...validity(opts.days ?? 825, opts.notBefore, opts.notAfter),
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: algorithmFor(ca.kind),
    extensions: [
      ...leafExtensions(opts),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return finish(cert, keys, kind);
}

/** A self-signed end-entity certificate (for self_signed_tls_client_auth, RFC 8705 §2.2). */
export async function selfSignedCertificate(opts: LeafOptions): Promise<IssuedCertificate> {
  const kind = opts.kind ?? 'ec';
  const keys = await generateKeys(kind);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: opts.subject,
    ...validity(opts.days ?? 825, opts.notBefore, opts.notAfter),
    keys,
    signingAlgorithm: algorithmFor(kind),
    extensions: leafExtensions(opts),
  });
  return finish(cert, keys, kind);
}

/** A CA made earlier by `createCa` (EC P-256 or RSA), read back from its PEM files to issue more leaves. */
export async function loadCa(certPem: string, keyPem: string): Promise<IssuedCertificate> {
  const cert = new x509.X509Certificate(certPem);
  const publicKey = new NodeX509Certificate(certPem).publicKey;
  const kind: KeyKind = publicKey.asymmetricKeyType === 'ec' ? 'ec' : 'rsa';
  const algorithm = algorithmFor(kind);
  const keys: CryptoKeyPair = {
    privateKey: await webcrypto.subtle.importKey(
      'pkcs8',
      createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'der' }),
      algorithm,
      true,
      ['sign'],
    ),
    publicKey: await webcrypto.subtle.importKey(
      'spki',
      publicKey.export({ type: 'spki', format: 'der' }),
      algorithm,
      true,
      ['verify'],
    ),
  };
  return finish(cert, keys, kind);
}
