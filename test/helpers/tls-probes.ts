/** Raw TLS probes for listener tests: a renegotiation attempt, an idle TCP connection, a held mTLS connection. */
import net from 'node:net';
import tls from 'node:tls';
import type { ClientCredential } from './tls-client.js';

/**
 * Connects with TLS 1.2, then asks to renegotiate; resolves with whether the server allowed it. A server
 * with renegotiation off answers with a no_renegotiation warning that OpenSSL clients wait past, so a
 * renegotiation not done within `waitMs` counts as refused (an allowed one takes milliseconds).
 */
export function renegotiationAllowed(o: {
  port: number;
  caPem: string;
  client?: ClientCredential;
  waitMs?: number;
}): Promise<{ connected: boolean; renegotiated: boolean }> {
  return new Promise((resolve) => {
    let settled = false;
    let connected = false;
    const done = (r: { connected: boolean; renegotiated: boolean }) => {
      if (settled) return;
      settled = true;
      clearTimeout(waiting);
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
      maxVersion: 'TLSv1.2',
    });
    socket.setTimeout(20_000, () => done({ connected, renegotiated: false }));
    let waiting: NodeJS.Timeout | undefined;
    socket.on('secureConnect', () => {
      connected = true;
      waiting = setTimeout(() => done({ connected, renegotiated: false }), o.waitMs ?? 3000);
      const started = socket.renegotiate({ rejectUnauthorized: true }, (err) =>
        done({ connected, renegotiated: err === null }),
      );
      if (!started) done({ connected, renegotiated: false });
    });
    socket.on('error', () => done({ connected, renegotiated: false }));
    socket.on('close', () => done({ connected, renegotiated: false }));
  });
}

/** A TCP connection that never sends a byte; resolves `closed` when the server closes it. */
export function silentConnection(port: number): { closed: Promise<void>; destroy(): void } {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { closed, destroy: () => socket.destroy() };
}

/** An mTLS connection held open after its handshake (for connection-cap tests). */
export function heldConnection(o: {
  port: number;
  caPem: string;
  client: ClientCredential;
}): Promise<{ ok: boolean; close(): Promise<void> }> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port: o.port,
      servername: 'localhost',
      ca: o.caPem,
      cert: o.client.certPem,
      key: o.client.keyPem,
    });
    const closed = new Promise<void>((r) => socket.on('close', () => r()));
    const close = () => {
      socket.destroy();
      return closed;
    };
    socket.on('secureConnect', () => resolve({ ok: true, close }));
    socket.on('error', () => resolve({ ok: false, close }));
  });
}

/** Polls `probe` until it returns true (no timing margins: the test's own timeout bounds it). */
export async function eventually(probe: () => Promise<boolean> | boolean, intervalMs = 25): Promise<void> {
  while (!(await probe())) await new Promise((r) => setTimeout(r, intervalMs));
}
