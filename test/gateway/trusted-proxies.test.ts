import t, { type Test } from 'tap';
import { startGatewayFixture, type GatewayFixture } from '../helpers/gateway.js';
import { expectRejection, headerLines } from '../helpers/gateway-assertions.js';
import {
  mtlsRequest,
  tlsHandshake,
  type ClientCredential,
  type TestResponse,
} from '../helpers/tls-client.js';
import { ecKeys, oddClientCredential, rsaKeys, testCa } from '../helpers/odd-certificates.js';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { testGatewayConfigInput } from '../helpers/gateway.js';
import { testPki } from '../helpers/pki.js';
import type { IssuedCertificate } from '../../src/pki/certificates.js';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { CLI } from '../helpers/gateway-process.js';
import { createDpopKey } from '../helpers/dpop.js';
import { dpopCall } from '../helpers/dpop-gateway.js';

/** RFC 9440 §2.2: the DER between colons, base64 with padding. */
function clientCert(der: Buffer): string {
  return `:${der.toString('base64')}:`;
}

interface ProxyCall {
  host?: string;
  /** The proxy's own TLS certificate; none by default. */
  proxyCertificate?: ClientCredential;
  /** The Client-Cert value(s) the proxy sends; none when absent. */
  clientCert?: string | string[];
  /** The Client-Cert-Chain value (or header lines) the proxy sends; none when absent. */
  chain?: string | string[];
  token?: string;
}

function viaProxy(f: GatewayFixture, o: ProxyCall): Promise<TestResponse> {
  const headers: Record<string, string | string[]> = {};
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`;
  if (o.clientCert !== undefined) headers['client-cert'] = o.clientCert;
  if (o.chain !== undefined) headers['client-cert-chain'] = o.chain;
  return mtlsRequest({
    port: f.gateway.listenPort,
    host: o.host ?? '127.0.0.1',
    caPem: f.pki.ca.certPem,
    ...(o.proxyCertificate === undefined ? {} : { client: o.proxyCertificate }),
    path: '/accounts',
    headers,
  });
}

function expectForwarded(t: Test, f: GatewayFixture, res: TestResponse, certificate: { der: Buffer }): void {
  t.equal(res.status, 200, `forwarded: ${res.body}`);
  t.equal(f.upstream.hits, 1, 'reached the upstream once');
  const seen = f.upstream.last()!;
  t.same(headerLines({ ...res, rawHeaders: seen.rawHeaders }, 'client-cert'), [clientCert(certificate.der)]);
  t.same(headerLines({ ...res, rawHeaders: seen.rawHeaders }, 'client-cert-chain'), [], 'no chain upstream');
  f.upstream.reset();
}

const cacheCount = (f: GatewayFixture, result: 'hit' | 'miss') =>
  f.metric('fapi_gateway_client_cert_header_cache_total', { result });

t.test('a trusted proxy (IPv4 range, peer seen as ::ffff:127.0.0.1 on a dual-stack listener)', async (t) => {
  const f = await startGatewayFixture(t, {
    listen: { host: '::', port: 0 },
    trustedProxies: { cidrs: ['10.0.0.0/8', '127.0.0.0/8'] },
  });
  const { clientA, clientB } = f.pki;

  await t.test('Client-Cert is the client certificate: binding, upstream and log use it', async (t) => {
    const token = await f.token({ bindTo: clientA });
    expectForwarded(t, f, await viaProxy(f, { token, clientCert: clientCert(clientA.der) }), clientA);
    // The proxy's own certificate, from the client CA or not, changes nothing.
    expectForwarded(
      t,
      f,
      await viaProxy(f, { token, clientCert: clientCert(clientA.der), proxyCertificate: clientB }),
      clientA,
    );
    expectForwarded(
      t,
      f,
      await viaProxy(f, { token, clientCert: clientCert(clientA.der), proxyCertificate: f.pki.untrusted }),
      clientA,
    );
    const line = f.logs.filter((l) => l.msg === 'request').at(-1)!;
    t.equal(line.thumbprint, clientA.thumbprint, 'the log names the header certificate');
    t.notOk(f.logText().includes(clientA.der.toString('base64').slice(0, 60)), 'no certificate in the logs');
  });

  await t.test('unpadded base64 and surrounding spaces are accepted (RFC 8941 §4.2, §4.2.7)', async (t) => {
    const token = await f.token({ bindTo: clientA });
    const unpadded = ` :${clientA.der.toString('base64').replace(/=+$/, '')}: `;
    expectForwarded(t, f, await viaProxy(f, { token, clientCert: unpadded }), clientA);
  });

  await t.test("the proxy's own certificate is never the client's", async (t) => {
    const res = await viaProxy(f, { token: await f.token({ bindTo: clientB }), proxyCertificate: clientB });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'certificate_missing' });
    t.match(res.json().error_description, /Client-Cert/);
    const other = await viaProxy(f, {
      token: await f.token({ bindTo: clientB }),
      proxyCertificate: clientB,
      clientCert: clientCert(clientA.der),
    });
    await expectRejection(t, f, other, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
  });

  await t.test('malformed Client-Cert: 400 invalid_request', async (t) => {
    const token = await f.token({ bindTo: clientA });
    const b64 = clientA.der.toString('base64');
    for (const bad of [
      '',
      'garbage',
      b64,
      `:${b64}`,
      `:${b64}:;a=1`,
      `:${b64.slice(0, 20)}!${b64.slice(21)}:`,
      '::',
      ':AAAA:',
      `:${b64}=:`,
      `:${Buffer.concat([clientA.der, Buffer.from([0])]).toString('base64')}:`,
      [clientCert(clientA.der), clientCert(clientA.der)],
    ]) {
      const res = await viaProxy(f, { token, clientCert: bad });
      await expectRejection(t, f, res, {
        status: 400,
        error: 'invalid_request',
        reason: 'proxy_certificate_malformed',
      });
    }
  });

  await t.test('a certificate not chaining to tls.clientCa: 401', async (t) => {
    for (const c of [f.pki.untrusted, f.pki.selfSigned]) {
      const res = await viaProxy(f, {
        token: await f.token({ thumbprint: c.thumbprint }),
        clientCert: clientCert(c.der),
      });
      await expectRejection(t, f, res, {
        status: 401,
        error: 'invalid_token',
        reason: 'proxy_certificate_untrusted',
      });
    }
  });

  await t.test('expired or not yet valid: 401', async (t) => {
    const day = 86_400_000;
    const expired = await oddClientCredential(f.pki, {
      notBefore: new Date(Date.now() - 30 * day),
      notAfter: new Date(Date.now() - day),
    });
    const future = await oddClientCredential(f.pki, {
      notBefore: new Date(Date.now() + day),
      notAfter: new Date(Date.now() + 30 * day),
    });
    for (const c of [expired, future]) {
      const res = await viaProxy(f, {
        token: await f.token({ thumbprint: c.thumbprint }),
        clientCert: clientCert(c.der),
      });
      await expectRejection(t, f, res, {
        status: 401,
        error: 'invalid_token',
        reason: 'proxy_certificate_expired',
      });
    }
  });

  await t.test('the FAPI certificate rules: CA:TRUE, weak RSA and EC keys, too large', async (t) => {
    const refused = [
      await oddClientCredential(f.pki, { isCa: true }),
      await oddClientCredential(f.pki, { keys: rsaKeys(1024) }),
      await oddClientCredential(f.pki, { keys: ecKeys('secp224r1') }),
      await oddClientCredential(f.pki, { padBytes: 6000 }),
    ];
    for (const c of refused) {
      const res = await viaProxy(f, {
        token: await f.token({ thumbprint: c.thumbprint }),
        clientCert: clientCert(c.der),
      });
      await expectRejection(t, f, res, {
        status: 401,
        error: 'invalid_token',
        reason: 'proxy_certificate_not_allowed',
      });
    }
    const fine = await oddClientCredential(f.pki, { keys: rsaKeys(2048) });
    const res = await viaProxy(f, {
      token: await f.token({ thumbprint: fine.thumbprint }),
      clientCert: clientCert(fine.der),
    });
    expectForwarded(t, f, res, fine);
  });

  await t.test('a Client-Cert value is parsed once, whatever the connection', async (t) => {
    const fresh = await oddClientCredential(f.pki);
    const token = await f.token({ thumbprint: fresh.thumbprint });
    const misses = await cacheCount(f, 'miss');
    const hits = await cacheCount(f, 'hit');
    for (let i = 0; i < 3; i++) {
      expectForwarded(t, f, await viaProxy(f, { token, clientCert: clientCert(fresh.der) }), fresh);
    }
    t.equal(await cacheCount(f, 'miss'), misses + 1, 'parsed and validated once');
    t.equal(await cacheCount(f, 'hit'), hits + 2, 'then found in the cache');
  });

  await t.test(
    "another peer's Client-Cert is ignored and stripped (::1 is outside the ranges)",
    async (t) => {
      const res = await viaProxy(f, {
        host: '::1',
        proxyCertificate: clientA,
        token: await f.token({ bindTo: clientA }),
        clientCert: clientCert(clientB.der),
      });
      expectForwarded(t, f, res, clientA);
      const spoofed = await viaProxy(f, {
        host: '::1',
        proxyCertificate: clientA,
        token: await f.token({ bindTo: clientB }),
        clientCert: clientCert(clientB.der),
      });
      await expectRejection(t, f, spoofed, {
        status: 401,
        error: 'invalid_token',
        reason: 'binding_mismatch',
      });
    },
  );

  await t.test('a direct client is still held to the mTLS handshake rules', async (t) => {
    const failures = await f.metric('fapi_gateway_tls_handshake_failures_total', {
      reason: 'no_certificate',
    });
    const none = await tlsHandshake({
      port: f.gateway.listenPort,
      caPem: f.pki.ca.certPem,
      options: { host: '::1' },
    });
    t.equal(none.ok, false, 'no certificate: refused');
    t.equal(
      await f.metric('fapi_gateway_tls_handshake_failures_total', { reason: 'no_certificate' }),
      failures + 1,
    );
    const untrusted = await tlsHandshake({
      port: f.gateway.listenPort,
      caPem: f.pki.ca.certPem,
      client: f.pki.untrusted,
      options: { host: '::1' },
    });
    t.equal(untrusted.ok, false, 'a certificate not chaining to tls.clientCa: refused');
    t.equal(f.upstream.hits, 0);
  });
});

t.test('a trusted proxy on IPv6', async (t) => {
  const f = await startGatewayFixture(t, {
    listen: { host: '::1', port: 0 },
    trustedProxies: { cidrs: ['::1/128'] },
  });
  const token = await f.token({ bindTo: f.pki.clientA });
  expectForwarded(
    t,
    f,
    await viaProxy(f, { host: '::1', token, clientCert: clientCert(f.pki.clientA.der) }),
    f.pki.clientA,
  );
  const res = await viaProxy(f, { host: '::1', token });
  await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'certificate_missing' });
});

t.test('configuration: trustedProxies.cidrs is checked', async (t) => {
  const pki = await testPki();
  const parse = (trustedProxies: unknown) =>
    gatewayConfigSchema.safeParse(
      testGatewayConfigInput(pki, 'https://127.0.0.1:1/jwks', 'http://127.0.0.1:1', { trustedProxies }),
    );
  t.ok(parse({ cidrs: ['10.0.0.0/8', 'fd00::/8', '192.0.2.1', '::1'] }).success);
  for (const bad of [['10.0.0.0/33'], ['fd00::/129'], ['not-an-address'], ['10.0.0.0/'], []]) {
    const r = parse({ cidrs: bad });
    t.notOk(r.success, `refused: ${JSON.stringify(bad)}`);
    t.match(r.error?.issues[0]?.path.join('.'), /^trustedProxies\.cidrs/);
  }
});

t.test('check-config names every bad trustedProxies key', async (t) => {
  const pki = await testPki();
  const file = path.join(pki.dir, 'trusted-proxies.yaml');
  writeFileSync(
    file,
    [
      'tls:',
      `  cert: ${pki.server.certFile}`,
      `  key: ${pki.server.keyFile}`,
      `  clientCa: ${pki.ca.certFile}`,
      'upstream: { url: "http://127.0.0.1:9000" }',
      'tokens: { issuer: https://issuer.example, audience: https://api.example, jwksUri: https://issuer.example/jwks }',
      'routes: [{ path: /accounts, methods: [GET], scopes: [accounts] }]',
      'trustedProxies:',
      '  cidrs: [10.0.0.0/8, 10.0.0.0/33, "fd00::/8", lb.internal]',
      '  certificateCacheEntries: 0',
      '',
    ].join('\n'),
  );
  const r = spawnSync(process.execPath, [CLI, 'check-config', file], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 1, r.stdout + r.stderr);
  t.match(r.stdout, /trustedProxies\.cidrs\[1\]: 10\.0\.0\.0\/33: the prefix length must be 0 to 32/);
  t.match(r.stdout, /trustedProxies\.cidrs\[3\]: lb\.internal: not an IPv4 or IPv6 address or range/);
  t.match(r.stdout, /trustedProxies\.certificateCacheEntries: /);
  t.match(r.stdout, /3 problem\(s\) found/);
});

t.test('behind a trusted proxy: CA reloads, report-only routes, DPoP routes', async (t) => {
  const shared = await testPki();
  const bundle = shared.write(`client-ca-${process.pid}-${Date.now()}.pem`, shared.ca.certPem);
  const f = await startGatewayFixture(t, {
    tls: { cert: shared.server.certFile, key: shared.server.keyFile, clientCa: bundle },
    trustedProxies: { cidrs: ['127.0.0.1'] },
    routes: [
      { path: '/accounts', methods: ['GET'], scopes: ['accounts'] },
      { path: '/shadow', methods: ['GET'], scopes: ['accounts'], mode: 'report-only' },
      { path: '/payments', methods: ['GET'], scopes: ['payments'], binding: 'dpop' },
    ],
  });
  const { clientA, untrusted } = f.pki;

  await t.test('a new tls.clientCa bundle applies to cached Client-Cert values', async (t) => {
    const call = async (c: { der: Buffer; thumbprint: string }) =>
      viaProxy(f, { token: await f.token({ thumbprint: c.thumbprint }), clientCert: clientCert(c.der) });
    await expectRejection(t, f, await call(untrusted), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_untrusted',
    });
    writeFileSync(bundle, f.pki.ca.certPem + f.pki.untrustedCa.certPem);
    f.gateway.reloadCertificates();
    expectForwarded(t, f, await call(untrusted), untrusted);
    writeFileSync(bundle, f.pki.untrustedCa.certPem);
    f.gateway.reloadCertificates();
    await expectRejection(t, f, await call(clientA), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_untrusted',
    });
    writeFileSync(bundle, f.pki.ca.certPem);
    f.gateway.reloadCertificates();
    expectForwarded(t, f, await call(clientA), clientA);
  });

  await t.test('a report-only route never relaxes the Client-Cert rules', async (t) => {
    const res = await mtlsRequest({
      port: f.gateway.listenPort,
      caPem: f.pki.ca.certPem,
      path: '/shadow',
      headers: { authorization: `Bearer ${await f.token()}`, 'client-cert': ':AAAA:' },
    });
    await expectRejection(t, f, res, {
      status: 400,
      error: 'invalid_request',
      reason: 'proxy_certificate_malformed',
    });
    t.equal(await f.metric('fapi_gateway_would_reject_total', { reason: 'proxy_certificate_malformed' }), 0);
  });

  await t.test('a DPoP-bound token needs no Client-Cert', async (t) => {
    const key = await createDpopKey('ES256');
    const token = await f.token({ bindTo: null, claims: { cnf: { jkt: key.jkt } } });
    const res = await dpopCall(f, { key, token, client: null });
    t.equal(res.status, 200, res.body);
    t.equal(f.upstream.hits, 1);
    t.equal(f.upstream.last()?.headers['client-cert'], undefined, 'no certificate asserted upstream');
    f.upstream.reset();
  });
});

t.test('Client-Cert-Chain: intermediates the client sent complete the path, and only that', async (t) => {
  const shared = await testPki();
  const day = 86_400_000;
  const root = await testCa({ subject: 'CN=Issuing Root,O=Bank' });
  const intermediate = await testCa({ subject: 'CN=Issuing CA 1,O=Bank', issuer: root, pathLength: 0 });
  const upper = await testCa({ subject: 'CN=Policy CA,O=Bank', issuer: root });
  const lower = await testCa({ subject: 'CN=Issuing CA 2,O=Bank', issuer: upper, pathLength: 0 });
  // A root that allows no CA below it, and one below it all the same.
  const strictRoot = await testCa({ subject: 'CN=Strict Root,O=Bank', pathLength: 0 });
  const belowStrict = await testCa({ subject: 'CN=Below Strict,O=Bank', issuer: strictRoot });
  const weak = await testCa({ subject: 'CN=Weak CA,O=Bank', issuer: root, rsaBits: 1024 });
  const expired = await testCa({
    subject: 'CN=Expired CA,O=Bank',
    issuer: root,
    notBefore: new Date(Date.now() - 30 * day),
    notAfter: new Date(Date.now() - day),
  });
  const notCa = await testCa({ subject: 'CN=Not a CA,O=Bank', issuer: root, isCa: false });
  const bundle = shared.write(
    `client-ca-chain-${process.pid}-${Date.now()}.pem`,
    shared.ca.certPem + root.certPem + strictRoot.certPem,
  );
  const f = await startGatewayFixture(t, {
    tls: { cert: shared.server.certFile, key: shared.server.keyFile, clientCa: bundle },
    trustedProxies: { cidrs: ['127.0.0.1'] },
  });
  const leafOf = (issuer: IssuedCertificate) =>
    oddClientCredential(f.pki, { issuer, subject: 'CN=tpp-client,O=Fintech' });
  const call = async (c: { der: Buffer; thumbprint: string }, chain?: string | string[]) =>
    viaProxy(f, {
      token: await f.token({ thumbprint: c.thumbprint }),
      clientCert: clientCert(c.der),
      ...(chain === undefined ? {} : { chain }),
    });
  const client = await leafOf(intermediate);
  const deep = await leafOf(lower);

  await t.test(
    'a leaf under an intermediate is accepted with the intermediate, refused without',
    async (t) => {
      expectForwarded(t, f, await call(client, clientCert(intermediate.der)), client);
      const res = await call(client);
      await expectRejection(t, f, res, {
        status: 401,
        error: 'invalid_token',
        reason: 'proxy_certificate_untrusted',
      });
      t.match(res.json().error_description, /does not chain to tls\.clientCa/);
    },
  );

  await t.test('order, spacing, repeated header lines and a sent root do not matter', async (t) => {
    const [a, b] = [clientCert(lower.der), clientCert(upper.der)];
    for (const chain of [
      `${a}, ${b}`,
      `${b},${a}`,
      ` ${a} ,\t${b}\t`,
      [a, b],
      `${a}, ${b}, ${clientCert(root.der)}`,
      `${clientCert(f.pki.untrustedCa.der)}, ${a}, ${clientCert(intermediate.der)}, ${b}`,
    ]) {
      expectForwarded(t, f, await call(deep, chain), deep);
    }
    // An empty list adds nothing: a leaf issued by an anchor still passes, one that needs an intermediate not.
    expectForwarded(t, f, await call(f.pki.clientA, ''), f.pki.clientA);
    await expectRejection(t, f, await call(deep, clientCert(lower.der)), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_untrusted',
    });
  });

  await t.test('the client cannot bring its own trust anchor', async (t) => {
    // The untrusted CA is self-signed and sent in the chain: it is never an anchor.
    const res = await call(f.pki.untrusted, clientCert(f.pki.untrustedCa.der));
    await expectRejection(t, f, res, {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_untrusted',
    });
    // A certificate that is not a CA cannot issue, whatever its signature.
    const fromLeaf = await leafOf(notCa);
    await expectRejection(t, f, await call(fromLeaf, clientCert(notCa.der)), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_untrusted',
    });
  });

  await t.test('pathLenConstraint: a CA below a root that allows none is refused', async (t) => {
    const leaf = await leafOf(belowStrict);
    await expectRejection(t, f, await call(leaf, clientCert(belowStrict.der)), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_untrusted',
    });
    // The intermediate's own pathLenConstraint 0 forbids a CA below it.
    const under = await testCa({ subject: 'CN=Under Issuing CA 1,O=Bank', issuer: intermediate });
    const leaf2 = await leafOf(under);
    await expectRejection(
      t,
      f,
      await call(leaf2, `${clientCert(under.der)}, ${clientCert(intermediate.der)}`),
      {
        status: 401,
        error: 'invalid_token',
        reason: 'proxy_certificate_untrusted',
      },
    );
  });

  await t.test('a weak CA key or an expired intermediate refuses the leaf', async (t) => {
    const res = await call(await leafOf(weak), clientCert(weak.der));
    await expectRejection(t, f, res, {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_not_allowed',
    });
    t.match(res.json().error_description, /a CA of the chain has an RSA key of 1024 bits/);
    await expectRejection(t, f, await call(await leafOf(expired), clientCert(expired.der)), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_expired',
    });
  });

  await t.test('malformed, oversized or orphan chains', async (t) => {
    const one = clientCert(intermediate.der);
    for (const bad of [`${one},`, `${one},,${one}`, `${one};a=1`, 'garbage', `${one} ${one}`, ':AAAA:']) {
      const res = await call(client, bad);
      await expectRejection(t, f, res, {
        status: 400,
        error: 'invalid_request',
        reason: 'proxy_certificate_malformed',
      });
      t.match(res.json().error_description, /Client-Cert-Chain/);
    }
    const nine = Array.from({ length: 9 }, () => one).join(', ');
    await expectRejection(t, f, await call(client, nine), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_not_allowed',
    });
    const orphan = await viaProxy(f, { token: await f.token({ bindTo: f.pki.clientA }), chain: one });
    await expectRejection(t, f, orphan, {
      status: 400,
      error: 'invalid_request',
      reason: 'proxy_certificate_malformed',
    });
    t.match(orphan.json().error_description, /Client-Cert-Chain without Client-Cert/);
  });

  await t.test('each pair of values is validated once', async (t) => {
    const fresh = await leafOf(intermediate);
    const misses = await cacheCount(f, 'miss');
    for (let i = 0; i < 3; i++) expectForwarded(t, f, await call(fresh, clientCert(intermediate.der)), fresh);
    t.equal(await cacheCount(f, 'miss'), misses + 1, 'validated once');
    // The same certificate with another chain is another pair: validated on its own.
    await expectRejection(t, f, await call(fresh, clientCert(upper.der)), {
      status: 401,
      error: 'invalid_token',
      reason: 'proxy_certificate_untrusted',
    });
    t.equal(await cacheCount(f, 'miss'), misses + 2);
    expectForwarded(t, f, await call(fresh, clientCert(intermediate.der)), fresh);
    t.equal(await cacheCount(f, 'miss'), misses + 2, 'the first pair is still cached');
  });

  await t.test('a token bound to another certificate is refused with a valid chain', async (t) => {
    const res = await viaProxy(f, {
      token: await f.token({ bindTo: f.pki.clientA }),
      clientCert: clientCert(client.der),
      chain: clientCert(intermediate.der),
    });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'binding_mismatch' });
  });
});
