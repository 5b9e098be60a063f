/** The issuer's plain-HTTP admin listener: `/metrics` (Prometheus text), `/healthz`, `/readyz`. */
import http from 'node:http';
import type { IssuerMetrics } from './metrics.js';

export function createAdminServer(metrics: IssuerMetrics, isReady: () => Promise<boolean>): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (path === '/healthz') return send(200, 'ok\n');
    if (path === '/readyz') {
      isReady().then(
        (ready) => {
          metrics.ready.set(ready ? 1 : 0);
          send(ready ? 200 : 503, ready ? 'ready\n' : 'not ready\n');
        },
        () => send(503, 'not ready\n'),
      );
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => send(200, text, metrics.registry.contentType),
        () => send(500, 'metrics unavailable\n'),
      );
      return;
    }
    send(404, 'not found\n');
  });
}
