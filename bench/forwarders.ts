/**
 * Three ways a Node.js gateway can forward a request, each behind the same mTLS listener with no token
 * check, so the bench can tell which forwarding library costs least: http-proxy-3, undici's Pool, and a
 * plain node:http request over a keep-alive Agent. Run as its own process (`node forwarders.js MODE
 * UPSTREAM_PORT FILES_JSON`); prints `{"port":N}` once listening on 127.0.0.1.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { Pool } from 'undici';

export const FORWARDER_MODES = ['http-proxy-3', 'undici-request', 'undici-dispatch', 'node-http'] as const;
export type ForwarderMode = (typeof FORWARDER_MODES)[number];

/** RFC 9110 §7.6.1: connection-specific fields are not forwarded. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
  'host',
]);

function forwardableHeaders(raw: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    const existing = out[name];
    if (existing === undefined) out[name] = raw[i + 1]!;
    else out[name] = Array.isArray(existing) ? [...existing, raw[i + 1]!] : [existing, raw[i + 1]!];
  }
  return out;
}

type Listener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export function createForwarder(mode: ForwarderMode, upstreamPort: number): Listener {
  const origin = `http://127.0.0.1:${upstreamPort}`;
  if (mode === 'http-proxy-3') {
    const proxy = createProxyServer({
      target: origin,
      agent: new http.Agent({ keepAlive: true, maxSockets: 256 }),
    });
    proxy.on('error', (_err, _req, res) => {
      if (res instanceof http.ServerResponse && !res.headersSent) res.writeHead(502).end();
    });
    return (req, res) => proxy.web(req, res);
  }
  if (mode === 'undici-dispatch') return undiciDispatchForwarder(origin);
  if (mode === 'undici-request') {
    const pool = new Pool(origin, { connections: 256, pipelining: 1 });
    return (req, res) => {
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
      pool
        .request({
          method: req.method as 'GET',
          path: req.url ?? '/',
          headers: forwardableHeaders(req.rawHeaders),
          body: hasBody ? req : null,
        })
        .then(
          (upstream) => {
            // Node 24's pipeline() throws at once if the client already went away.
            if (res.destroyed) {
              upstream.body.on('error', () => undefined).destroy();
              return;
            }
            res.writeHead(upstream.statusCode, forwardableHeaders(flatten(upstream.headers)));
            pipeline(upstream.body, res, () => undefined);
          },
          () => {
            if (!res.headersSent) res.writeHead(502).end();
          },
        );
    };
  }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  return (req, res) => {
    const upstreamReq = http.request(
      {
        host: '127.0.0.1',
        port: upstreamPort,
        method: req.method,
        path: req.url,
        headers: forwardableHeaders(req.rawHeaders),
        agent,
      },
      (upstreamRes) => {
        if (res.destroyed) {
          upstreamRes.on('error', () => undefined).destroy();
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, forwardableHeaders(upstreamRes.rawHeaders));
        pipeline(upstreamRes, res, () => undefined);
      },
    );
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
    });
    if (req.method === 'GET' || req.method === 'HEAD') upstreamReq.end();
    else req.pipe(upstreamReq);
  };
}

/**
 * undici's lowest level: `dispatch` with a callback handler, no promise and no stream per request; the
 * response is written as it arrives, pausing the upstream while the client is slow.
 */
function undiciDispatchForwarder(origin: string): Listener {
  const pool = new Pool(origin, { connections: 256, pipelining: 1 });
  return (req, res) => {
    const hasBody = req.method !== 'GET' && req.method !== 'HEAD';
    let resume: (() => void) | undefined;
    const handler = {
      onConnect: () => undefined,
      onHeaders(statusCode: number, rawHeaders: Buffer[], resumeUpstream: () => void) {
        resume = resumeUpstream;
        const headers: string[] = [];
        for (let i = 0; i < rawHeaders.length; i += 2) {
          const name = rawHeaders[i]!.toString('latin1');
          if (!HOP_BY_HOP.has(name.toLowerCase())) headers.push(name, rawHeaders[i + 1]!.toString('latin1'));
        }
        res.writeHead(statusCode, headers);
        return true;
      },
      onData(chunk: Buffer) {
        const more = res.write(chunk);
        if (!more && resume) res.once('drain', resume);
        return more;
      },
      onComplete: () => res.end(),
      onError: () => {
        if (!res.headersSent) res.writeHead(502).end();
        else res.destroy();
      },
    };
    pool.dispatch(
      {
        method: req.method as 'GET',
        path: req.url ?? '/',
        headers: forwardableHeaders(req.rawHeaders),
        body: hasBody ? req : null,
      },
      handler,
    );
  };
}

function flatten(headers: Record<string, string | string[] | undefined>): string[] {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) raw.push(name, v);
  }
  return raw;
}

export interface ForwarderFiles {
  serverCert: string;
  serverKey: string;
  caCert: string;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const mode = process.argv[2] as ForwarderMode;
  const files = JSON.parse(process.argv[4] ?? '{}') as ForwarderFiles;
  const server = https.createServer(
    {
      cert: readFileSync(files.serverCert),
      key: readFileSync(files.serverKey),
      ca: readFileSync(files.caCert),
      requestCert: true,
      rejectUnauthorized: true,
      keepAliveTimeout: 120_000,
    },
    createForwarder(mode, Number(process.argv[3])),
  );
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    if (address && typeof address === 'object')
      process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
  });
  process.on('SIGTERM', () => process.exit(0));
}
