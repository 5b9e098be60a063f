/**
 * The plain-HTTP admin listener: /metrics (Prometheus text format), /healthz (liveness), /readyz.
 * Probes stay open (the kubelet sends no credentials); /metrics can require a bearer token or basic
 * credentials, read once from files (Prometheus' `authorization.credentials_file` / `basic_auth`).
 */
import http from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { GatewayConfig } from './config.js';
import { StartupError } from './startup-error.js';

export interface AdminSources {
  metrics(): Promise<{ contentType: string; body: string }>;
  ready(): boolean;
  /** Checks a /metrics request's Authorization header; absent: /metrics is open. */
  metricsAuthorized?: (authorization: string | undefined) => boolean;
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

function readSecret(key: string, file: string): string {
  try {
    const value = readFileSync(file, 'utf8').trim();
    if (value === '') throw new Error('empty');
    return value;
  } catch (err) {
    throw new StartupError(key, `cannot read a non-empty secret from ${file} (${(err as Error).message})`);
  }
}

/**
 * The Authorization check for /metrics built from `admin.metricsAuth`, or undefined when it is off.
 * Comparison is over SHA-256 digests with timingSafeEqual: constant time whatever the lengths.
 */
export function metricsAuthorization(
  admin: GatewayConfig['admin'],
): ((authorization: string | undefined) => boolean) | undefined {
  const auth = admin.metricsAuth;
  if (auth === undefined) return undefined;
  const expected =
    auth.bearerTokenFile !== undefined
      ? `Bearer ${readSecret('admin.metricsAuth.bearerTokenFile', auth.bearerTokenFile)}`
      : `Basic ${Buffer.from(
          `${auth.basic!.username}:${readSecret('admin.metricsAuth.basic.passwordFile', auth.basic!.passwordFile)}`,
        ).toString('base64')}`;
  const want = digest(expected);
  return (authorization) => authorization !== undefined && timingSafeEqual(digest(authorization), want);
}

export function createAdminServer(sources: AdminSources): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, {
        'content-type': 'text/plain; charset=utf-8',
        'cache-control': 'no-store',
        ...headers,
      });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed\n');
    if (path === '/healthz') return text(200, 'ok\n');
    if (path === '/readyz')
      return sources.ready() ? text(200, 'ready\n') : text(503, 'not ready: signing keys not loaded\n');
    if (path === '/metrics') {
      if (sources.metricsAuthorized && !sources.metricsAuthorized(req.headers.authorization)) {
        return text(401, 'credentials required for /metrics\n', {
          'www-authenticate': 'Bearer realm="fapi-gateway-admin", Basic realm="fapi-gateway-admin"',
        });
      }
      sources.metrics().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType, 'cache-control': 'no-store' });
          res.end(body);
        },
        (err: Error) => text(500, `metrics unavailable: ${err.message}\n`),
      );
      return;
    }
    text(404, 'not found\n');
  });
}
