import t from 'tap';
import { readFileSync } from 'node:fs';
import { startGatewayFixture } from '../helpers/gateway.js';
import { fetchText } from '../helpers/metrics-text.js';
import { ALL_REJECTION_REASONS } from '../../src/gateway/rejections.js';

const CONTRACT_METRICS = [
  'fapi_gateway_requests_total',
  'fapi_gateway_rejections_total',
  'fapi_gateway_request_duration_seconds',
  'fapi_gateway_upstream_duration_seconds',
  'fapi_gateway_upstream_errors_total',
  'fapi_gateway_jwks_fetches_total',
  'fapi_gateway_jwks_age_seconds',
  'fapi_gateway_jwks_keys',
  'fapi_gateway_tls_handshake_failures_total',
  'fapi_gateway_open_connections',
  'fapi_gateway_certificate_expiry_timestamp_seconds',
  'fapi_gateway_config_reloads_total',
  'fapi_gateway_up',
  'fapi_gateway_ready',
  'fapi_gateway_token_cache_hits_total',
];

t.test(
  '/metrics exposes every contract metric, every rejection reason and certificate expiries',
  async (t) => {
    const f = await startGatewayFixture(t);
    const token = await f.token();
    await f.request({ token });
    await f.request({ token });
    const text = await f.metricsText();
    for (const name of CONTRACT_METRICS) t.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
    for (const reason of ALL_REJECTION_REASONS) {
      t.match(text, `fapi_gateway_rejections_total{reason="${reason}",client_id="unknown"} 0`, reason);
    }
    t.equal(await f.metric('fapi_gateway_token_cache_hits_total'), 1, 'the second request used the cache');
    t.equal(await f.metric('fapi_gateway_open_connections'), 0, 'each test request closed its connection');
    const serverExpiry = await f.metric('fapi_gateway_certificate_expiry_timestamp_seconds', {
      kind: 'server',
    });
    t.equal(serverExpiry, Math.floor(f.pki.server.cert.notAfter.getTime() / 1000));
    t.match(
      text,
      /fapi_gateway_certificate_expiry_timestamp_seconds\{kind="client_ca",subject="[^"]*CN=Test CA[^"]*"\}/,
    );
    t.match(
      text,
      /fapi_gateway_request_duration_seconds_bucket\{le="0\.005",route="\/accounts",outcome="forwarded"\}/,
    );
    t.equal((await fetchText(f.gateway.adminPort, '/healthz')).status, 200);
    t.equal((await fetchText(f.gateway.adminPort, '/readyz')).status, 200);
    t.equal((await fetchText(f.gateway.adminPort, '/nope')).status, 404);
  },
);

t.test('docs/metrics.md documents every rejection reason and every metric', (t) => {
  const page = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  for (const reason of ALL_REJECTION_REASONS) t.ok(page.includes(`| \`${reason}\` |`), reason);
  for (const name of CONTRACT_METRICS) t.ok(page.includes(name), name);
  t.end();
});
