import t from 'tap';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { startGatewayFixture } from '../helpers/gateway.js';
import { expectRejection } from '../helpers/gateway-assertions.js';

t.test('a resumed TLS session still binds tokens to the certificate of the original handshake', async (t) => {
  const f = await startGatewayFixture(t);
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    await t.test(maxVersion, async (t) => {
      // keepAlive off: every request is a new connection, resumed from the agent's session cache.
      const agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
      t.teardown(() => agent.destroy());
      const token = await f.token();
      const send = (client = f.pki.clientA) =>
        new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
          https
            .get(
              {
                host: '127.0.0.1',
                port: f.gateway.listenPort,
                servername: 'localhost',
                path: '/accounts',
                agent,
                maxVersion,
                ca: f.pki.ca.certPem,
                cert: client.certPem,
                key: client.keyPem,
                headers: { authorization: `Bearer ${token}` },
              },
              (res) => {
                const reused = (res.socket as TLSSocket).isSessionReused();
                res.resume();
                res.on('end', () => resolve({ status: res.statusCode ?? 0, reused }));
              },
            )
            .on('error', reject);
        });
      const first = await send();
      t.equal(first.status, 200);
      let resumed = await send();
      for (let i = 0; i < 3 && !resumed.reused; i++) resumed = await send();
      t.ok(resumed.reused, 'the session was resumed');
      t.equal(resumed.status, 200, 'binding still verified on a resumed session');
      f.upstream.reset();
    });
  }
  await t.test("client B's resumed session never carries A's identity", async (t) => {
    const agent = new https.Agent({ keepAlive: false });
    t.teardown(() => agent.destroy());
    const tokenOfA = await f.token();
    const get = () => f.request({ client: f.pki.clientB, token: tokenOfA, agent });
    await expectRejection(t, f, await get(), {
      status: 401,
      error: 'invalid_token',
      reason: 'binding_mismatch',
    });
    await expectRejection(t, f, await get(), {
      status: 401,
      error: 'invalid_token',
      reason: 'binding_mismatch',
    });
  });
});
