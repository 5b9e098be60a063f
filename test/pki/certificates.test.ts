import t from 'tap';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { testPki } from '../helpers/pki.js';

t.test(
  'a CA-issued client certificate completes a mutual-TLS handshake and its thumbprint matches',
  async (t) => {
    const pki = await testPki();
    const server = https.createServer(
      {
        cert: pki.server.certPem,
        key: pki.server.keyPem,
        ca: pki.ca.certPem,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        res.end(peer.raw.toString('base64'));
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.teardown(() => server.close());
    const { port } = server.address() as AddressInfo;
    const body = await new Promise<string>((resolve, reject) => {
      https
        .get(
          {
            host: '127.0.0.1',
            port,
            path: '/',
            ca: pki.ca.certPem,
            cert: pki.clientA.certPem,
            key: pki.clientA.keyPem,
            servername: 'localhost',
          },
          (res) => {
            let b = '';
            res.on('data', (c: Buffer) => (b += c.toString()));
            res.on('end', () => resolve(b));
          },
        )
        .on('error', reject);
    });
    t.equal(Buffer.from(body, 'base64').toString('base64'), pki.clientA.der.toString('base64'));
    t.match(pki.clientA.thumbprint, /^[A-Za-z0-9_-]{43}$/);
    t.not(pki.clientA.thumbprint, pki.clientB.thumbprint);
  },
);
