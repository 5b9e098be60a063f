// test:unit
import t, { type Test } from 'tap';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { JwksCache } from '../../src/gateway/jwks-cache.js';
import { testPki } from '../helpers/pki.js';

/**
 * A JWKS endpoint that answers 200 and then sends one byte at a time, never finishing: the socket is never
 * idle, so only a deadline over the whole fetch ends it.
 */
async function startDrippingJwks(t: Test): Promise<{ uri: string; caPem: string }> {
  const pki = await testPki();
  const timers = new Set<NodeJS.Timeout>();
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const timer = setInterval(() => res.write(' '), 50);
    timers.add(timer);
    res.on('close', () => {
      clearInterval(timer);
      timers.delete(timer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const timer of timers) clearInterval(timer);
    server.closeAllConnections();
    server.close();
  });
  const { port } = server.address() as AddressInfo;
  return { uri: `https://localhost:${port}/jwks`, caPem: pki.ca.certPem };
}

t.test('a JWKS endpoint that drips bytes is abandoned at the fetch deadline, not held open', async (t) => {
  const { uri, caPem } = await startDrippingJwks(t);
  const results: string[] = [];
  const cache = new JwksCache({
    uri,
    extraCaPem: caPem,
    cooldownSeconds: 0,
    refreshSeconds: 60,
    fetchTimeoutMs: 300,
    logger: pino({ level: 'silent' }),
    onFetch: (result) => results.push(result),
  });
  t.teardown(() => cache.stop());
  const outcome = await Promise.race([
    cache.refetchOnUnknownKid().then(() => 'settled'),
    new Promise((resolve) => setTimeout(resolve, 5000, 'still waiting').unref()),
  ]);
  t.equal(outcome, 'settled', 'the fetch ends although bytes keep arriving');
  t.same(results, ['failure'], 'counted as a failed fetch');
  t.equal(cache.ready, false, 'no keys from a document that never finished');
});
