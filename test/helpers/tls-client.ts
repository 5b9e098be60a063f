/** mTLS client helpers: one request over a fresh connection, or just a handshake, with any client certificate. */
import https from 'node:https';
import tls from 'node:tls';
import type { IncomingHttpHeaders } from 'node:http';

export interface ClientCredential {
  certPem: string;
  keyPem: string;
}

export interface MtlsRequestOptions {
  port: number;
  host?: string;
  /** CA that signed the server certificate. */
  caPem: string;
  /** Client certificate; omit to connect without one. */
  client?: ClientCredential;
  method?: string;
  path?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Extra TLS options (versions, ciphers) for negative handshake tests. */
  tlsOptions?: tls.ConnectionOptions;
  /** Reuse connections (keep-alive). Default: a fresh connection per request. */
  agent?: https.Agent;
  timeoutMs?: number;
}

export interface TestResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** Header lines as received (name, value, name, value...): repeated headers stay separate. */
  rawHeaders: string[];
  body: string;
  json(): Record<string, unknown>;
}

export function mtlsRequest(o: MtlsRequestOptions): Promise<TestResponse> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: o.host ?? '127.0.0.1',
        port: o.port,
        servername: 'localhost',
        method: o.method ?? 'GET',
        path: o.path ?? '/',
        headers: o.headers,
        ca: o.caPem,
        cert: o.client?.certPem,
        key: o.client?.keyPem,
        agent: o.agent ?? false,
        timeout: o.timeoutMs ?? 30_000,
        ...o.tlsOptions,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            rawHeaders: res.rawHeaders,
            body,
            json: () => JSON.parse(body) as Record<string, unknown>,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(o.body);
  });
}

export interface HandshakeResult {
  ok: boolean;
  protocol?: string | null;
  cipher?: string;
  /** SHA-256 fingerprint of the server certificate presented. */
  serverFingerprint?: string;
  error?: string;
}

/**
 * Completes a TLS handshake and one HTTP request round trip (TLS 1.3 reports a missing or refused client
 * certificate only after the handshake, when the server's alert arrives), then closes.
 */
export function tlsHandshake(o: {
  port: number;
  caPem: string;
  client?: ClientCredential;
  options?: tls.ConnectionOptions;
}): Promise<HandshakeResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: HandshakeResult) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolve(r);
    };
    const socket = tls.connect({
      host: '127.0.0.1',
      port: o.port,
      servername: 'localhost',
      ca: o.caPem,
      cert: o.client?.certPem,
      key: o.client?.keyPem,
      ...o.options,
    });
    socket.setTimeout(10_000, () => done({ ok: false, error: 'timeout' }));
    socket.on('secureConnect', () => {
      socket.write('GET /__handshake HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    let received = '';
    socket.on('data', (d: Buffer) => {
      received += d.toString('latin1');
      if (received.includes('\r\n\r\n'))
        done({
          ok: true,
          protocol: socket.getProtocol(),
          cipher: socket.getCipher()?.name,
          serverFingerprint: socket.getPeerX509Certificate()?.fingerprint256,
        });
    });
    socket.on('error', (err: Error & { code?: string }) =>
      done({ ok: false, error: err.code ?? err.message }),
    );
    socket.on('close', () => done({ ok: false, error: 'closed' }));
  });
}
