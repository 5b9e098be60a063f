/**
 * The authorization server's RFC 7662 introspection endpoint for scenario (f): the test suite's stub
 * (test/helpers/introspection-server.ts, which authenticates the gateway by its client certificate as a
 * real server does) run as its own process so it can be pinned next to the upstream. Every token listed
 * in the token files is active, bound to the API client's certificate; any other token is inactive.
 * Run as `node authorization-server.js SPEC_JSON`; prints `{"port":N}` once listening.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { startIntrospectionStub } from '../test/helpers/introspection-server.js';

export interface AuthorizationServerSpec {
  serverCert: string;
  serverKey: string;
  caCert: string;
  /** The gateway's client_id and the x5t#S256 of its client certificate (RFC 8705 §2 tls_client_auth). */
  gatewayClientId: string;
  gatewayThumbprint: string;
  /** JSON files, each an array of opaque tokens. */
  tokenFiles: string[];
  /** What an active token's introspection answer says besides `active` and `exp`. */
  claims: Record<string, unknown>;
  expiresInSeconds: number;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const spec = JSON.parse(process.argv[2] ?? '{}') as AuthorizationServerSpec;
  const stub = await startIntrospectionStub(
    {
      server: {
        certPem: readFileSync(spec.serverCert, 'utf8'),
        keyPem: readFileSync(spec.serverKey, 'utf8'),
      },
      ca: { certPem: readFileSync(spec.caCert, 'utf8') },
    },
    { method: 'tls_client_auth', clientId: spec.gatewayClientId, thumbprint: spec.gatewayThumbprint },
  );
  const answer = {
    active: true,
    ...spec.claims,
    exp: Math.floor(Date.now() / 1000) + spec.expiresInSeconds,
  };
  for (const file of spec.tokenFiles)
    for (const token of JSON.parse(readFileSync(file, 'utf8')) as string[]) stub.setAnswer(token, answer);
  // The stub remembers every call for the test suite's assertions; the bench needs none of them.
  setInterval(() => stub.calls.splice(0), 1000).unref();
  process.stdout.write(JSON.stringify({ port: Number(new URL(stub.url).port) }) + '\n');
  process.on('SIGTERM', () => void stub.close().then(() => process.exit(0)));
}
