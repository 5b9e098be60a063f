/**
 * The legacy API every target forwards to: a minimal node:http server answering a small JSON body
 * (POST bodies are read to the end first). Run as its own process so it can be pinned; prints
 * `{"port":N}` once listening on 127.0.0.1.
 */
import http from 'node:http';
import { pathToFileURL } from 'node:url';

const BODY = Buffer.from(
  JSON.stringify({ accounts: [{ id: 'acc-1', currency: 'EUR', balance: '1024.00' }] }),
);
const HEADERS = { 'content-type': 'application/json', 'content-length': String(BODY.length) };

export function createUpstream(): http.Server {
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' || req.method === 'HEAD') {
      res.writeHead(200, HEADERS).end(BODY);
      return;
    }
    req.on('data', () => undefined);
    req.on('end', () => res.writeHead(200, HEADERS).end(BODY));
  });
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  server.maxHeadersCount = 100;
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = createUpstream();
  server.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address === 'object')
      process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
  });
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}
