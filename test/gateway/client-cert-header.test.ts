import t from 'tap';
import fc from 'fast-check';
import {
  clientCertHeaderValue,
  parseClientCertChainHeader,
  parseClientCertHeader,
} from '../../src/gateway/client-cert-header.js';
import { ProxiedCertificates } from '../../src/gateway/trusted-proxies.js';
import type { ConnectionIdentity } from '../../src/gateway/request-context.js';
import { testPki } from '../helpers/pki.js';
import { oddClientCredential, testCa } from '../helpers/odd-certificates.js';

const BASE64_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=: ;,"!%\n\t';

/** Strings made of the characters that matter to the parser, plus anything at all. */
const headerLike = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: fc.constantFrom(...BASE64_CHARS.split('')), maxLength: 300 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => `:${Buffer.from(b).toString('base64')}:`),
);

t.test('parseClientCertHeader never throws, and returns bytes only for a byte sequence', (t) => {
  fc.assert(
    fc.property(headerLike, (value) => {
      const der = parseClientCertHeader(value);
      if (der === undefined) return true;
      const trimmed = value.trim();
      return (
        der.length > 0 &&
        trimmed.startsWith(':') &&
        trimmed.endsWith(':') &&
        /^[A-Za-z0-9+/]*={0,2}$/.test(trimmed.slice(1, -1))
      );
    }),
    { numRuns: 5000 },
  );
  t.end();
});

t.test('any bytes round-trip through the RFC 9440 value, padded or not', (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 300 }), (bytes) => {
      const b = Buffer.from(bytes);
      const value = clientCertHeaderValue(b);
      const unpadded = value.replace(/=+:$/, ':');
      return (
        parseClientCertHeader(value)?.equals(b) === true &&
        parseClientCertHeader(unpadded)?.equals(b) === true
      );
    }),
  );
  t.end();
});

t.test(
  'no Client-Cert value makes the resolver throw or accept anything but a valid certificate',
  async (t) => {
    const pki = await testPki();
    const certificates = new ProxiedCertificates({
      clientCaPem: pki.ca.certPem,
      maxBytes: 5120,
      cacheEntries: 100,
    });
    const good = clientCertHeaderValue(pki.clientA.der);
    // Mutations of a real certificate reach the DER parser and path validation, not only the syntax check.
    const mutated = fc
      .tuple(fc.nat({ max: pki.clientA.der.length - 1 }), fc.integer({ min: 1, max: 255 }))
      .map(([i, x]) => {
        const der = Buffer.from(pki.clientA.der);
        der[i] = der[i]! ^ x;
        return clientCertHeaderValue(der);
      });
    fc.assert(
      fc.property(fc.oneof(headerLike, mutated), (value) => {
        const connection: ConnectionIdentity = { tokenMemo: {} };
        const outcome = certificates.resolve(value, undefined, connection);
        return !outcome.ok || outcome.certificate.thumbprint === pki.clientA.thumbprint;
      }),
      { numRuns: 2000 },
    );
    const ok = certificates.resolve(good, undefined, { tokenMemo: {} });
    t.equal(ok.ok && ok.certificate.thumbprint, pki.clientA.thumbprint, 'positive control');
  },
);

t.test('parseClientCertChainHeader never throws; what it returns re-encodes to an equivalent list', (t) => {
  const member = fc.oneof(
    fc.uint8Array({ minLength: 1, maxLength: 60 }).map((b) => clientCertHeaderValue(Buffer.from(b))),
    headerLike,
  );
  const separator = fc.constantFrom(',', ', ', ' ,', '\t,\t', ',,', ';', ' ');
  fc.assert(
    fc.property(fc.array(fc.tuple(member, separator), { maxLength: 6 }), member, (pairs, last) => {
      const value = pairs.map(([m, sep]) => m + sep).join('') + last;
      const ders = parseClientCertChainHeader(value);
      if (ders === undefined) return true;
      const again = parseClientCertChainHeader(ders.map((d) => clientCertHeaderValue(d)).join(', '));
      return again !== undefined && again.length === ders.length && again.every((d, i) => d.equals(ders[i]!));
    }),
    { numRuns: 3000 },
  );
  t.same(parseClientCertChainHeader(''), []);
  t.same(parseClientCertChainHeader(':AQID:, :BAU=:'), [Buffer.from([1, 2, 3]), Buffer.from([4, 5])]);
  for (const bad of [':AQID:,', ',:AQID:', ':AQID:,,:BAU=:', ':AQID:;a=1', ':AQID: :BAU=:', 'AQID']) {
    t.equal(parseClientCertChainHeader(bad), undefined, JSON.stringify(bad));
  }
  t.end();
});

t.test(
  'a crafted Client-Cert-Chain of CAs that all sign one another is refused without a long search',
  async (t) => {
    const pki = await testPki();
    // Eight CA certificates with one name and one key: each verifies as the issuer of every other, so a
    // search that tried every order would check millions of signatures. None is an anchor.
    const first = await testCa({ subject: 'CN=Loop,O=Elsewhere' });
    const loops = [first];
    for (let i = 1; i < 8; i++)
      loops.push(await testCa({ subject: 'CN=Loop,O=Elsewhere', keys: first.keys }));
    const leaf = await oddClientCredential(pki, { issuer: first });
    const certificates = new ProxiedCertificates({
      clientCaPem: pki.ca.certPem,
      maxBytes: 5120,
      cacheEntries: 10,
    });
    const outcome = certificates.resolve(
      clientCertHeaderValue(leaf.der),
      loops.map((c) => clientCertHeaderValue(c.der)).join(', '),
      { tokenMemo: {} },
    );
    t.equal(outcome.ok, false);
    t.equal(!outcome.ok && outcome.reject.reason, 'proxy_certificate_untrusted');
  },
);
