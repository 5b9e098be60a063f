/**
 * A JWKS endpoint over HTTPS (test PKI server certificate) that counts fetches, can publish new keys
 * (rotation) and can go down (answers 503) to test serving from cache.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { JWK } from 'jose';
import type { TestPki } from './pki.js';

export interface JwksServer {
  /** `https://localhost:PORT/jwks` */
  url: string;
  readonly fetches: number;
  keys: JWK[];
  setKeys(keys: JWK[]): void;
  /** While down, the endpoint answers 503. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export async function startJwksServer(pki: Pick<TestPki, 'server'>, keys: JWK[]): Promise<JwksServer> {
  let current = [...keys];
  let down = false;
  let fetches = 0;
  const server = https.createServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (req, res) => {
    fetches++;
    if (down) {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('down');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys: current }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://localhost:${port}/jwks`,
    get fetches() {
      return fetches;
    },
    get keys() {
      return current;
    },
    setKeys(k) {
      current = [...k];
    },
    setDown(d) {
      down = d;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
