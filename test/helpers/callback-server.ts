/**
 * A relying party's redirect_uri for tests: an HTTPS loopback server (test PKI certificate) that records
 * what arrives at /cb (query, or the form_post body) and answers with a small page.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TestPki } from './pki.js';

export interface CallbackHit {
  method: string;
  url: string;
  /** Form body parameters of a POST (form_post response modes). */
  form: URLSearchParams;
}

export interface CallbackServer {
  /** The redirect_uri to register: https://127.0.0.1:PORT/cb */
  redirectUri: string;
  hits: CallbackHit[];
  close(): Promise<void>;
}

export async function startCallbackServer(pki: TestPki): Promise<CallbackServer> {
  const hits: CallbackHit[] = [];
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hits.push({
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        form: new URLSearchParams(Buffer.concat(chunks).toString('utf8')),
      });
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!doctype html><title>Relying party</title><h1>Callback received</h1>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUri: `https://127.0.0.1:${port}/cb`,
    hits,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
