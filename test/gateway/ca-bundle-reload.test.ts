import t from 'tap';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTestPki } from '../helpers/pki.js';
import { startJwksServer } from '../helpers/jwks-server.js';
import { startGatewayFixture } from '../helpers/gateway.js';
import { mintAccessToken } from '../helpers/tokens.js';

t.test('a reload with the same configuration picks up a changed tokens.jwksCa file', async (t) => {
  // The JWKS endpoint's certificate comes from another CA than the one tokens.jwksCa names at start.
  const other = await createTestPki();
  const f0 = await startGatewayFixture(t, {}, { waitForReady: true });
  const jwks = await startJwksServer(other, [f0.key.publicJwk]);
  t.teardown(() => jwks.close());
  const caFile = path.join(other.dir, 'jwks-ca-bundle.pem');
  writeFileSync(caFile, f0.pki.ca.certPem);
  const f = await startGatewayFixture(
    t,
    { tokens: { jwksUri: jwks.url, jwksCa: caFile, jwksCooldownSeconds: 0 } },
    { waitForReady: false },
  );
  t.equal(f.gateway.ready(), false, 'the JWKS endpoint is not trusted with the old bundle');

  writeFileSync(caFile, other.ca.certPem);
  f.gateway.reload(f.config);
  await f.gateway.whenReady();
  t.equal(f.gateway.ready(), true, 'the rebuilt JWKS cache trusts the new bundle');
  const res = await f.request({
    token: await mintAccessToken(f0.key, { thumbprint: f.pki.clientA.thumbprint }),
  });
  t.equal(res.status, 200, 'tokens verify with keys fetched through the new bundle');
});
