/**
 * The issuer's one refusal table: every reason is a metric series from the start, a refusal takes its
 * error code and status from its reason, and the one renderer answers RFC 6749 §5.2 JSON or a page.
 */
import t from 'tap';
import { OAuthError, StoreUnavailableError, invalidClient } from '../../src/issuer/errors.js';
import { createIssuerMetrics } from '../../src/issuer/metrics.js';
import { ISSUER_REFUSALS, ISSUER_REFUSAL_REASONS } from '../../src/issuer/refusals.js';
import { renderOAuthError, renderRefusalPage } from '../../src/issuer/steps/render-error.js';

t.test(
  'every reason of the table is a fapi_issuer_refusals_total series at 0 before any request',
  async (t) => {
    const metrics = createIssuerMetrics();
    const text = await metrics.registry.metrics();
    for (const reason of ISSUER_REFUSAL_REASONS)
      t.match(text, `fapi_issuer_refusals_total{reason="${reason}"} 0`, reason);
    t.ok(ISSUER_REFUSAL_REASONS.length > 90, `${ISSUER_REFUSAL_REASONS.length} reasons`);
  },
);

t.test('a refusal takes its error code and status from its reason', (t) => {
  for (const reason of ISSUER_REFUSAL_REASONS) {
    const err = new OAuthError(reason, 'why');
    t.equal(err.error, ISSUER_REFUSALS[reason].error, reason);
    t.equal(err.status, ISSUER_REFUSALS[reason].status, reason);
  }
  t.end();
});

t.test(
  'JSON answer: RFC 6749 §5.2 body, no-store, Basic challenge only after the Authorization header',
  (t) => {
    const header = renderOAuthError(invalidClient('unknown client', 'unknown_client', true));
    t.equal(header.status, 401);
    t.same(header.body, { error: 'invalid_client', error_description: 'unknown client' });
    t.equal(header.headers?.['WWW-Authenticate'], 'Basic realm="fapi-issuer"');
    t.equal(header.headers?.['Cache-Control'], 'no-store');
    const body = renderOAuthError(invalidClient('unknown client', 'unknown_client'));
    t.equal(body.headers?.['WWW-Authenticate'], undefined);
    const store = renderOAuthError(new StoreUnavailableError('get'));
    t.equal(store.status, 503);
    t.equal(store.headers?.['Retry-After'], '2');
    t.match(store.body, { error: 'temporarily_unavailable' });
    t.end();
  },
);

t.test('page answer: the status and code of the reason, the description escaped', (t) => {
  const page = renderRefusalPage(new OAuthError('authorization_invalid_request', '<script>x</script>'));
  t.equal(page.status, 400);
  t.match(page.body, 'data-error="invalid_request"');
  t.notMatch(page.body, '<script>x');
  t.end();
});
