/** The plain-HTTP admin listener: /metrics (Prometheus text format), /healthz (liveness), /readyz. */
import http from 'node:http';

export interface AdminSources {
  metrics(): Promise<{ contentType: string; body: string }>;
  ready(): boolean;
}

export function createAdminServer(sources: AdminSources): http.Server {
  return http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const text = (status: number, body: string) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'method not allowed\n');
    if (path === '/healthz') return text(200, 'ok\n');
    if (path === '/readyz')
      return sources.ready() ? text(200, 'ready\n') : text(503, 'not ready: signing keys not loaded\n');
    if (path === '/metrics') {
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
