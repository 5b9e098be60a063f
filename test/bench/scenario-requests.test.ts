// The requests scenarios (e) and (f) send must be ones the gateway accepts, or the bench would measure
// refusals: every prepared DPoP proof verifies for its request and is used once, and the gateway
// configurations of the bench's targets are valid gateway configurations.
import 'reflect-metadata';
import t from 'tap';
import { readFileSync, rmSync } from 'node:fs';
import { createBenchPki, mintAccessToken } from '../../bench/pki.js';
import { opaqueTokens, scenarioDefinitions } from '../../bench/scenarios.js';
import { gatewayConfig, type Context, type GatewayTargetId } from '../../bench/targets.js';
import type { LoadSpec } from '../../bench/load.js';
import { gatewayConfigSchema } from '../../src/gateway/config.js';
import { verifyDpopProof } from '../../src/dpop/verify-proof.js';
import { MemoryDpopReplayStore } from '../../src/dpop/replay-store.js';
import { createDpopKey } from '../helpers/dpop.js';

t.test('(e): prepared proofs verify for their request, one per request, each with its own jti', async (t) => {
  const pki = await createBenchPki();
  t.teardown(() => rmSync(pki.files.dir, { recursive: true, force: true }));
  const key = await createDpopKey('ES256');
  const token = await mintAccessToken(pki, { jkt: key.jkt });
  const e = scenarioDefinitions({
    tokenSets: [],
    opaqueTokenSets: [],
    dpop: { key, token, dir: pki.files.dir },
  }).find((s) => s.id === 'e')!;
  const url = 'https://127.0.0.1:8443/accounts';
  const base: LoadSpec = {
    url,
    connections: 10,
    durationSeconds: 1,
    settleSeconds: 0,
    maxRequests: 1000,
  };
  const spec = e.spec(base, 0);
  t.equal(spec.scheme, 'DPoP');
  t.equal(spec.token, token);
  const prepared = await e.prepare!(spec, 100);
  const proofs = JSON.parse(readFileSync(prepared.proofsFile!, 'utf8')) as string[];
  t.equal(
    proofs.length,
    100 * 1.3 + 10,
    'enough for the expected rate with a margin, plus one per connection',
  );
  const capped = await e.prepare!({ ...spec, maxRequests: 20 }, 100);
  t.equal(
    (JSON.parse(readFileSync(capped.proofsFile!, 'utf8')) as string[]).length,
    20,
    'never more than maxRequests',
  );

  const replayStore = new MemoryDpopReplayStore({ maxEntries: 1000 });
  const jtis = new Set<string>();
  for (const proof of proofs) {
    const verified = await verifyDpopProof(
      proof,
      { algorithms: ['ES256'], iatWindowSeconds: 60 },
      {
        method: 'GET',
        htu: { origins: ['https://127.0.0.1:8443'], path: '/accounts' },
        now: Date.now() / 1000,
        accessToken: token,
        expectedJkt: key.jkt,
        replayStore,
      },
    );
    t.equal(verified.jkt, key.jkt);
    jtis.add(verified.jti);
  }
  t.equal(jtis.size, proofs.length, 'no proof repeats a jti');
});

t.test('(f): opaque tokens are distinct and not JWTs', (t) => {
  const tokens = opaqueTokens(1000);
  t.equal(new Set(tokens).size, 1000);
  t.ok(tokens.every((tok) => /^[A-Za-z0-9_-]{43}$/.test(tok)));
  t.end();
});

t.test("every gateway target's configuration is a valid gateway configuration", async (t) => {
  const pki = await createBenchPki();
  t.teardown(() => rmSync(pki.files.dir, { recursive: true, force: true }));
  const ctx = {
    pki,
    upstreamPort: 9,
    jwksUrl: 'https://localhost:1/jwks',
    introspectionUrl: 'https://localhost:2/introspect',
    runDir: pki.files.dir,
  } as Context;
  const ids: GatewayTargetId[] = [
    'gateway',
    'gateway-workers',
    'gateway-compare',
    'gateway-dpop',
    'gateway-introspection',
  ];
  for (const id of ids) {
    const parsed = gatewayConfigSchema.safeParse(gatewayConfig(ctx, id, 1, { listen: 1, admin: 2 }));
    t.ok(parsed.success, `${id}: ${parsed.success ? 'valid' : JSON.stringify(parsed.error.issues)}`);
    if (!parsed.success) continue;
    const route = parsed.data.routes[0]!;
    t.equal(route.binding, id === 'gateway-dpop' ? 'dpop' : 'mtls', `${id}: route binding`);
    t.equal(
      parsed.data.tokens.introspection !== undefined,
      id === 'gateway-introspection',
      `${id}: introspection`,
    );
  }
});
