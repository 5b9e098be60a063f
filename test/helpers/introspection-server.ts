/**
 * A stub authorization server's RFC 7662 introspection endpoint over HTTPS (test PKI), for the gateway's
 * opaque-token tests. It authenticates the gateway as a real server would (the mTLS certificate's
 * thumbprint, the private_key_jwt assertion's signature, audience and fresh jti, or the Basic secret),
 * answers from a table of tokens, counts calls, and can fail in each way an endpoint fails.
 */
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { jwtVerify, type CryptoKey, type KeyObject } from 'jose';
import { certificateThumbprint } from '../../src/pki/thumbprint.js';
import type { TestPki } from './pki.js';

/** What the endpoint serves with: its certificate and the CA client certificates must chain to. */
export type IntrospectionStubPki = {
  server: Pick<TestPki['server'], 'certPem' | 'keyPem'>;
  ca: Pick<TestPki['ca'], 'certPem'>;
};

export type ExpectedClientAuth =
  | { method: 'tls_client_auth'; clientId: string; thumbprint: string }
  | { method: 'private_key_jwt'; clientId: string; publicKey: CryptoKey | KeyObject; audience: string }
  | { method: 'client_secret_basic'; clientId: string; secret: string };

/** How the endpoint misbehaves: answers normally, or fails in one of the ways the gateway must survive. */
export type StubMode =
  | 'normal'
  /** Accepts the request and never answers. */
  | 'hang'
  /** Sends 200 headers, then one byte of body every 100 ms, forever. */
  | 'drip'
  /** Closes the connection without an answer. */
  | 'reset'
  | 'status_500'
  | 'not_json'
  /** A JSON object without a boolean `active` ("true" as a string). */
  | 'no_boolean_active'
  /** A JSON answer larger than any introspection answer. */
  | 'huge';

export interface IntrospectionCallRecord {
  token: string;
  /** Why client authentication failed, undefined when it succeeded. */
  authProblem?: string;
  /** The client_assertion's jti (private_key_jwt). */
  jti?: string;
  form: URLSearchParams;
}

export interface IntrospectionStub {
  /** `https://localhost:PORT/introspect` */
  url: string;
  readonly calls: IntrospectionCallRecord[];
  /** Answer for a token; unknown tokens answer `{active: false}`. */
  setAnswer(token: string, answer: Record<string, unknown>): void;
  setMode(mode: StubMode): void;
  /** Requests wait (unanswered) until release(). */
  hold(): void;
  release(): void;
  close(): Promise<void>;
}

export async function startIntrospectionStub(
  pki: IntrospectionStubPki,
  expected: ExpectedClientAuth,
): Promise<IntrospectionStub> {
  const answers = new Map<string, Record<string, unknown>>();
  const calls: IntrospectionCallRecord[] = [];
  const seenJtis = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  let mode: StubMode = 'normal';
  let held: (() => void)[] | undefined;

  async function authenticate(
    socket: TLSSocket,
    headers: Record<string, string | string[] | undefined>,
    form: URLSearchParams,
    record: IntrospectionCallRecord,
  ): Promise<string | undefined> {
    switch (expected.method) {
      case 'tls_client_auth': {
        const peer = socket.getPeerCertificate();
        if (!peer?.raw) return 'no client certificate';
        if (!socket.authorized) return 'the client certificate does not chain to the CA';
        if (certificateThumbprint(peer.raw) !== expected.thumbprint) return 'unexpected client certificate';
        if (form.get('client_id') !== expected.clientId) return 'client_id missing or wrong';
        return undefined;
      }
      case 'private_key_jwt': {
        if (form.get('client_assertion_type') !== 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer')
          return 'wrong client_assertion_type';
        const assertion = form.get('client_assertion');
        if (assertion === null) return 'no client_assertion';
        try {
          const { payload } = await jwtVerify(assertion, expected.publicKey, {
            issuer: expected.clientId,
            subject: expected.clientId,
            audience: expected.audience,
            algorithms: ['PS256', 'ES256'],
            maxTokenAge: 120,
          });
          if (typeof payload.jti !== 'string') return 'no jti';
          record.jti = payload.jti;
          if (seenJtis.has(payload.jti)) return 'jti replayed';
          seenJtis.add(payload.jti);
          if (typeof payload.exp !== 'number') return 'no exp';
        } catch (err) {
          return `assertion: ${(err as Error).message}`;
        }
        return undefined;
      }
      case 'client_secret_basic': {
        // RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
        const header = headers.authorization;
        if (typeof header !== 'string' || !header.startsWith('Basic ')) return 'no Basic credentials';
        const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const unform = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
        const id = unform(decoded.slice(0, colon));
        const secret = unform(decoded.slice(colon + 1));
        return colon > 0 && id === expected.clientId && secret === expected.secret
          ? undefined
          : 'wrong Basic credentials';
      }
    }
  }

  const server = https.createServer(
    {
      cert: pki.server.certPem,
      key: pki.server.keyPem,
      ca: pki.ca.certPem,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
          const record: IntrospectionCallRecord = { token: form.get('token') ?? '', form };
          calls.push(record);
          if (held !== undefined) await new Promise<void>((resolve) => held!.push(resolve));
          record.authProblem = await authenticate(req.socket as TLSSocket, req.headers, form, record);
          if (
            req.method !== 'POST' ||
            !/^application\/x-www-form-urlencoded/.test(req.headers['content-type'] ?? '')
          )
            record.authProblem ??= 'not a form POST';
          if (record.authProblem !== undefined) {
            res.writeHead(401, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ error: 'invalid_client' }));
            return;
          }
          switch (mode) {
            case 'hang':
              return;
            case 'reset':
              req.socket.destroy();
              return;
            case 'status_500':
              res.writeHead(500, { 'content-type': 'text/plain' });
              res.end('internal error');
              return;
            case 'not_json':
              res.writeHead(200, { 'content-type': 'application/json' });
              res.end('<html>oops</html>');
              return;
            case 'no_boolean_active':
              res.writeHead(200, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ active: 'true', client_id: 'client-a' }));
              return;
            case 'huge':
              res.writeHead(200, { 'content-type': 'application/json' });
              res.end(JSON.stringify({ active: true, padding: 'x'.repeat(256 * 1024) }));
              return;
            case 'drip': {
              res.writeHead(200, { 'content-type': 'application/json' });
              res.write('{');
              const timer = setInterval(() => {
                if (res.destroyed) {
                  clearInterval(timer);
                  timers.delete(timer);
                } else res.write(' ');
              }, 100);
              timers.add(timer);
              return;
            }
            case 'normal': {
              res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
              res.end(JSON.stringify(answers.get(record.token) ?? { active: false }));
            }
          }
        })();
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://localhost:${port}/introspect`,
    calls,
    setAnswer(token, answer) {
      answers.set(token, answer);
    },
    setMode(m) {
      mode = m;
    },
    hold() {
      held ??= [];
    },
    release() {
      const waiting = held ?? [];
      held = undefined;
      for (const w of waiting) w();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearInterval(t);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
