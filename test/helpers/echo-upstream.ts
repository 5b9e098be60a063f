/**
 * An echo upstream (the "legacy API" behind the gateway) that records every request it receives and
 * answers with a JSON echo. Test knobs, sent as request headers by the test client:
 *   x-echo-delay-ms: N            answer after N ms (slow upstream, drain tests)
 *   x-echo-interaction-id: V      answer with this x-fapi-interaction-id ("drop" sends none)
 *   x-echo-status: N              answer with this status
 *   x-echo-cache-control: V       answer with this Cache-Control
 *   x-echo-dpop-nonce: V          answer with this DPoP-Nonce (an upstream that sets its own)
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

export interface EchoUpstream {
  url: string;
  port: number;
  /** Requests received so far (the "hit counter" negative tests assert on). */
  readonly hits: number;
  requests: RecordedRequest[];
  last(): RecordedRequest | undefined;
  reset(): void;
  close(): Promise<void>;
}

export async function startEchoUpstream(host = '127.0.0.1'): Promise<EchoUpstream> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      const delay = Number(req.headers['x-echo-delay-ms'] ?? 0);
      const status = Number(req.headers['x-echo-status'] ?? 200);
      const interaction = req.headers['x-echo-interaction-id'];
      const answer = () => {
        const body = JSON.stringify({
          echo: true,
          method: recorded.method,
          url: recorded.url,
          body: recorded.body,
        });
        const headers: Record<string, string> = { 'content-type': 'application/json', 'x-echo': 'yes' };
        const sent = req.headers['x-fapi-interaction-id'];
        if (interaction === undefined && typeof sent === 'string') headers['x-fapi-interaction-id'] = sent;
        else if (typeof interaction === 'string' && interaction !== 'drop')
          headers['x-fapi-interaction-id'] = interaction;
        const cacheControl = req.headers['x-echo-cache-control'];
        if (typeof cacheControl === 'string') headers['cache-control'] = cacheControl;
        const nonce = req.headers['x-echo-dpop-nonce'];
        if (typeof nonce === 'string') headers['dpop-nonce'] = nonce;
        res.writeHead(status, headers);
        res.end(body);
      };
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://${host}:${port}`,
    port,
    get hits() {
      return requests.length;
    },
    requests,
    last: () => requests[requests.length - 1],
    reset: () => void requests.splice(0),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
