/**
 * Reading and checking the listener's TLS files (at start and on every reload): a file that cannot be
 * read or parsed, a key that does not match the certificate, or a CA bundle without certificates is an
 * error naming the configuration key, and the previous material keeps serving.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { GatewayConfig } from './config.js';
import type { TlsMaterial } from './listener.js';
import { StartupError } from './startup-error.js';
import { serverKeyKind, TlsPolicyError } from '../tls/policy.js';

export interface CertificateExpiry {
  kind: 'server' | 'client_ca';
  subject: string;
  /** notAfter, unix seconds. */
  notAfter: number;
}

export interface LoadedTlsMaterial extends TlsMaterial {
  expiries: CertificateExpiry[];
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g;

/** A TLS file problem; at start-up it stops the gateway, on reload the old material keeps serving. */
export class TlsMaterialError extends StartupError {}

function read(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new TlsMaterialError(
      key,
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
}

function certificatesIn(key: string, file: string, pem: string): X509Certificate[] {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsMaterialError(key, `${file} contains no PEM certificate`);
  return blocks.map((b) => {
    try {
      return new X509Certificate(b);
    } catch (err) {
      throw new TlsMaterialError(
        key,
        `${file} holds a certificate that cannot be parsed (${(err as Error).message})`,
      );
    }
  });
}

function subjectOf(c: X509Certificate): string {
  return c.subject.split('\n').join(',');
}

export function readTlsMaterial(tls: GatewayConfig['tls']): LoadedTlsMaterial {
  const certPem = read('tls.cert', tls.cert);
  const keyPem = read('tls.key', tls.key);
  const clientCaPem = read('tls.clientCa', tls.clientCa);
  const chain = certificatesIn('tls.cert', tls.cert, certPem);
  const cas = certificatesIn('tls.clientCa', tls.clientCa, clientCaPem);
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw new TlsMaterialError(
      'tls.key',
      `${tls.key} is not a readable private key (${(err as Error).message})`,
    );
  }
  try {
    serverKeyKind(key);
  } catch (err) {
    if (err instanceof TlsPolicyError)
      throw new TlsMaterialError('tls.key', `${tls.key} holds ${err.problem}`);
    throw err;
  }
  if (!chain[0]!.checkPrivateKey(key)) {
    throw new TlsMaterialError('tls.key', `${tls.key} does not match the certificate in ${tls.cert}`);
  }
  try {
    createSecureContext({ cert: certPem, key: keyPem, ca: clientCaPem });
  } catch (err) {
    throw new TlsMaterialError('tls', `OpenSSL refused the TLS files (${(err as Error).message})`);
  }
  const expiries: CertificateExpiry[] = [
    { kind: 'server', subject: subjectOf(chain[0]!), notAfter: Date.parse(chain[0]!.validTo) / 1000 },
    ...cas.map((c) => ({
      kind: 'client_ca' as const,
      subject: subjectOf(c),
      notAfter: Date.parse(c.validTo) / 1000,
    })),
  ];
  return { certPem, keyPem, clientCaPem, expiries };
}
