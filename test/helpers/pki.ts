/**
 * The test PKI, made at test time: a CA, a server certificate for localhost/127.0.0.1, clients A and B
 * issued by the CA, a self-signed client, and a client issued by an untrusted CA. Files are written to a
 * fresh temporary folder so servers can be configured by path.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  createCa,
  issueCertificate,
  selfSignedCertificate,
  type IssuedCertificate,
} from '../../src/pki/certificates.js';
import { certificateThumbprint } from '../../src/pki/thumbprint.js';

export interface TestCredential extends IssuedCertificate {
  certFile: string;
  keyFile: string;
  thumbprint: string;
}

export interface TestPki {
  dir: string;
  ca: TestCredential;
  /** Server certificate for localhost and 127.0.0.1 (RSA: FAPI TLS 1.2 suites need it). */
  server: TestCredential;
  clientA: TestCredential;
  clientB: TestCredential;
  /** Self-signed client certificate (not chaining to the CA). */
  selfSigned: TestCredential;
  untrustedCa: TestCredential;
  /** Client certificate from a CA nobody trusts. */
  untrusted: TestCredential;
  /** Writes an extra PEM file into the PKI folder and returns its path. */
  write(name: string, content: string): string;
}

function save(dir: string, name: string, c: IssuedCertificate): TestCredential {
  const certFile = path.join(dir, `${name}.pem`);
  const keyFile = path.join(dir, `${name}-key.pem`);
  writeFileSync(certFile, c.certPem);
  writeFileSync(keyFile, c.keyPem, { mode: 0o600 });
  return { ...c, certFile, keyFile, thumbprint: certificateThumbprint(c.der) };
}

let shared: Promise<TestPki> | undefined;

/** Builds a new test PKI (a few hundred ms: RSA key generation), in `dir` or a fresh temporary folder. */
export async function createTestPki(dir = mkdtempSync(path.join(tmpdir(), 'fapi-pki-'))): Promise<TestPki> {
  const ca = await createCa({ subject: 'CN=Test CA,O=fapi-gateway tests' });
  const untrustedCa = await createCa({ subject: 'CN=Untrusted CA,O=Elsewhere' });
  const [server, clientA, clientB, selfSigned, untrusted] = await Promise.all([
    issueCertificate(ca, {
      subject: 'CN=localhost',
      usage: 'server',
      dns: ['localhost'],
      ips: ['127.0.0.1', '::1'],
    }),
    issueCertificate(ca, { subject: 'CN=client-a,O=Acme', usage: 'client' }),
    issueCertificate(ca, { subject: 'CN=client-b,O=Other', usage: 'client' }),
    selfSignedCertificate({ subject: 'CN=self-signed-client', usage: 'client' }),
    issueCertificate(untrustedCa, { subject: 'CN=client-a,O=Acme', usage: 'client' }),
  ]);
  return {
    dir,
    ca: save(dir, 'ca', ca),
    server: save(dir, 'server', server),
    clientA: save(dir, 'client-a', clientA),
    clientB: save(dir, 'client-b', clientB),
    selfSigned: save(dir, 'self-signed', selfSigned),
    untrustedCa: save(dir, 'untrusted-ca', untrustedCa),
    untrusted: save(dir, 'untrusted-client', untrusted),
    write(name, content) {
      const p = path.join(dir, name);
      writeFileSync(p, content);
      return p;
    },
  };
}

/** One PKI per test process, shared by the tests in a file. */
export function testPki(): Promise<TestPki> {
  shared ??= createTestPki();
  return shared;
}
