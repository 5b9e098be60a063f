import t from 'tap';
import { execFileSync } from 'node:child_process';
import {
  certificateSubject,
  distinguishedNamesEqual,
  formatDistinguishedName,
  parseDistinguishedName,
} from '../../src/issuer/client-auth/distinguished-name.js';
import { createCa, issueCertificate } from '../../src/pki/certificates.js';
import { testPki } from '../helpers/pki.js';

const same = (a: string, b: string) =>
  distinguishedNamesEqual(parseDistinguishedName(a), parseDistinguishedName(b));

t.test('attribute names compare case-insensitively and by OID', (t) => {
  t.ok(same('CN=acme,O=Acme Bank', 'cn=acme,o=Acme Bank'));
  t.ok(same('CN=acme,O=Acme Bank', 'commonName=acme,organizationName=Acme Bank'));
  t.ok(same('CN=acme,O=Acme Bank', '2.5.4.3=acme,2.5.4.10=Acme Bank'));
  t.ok(same('CN=acme, O=Acme Bank', 'CN=acme,O=Acme Bank'), 'spaces after separators are tolerated');
  t.end();
});

t.test('values compare exactly, attribute by attribute, in order', (t) => {
  t.notOk(same('CN=acme,O=Acme', 'CN=ACME,O=Acme'), 'values are not case-folded');
  t.notOk(same('CN=acme,O=Acme', 'O=Acme,CN=acme'), 'RDN order matters');
  t.notOk(same('CN=acme,O=Acme', 'CN=acme,O=Acme,C=GB'), 'an extra RDN does not match');
  t.notOk(same('CN=acme', 'CN=acme2'));
  t.ok(same('CN=a+OU=b,O=c', 'OU=b+CN=a,O=c'), 'AVAs of one RDN compare as a set');
  t.end();
});

t.test('RFC 4514 escapes: special characters, hex pairs, UTF-8', (t) => {
  t.same(parseDistinguishedName('CN=Doe\\, John,O=A\\+B'), [
    [{ oid: '2.5.4.3', value: 'Doe, John' }],
    [{ oid: '2.5.4.10', value: 'A+B' }],
  ]);
  t.same(parseDistinguishedName('CN=\\41\\c3\\a9'), [[{ oid: '2.5.4.3', value: 'Aé' }]]);
  t.same(parseDistinguishedName('CN=\\ lead'), [[{ oid: '2.5.4.3', value: ' lead' }]]);
  t.same(formatDistinguishedName(parseDistinguishedName('CN=Doe\\, John,O=x')), 'CN=Doe\\, John,O=x');
  t.end();
});

t.test('malformed DNs are refused with a reason', (t) => {
  for (const bad of ['', 'CN', 'CN=', 'CN=a;O=b', 'XYZ=a', 'CN=#0403616263', 'CN=a\\', 'CN=a"b', 'CN=\\zz']) {
    t.throws(() => parseDistinguishedName(bad), JSON.stringify(bad));
  }
  t.end();
});

t.test("a certificate's subject reads in RFC 4514 order, as openssl prints it", async (t) => {
  const pki = await testPki();
  const ca = await createCa({ subject: 'CN=ca' });
  // Conventional encoding order: C, O, then CN last; RFC 4514 lists it CN first.
  const cert = await issueCertificate(ca, {
    subject: 'C=GB, O=Acme Bank, OU=Payments, CN=acme-tls',
    usage: 'client',
  });
  const subject = certificateSubject(cert.der);
  t.equal(formatDistinguishedName(subject), 'CN=acme-tls,OU=Payments,O=Acme Bank,C=GB');
  const file = pki.write('dn-check.pem', cert.certPem);
  const openssl = execFileSync(
    'openssl',
    ['x509', '-in', file, '-noout', '-subject', '-nameopt', 'RFC2253'],
    {
      encoding: 'utf8',
    },
  )
    .trim()
    .replace(/^subject=/, '');
  t.ok(distinguishedNamesEqual(subject, parseDistinguishedName(openssl)), `openssl: ${openssl}`);
});
