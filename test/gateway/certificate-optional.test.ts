import t from 'tap';
import https from 'node:https';
import tls from 'node:tls';
import { startGatewayFixture, DEFAULT_ROUTES } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';
import { mtlsRequest } from '../helpers/tls-client.js';
import { createDpopKey, mintDpopProof } from '../helpers/dpop.js';
import { htuFor } from '../helpers/dpop-gateway.js';

/** Resolves true when a TLS 1.3 handshake (and the server's verdict after it) succeeds. */
function handshake(
  port: number,
  caPem: string,
  client?: { certPem: string; keyPem: string },
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: caPem,
      ...(client ? { cert: client.certPem, key: client.keyPem } : {}),
    });
    socket.once('secureConnect', () => {
      // TLS 1.3: the server's refusal of the certificate arrives after the client's handshake ends.
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    });
    socket.once('data', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('close', () => resolve(false));
  });
}

t.test('only mTLS routes: the listener requires a client certificate', async (t) => {
  const f = await startGatewayFixture(t);
  t.equal(await handshake(f.gateway.listenPort, f.pki.ca.certPem), false, 'no certificate: refused');
  t.equal(await handshake(f.gateway.listenPort, f.pki.ca.certPem, f.pki.clientA), true);
});

t.test('a route accepting DPoP: a certificate is requested, not required', async (t) => {
  const f = await startGatewayFixture(t, {
    routes: [...DEFAULT_ROUTES, { path: '/dpop', methods: ['GET'], scopes: [], binding: 'dpop' }],
  });
  t.equal(await handshake(f.gateway.listenPort, f.pki.ca.certPem), true, 'no certificate: connects');
  t.equal(await handshake(f.gateway.listenPort, f.pki.ca.certPem, f.pki.clientA), true, 'trusted: connects');
  t.equal(
    await handshake(f.gateway.listenPort, f.pki.ca.certPem, f.pki.untrusted),
    false,
    'a presented certificate must still chain to tls.clientCa',
  );
  await t.test('an mTLS route refuses the certificate-less call: 401, never forwarded', async (t) => {
    const res = await mtlsRequest({
      port: f.gateway.listenPort,
      caPem: f.pki.ca.certPem,
      path: '/accounts',
      headers: { authorization: `Bearer ${await f.token()}` },
    });
    await expectRejection(t, f, res, { status: 401, error: 'invalid_token', reason: 'certificate_missing' });
  });
  await t.test('positive control: the same call with the certificate is forwarded', async (t) => {
    const res = await f.request({ token: await f.token() });
    t.equal(res.status, 200);
  });
});

t.test('one TLS connection without a certificate: DPoP route forwarded, mTLS route refused', async (t) => {
  const f = await startGatewayFixture(t, {
    routes: [...DEFAULT_ROUTES, { path: '/dpop', methods: ['GET'], scopes: [], binding: 'dpop' }],
  });
  // One keep-alive socket: both calls travel over the same certificate-less TLS connection.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  let connections = 0;
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (...args: Parameters<typeof create>) => {
    connections++;
    return create(...args);
  };
  const call = (path: string, headers: Record<string, string>) =>
    mtlsRequest({ port: f.gateway.listenPort, caPem: f.pki.ca.certPem, agent, path, headers });

  const key = await createDpopKey('ES256');
  const dpopToken = await f.token({ bindTo: null, claims: { cnf: { jkt: key.jkt } } });
  const proof = await mintDpopProof(key, { htu: htuFor(f, '/dpop'), accessToken: dpopToken });
  const forwarded = await call('/dpop', { authorization: `DPoP ${dpopToken}`, dpop: proof });
  t.equal(forwarded.status, 200, `DPoP-bound token forwarded without a certificate: ${forwarded.body}`);
  t.equal(f.upstream.hits, 1);
  t.equal(f.upstream.last()?.headers['client-cert'], undefined, 'no Client-Cert sent upstream');
  f.upstream.reset();

  const refused = await call('/accounts', { authorization: `Bearer ${await f.token()}` });
  await expectRejection(t, f, refused, {
    status: 401,
    error: 'invalid_token',
    reason: 'certificate_missing',
  });
  t.equal(connections, 1, 'both calls used one connection');
});
