/**
 * CIBA metrics (prefix `fapi_issuer_`). Label values come from closed sets (modes, error codes of CIBA
 * §11/§13, decisions, delivery results), never from request input.
 */
import { Counter, type Registry } from 'prom-client';

export interface CibaMetrics {
  requests: Counter<'mode' | 'outcome'>;
  polls: Counter<'outcome'>;
  decisions: Counter<'decision'>;
  notifications: Counter<'mode' | 'result'>;
  limited: Counter<'limit'>;
}

export function createCibaMetrics(registry: Registry): CibaMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => {
    const existing = registry.getSingleMetric(name);
    if (existing) return existing as Counter<L>;
    return new Counter<L>({ name, help, labelNames, registers: [registry] });
  };
  return {
    requests: counter(
      'fapi_issuer_ciba_authentication_requests_total',
      'Backchannel authentication requests by delivery mode and outcome (accepted or the CIBA §13 error code).',
      ['mode', 'outcome'],
    ),
    polls: counter(
      'fapi_issuer_ciba_token_requests_total',
      'Token requests with the CIBA grant by outcome (issued or the CIBA §11 error code).',
      ['outcome'],
    ),
    decisions: counter(
      'fapi_issuer_ciba_decisions_total',
      'Decisions taken on the authentication device (approve, deny).',
      ['decision'],
    ),
    notifications: counter(
      'fapi_issuer_ciba_notifications_total',
      'Ping and push notification attempts by result: delivered, failed (will retry) or abandoned (gave up at expiry or shutdown).',
      ['mode', 'result'],
    ),
    limited: counter(
      'fapi_issuer_ciba_limited_total',
      'Backchannel authentication requests refused by a limit: user_pending, client_pending or client_rate.',
      ['limit'],
    ),
  };
}
