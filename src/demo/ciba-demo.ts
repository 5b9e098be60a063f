/**
 * The demo's CIBA part: three CIBA clients (poll, ping, push) of the demo company, the end
 * user who approves on the device page, a client notification endpoint that records what the issuer
 * sends (ping: the auth_req_id; push: the token response) so the walkthrough can read it with curl, and
 * the printed walkthrough itself. The browser step (approve on the device page) sits between commands.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { DevPkiPaths } from '../pki/dev-pki.js';
import { DEV_JWT_CLIENT_KID } from '../pki/dev-pki.js';

const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** The built CLI (dist/cli/main.js), as the walkthrough runs it. */
const CLI = fileURLToPath(new URL('../cli/main.js', import.meta.url));

/** The end user of the demo (development only: a printed password). */
export const CIBA_DEMO_USER = {
  username: 'alice',
  password: 'alice-demo-password',
  claims: { name: 'Alice Doe', email: 'alice@example.com' },
};

/**
 * poll and ping are FAPI-CIBA clients (signed requests with the acme-jwt key, certificate-bound tokens);
 * push is a ciba-core client (FAPI-CIBA forbids push) whose tokens are bound to the certificate it
 * presents on the backchannel request. All authenticate with the acme-tls certificate.
 */
export function cibaDemoClients(p: DevPkiPaths, notificationBase: string): Record<string, unknown>[] {
  const common = {
    authMethod: 'tls_client_auth',
    tlsClientAuthSubjectDn: 'CN=acme-tls,O=Acme',
    scopes: ['openid', 'accounts', 'payments'],
    grantTypes: [CIBA_GRANT, 'refresh_token'],
  };
  return [
    {
      clientId: 'acme-ciba-poll',
      clientName: 'Acme Call Centre',
      ...common,
      jwksFile: p.jwtJwks,
      backchannelTokenDeliveryMode: 'poll',
      backchannelAuthenticationRequestSigningAlg: 'PS256',
      cibaProfile: 'fapi-ciba',
    },
    {
      clientId: 'acme-ciba-ping',
      clientName: 'Acme Point of Sale',
      ...common,
      jwksFile: p.jwtJwks,
      backchannelTokenDeliveryMode: 'ping',
      backchannelClientNotificationEndpoint: `${notificationBase}/ping`,
      backchannelAuthenticationRequestSigningAlg: 'PS256',
      cibaProfile: 'fapi-ciba',
    },
    {
      clientId: 'acme-ciba-push',
      clientName: 'Acme Kiosk',
      ...common,
      backchannelTokenDeliveryMode: 'push',
      backchannelClientNotificationEndpoint: `${notificationBase}/push`,
      cibaProfile: 'ciba-core',
    },
  ];
}

export interface ReceivedNotification {
  path: string;
  authorization: string | undefined;
  body: unknown;
}

export interface NotificationReceiver {
  url: string;
  received: ReceivedNotification[];
  close(): Promise<void>;
}

/**
 * The demo client's notification endpoint: records POSTs (answering 204, CIBA §10.2) and lists them at
 * `GET /notifications`. Development only: it hands pushed tokens to anyone on localhost who asks.
 */
export async function startNotificationReceiver(o: {
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
}): Promise<NotificationReceiver> {
  const received: ReceivedNotification[] = [];
  const server = https.createServer(
    { cert: readFileSync(o.certFile), key: readFileSync(o.keyFile) },
    (req, res) => {
      if (req.method === 'GET' && req.url === '/notifications') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
        res.end(JSON.stringify(received, null, 1) + '\n');
        return;
      }
      if (req.method !== 'POST') {
        res.writeHead(405, { allow: 'POST' }).end();
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= 64 * 1024) chunks.push(c);
      });
      req.on('end', () => {
        let body: unknown;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          body = null;
        }
        received.push({ path: req.url ?? '/', authorization: req.headers.authorization, body });
        res.writeHead(204).end();
      });
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://localhost:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export interface CibaWalkthroughStep {
  title: string;
  expect: string;
  /** A bash command; absent for the browser step. */
  command?: string;
  /** The browser step: what to approve on the device page. */
  device?: { url: string; username: string; password: string; bindingMessage: string };
}

export interface CibaWalkthroughInput {
  issuerUrl: string;
  mtlsUrl: string;
  gatewayUrl: string;
  receiverUrl: string;
  devicePath: string;
  /** Shell-quoted path renderer (relative to the user's folder). */
  rel(file: string): string;
  paths: DevPkiPaths;
}

export function cibaWalkthrough(i: CibaWalkthroughInput): { title: string; steps: CibaWalkthroughStep[] }[] {
  const acme = `--cacert ${i.rel(i.paths.caCert)} --cert ${i.rel(i.paths.acmeTlsCert)} --key ${i.rel(i.paths.acmeTlsKey)}`;
  const status = `-w '\\nHTTP %{http_code}\\n'`;
  const backchannel = `${i.mtlsUrl}/backchannel-authentication`;
  const token = `${i.mtlsUrl}/token`;
  const field = (name: string) => `sed -E 's/.*"${name}":"([^"]+)".*/\\1/'`;
  const sign = (clientId: string, binding: string, extra = '') =>
    `node ${i.rel(CLI)} ciba-request --issuer ${i.issuerUrl} --client-id ${clientId} --key ${i.rel(i.paths.jwtSigningKey)} --kid ${DEV_JWT_CLIENT_KID} --login-hint ${CIBA_DEMO_USER.username} --scope 'openid accounts' --binding-message ${binding}${extra}`;
  const poll = (clientId: string, idVar: string) =>
    `curl -sS ${acme} -d grant_type=${CIBA_GRANT} -d client_id=${clientId} -d auth_req_id=$${idVar} ${token}`;
  const device = (bindingMessage: string): CibaWalkthroughStep => ({
    title: `In a browser, open ${i.issuerUrl}${i.devicePath} (accept the development certificate), sign in as ${CIBA_DEMO_USER.username} / ${CIBA_DEMO_USER.password}, and press Approve next to ${bindingMessage}`,
    expect: `the page says Approved`,
    device: {
      url: `${i.issuerUrl}${i.devicePath}`,
      username: CIBA_DEMO_USER.username,
      password: CIBA_DEMO_USER.password,
      bindingMessage,
    },
  });
  const callApi = (tokenVar: string) =>
    `curl -sS ${status} ${acme} -H "Authorization: Bearer $${tokenVar}" ${i.gatewayUrl}/accounts`;
  const newNotificationToken = `$(node -e "console.log(require('node:crypto').randomBytes(24).toString('base64url'))")`;
  return [
    {
      title: 'CIBA poll mode (FAPI-CIBA): signed request, poll, approve on the device page, poll again',
      steps: [
        {
          title: 'Start a signed backchannel authentication request as acme-ciba-poll',
          expect: 'an auth_req_id, expires_in 300, interval 2',
          command: `REQ=$(${sign('acme-ciba-poll', 'POLL-1234')}); RESP=$(curl -sS ${acme} -d client_id=acme-ciba-poll --data-urlencode "request=$REQ" ${backchannel}); echo "$RESP"; POLL_ID=$(echo "$RESP" | ${field('auth_req_id')}); echo "auth_req_id: $POLL_ID"`,
        },
        {
          title: 'Poll the token endpoint before the user decides',
          expect: '{"error":"authorization_pending",...}',
          command: poll('acme-ciba-poll', 'POLL_ID'),
        },
        device('POLL-1234'),
        {
          title: 'Poll again: certificate-bound tokens (a second poll would be invalid_grant)',
          expect: 'prints the start of a JWT (eyJ...)',
          command: `POLL_TOKEN=$(${poll('acme-ciba-poll', 'POLL_ID')} | ${field('access_token')}); echo "token: \${POLL_TOKEN:0:24}..."`,
        },
        {
          title: 'Call the banking API through the gateway with that token and certificate',
          expect: 'HTTP 200 and the accounts',
          command: callApi('POLL_TOKEN'),
        },
      ],
    },
    {
      title: 'CIBA ping mode (FAPI-CIBA): the issuer pings the client, which then fetches the tokens',
      steps: [
        {
          title: 'Start a signed request as acme-ciba-ping with a client_notification_token',
          expect: 'an auth_req_id',
          command: `PING_NOTIFY=${newNotificationToken}; REQ=$(${sign('acme-ciba-ping', 'PING-5678', ' --client-notification-token $PING_NOTIFY')}); PING_ID=$(curl -sS ${acme} -d client_id=acme-ciba-ping --data-urlencode "request=$REQ" ${backchannel} | ${field('auth_req_id')}); echo "auth_req_id: $PING_ID"`,
        },
        device('PING-5678'),
        {
          title: "What the client's notification endpoint received",
          expect: 'a POST to /ping with "Bearer <the token>" and {"auth_req_id": ...}',
          command: `curl -sS --cacert ${i.rel(i.paths.caCert)} ${i.receiverUrl}/notifications | grep -A4 '"/ping"'`,
        },
        {
          title: 'Fetch the tokens and call the API',
          expect: 'HTTP 200 and the accounts',
          command: `PING_TOKEN=$(${poll('acme-ciba-ping', 'PING_ID')} | ${field('access_token')}); ${callApi('PING_TOKEN')}`,
        },
      ],
    },
    {
      title: 'CIBA push mode (ciba-core client only): the token response is pushed to the client',
      steps: [
        {
          title: 'Start a (plain, ciba-core) request as acme-ciba-push',
          expect: 'an auth_req_id and no interval (push clients never poll)',
          command: `RESP=$(curl -sS ${acme} -d client_id=acme-ciba-push -d 'scope=openid accounts' -d login_hint=${CIBA_DEMO_USER.username} -d binding_message=PUSH-9012 -d client_notification_token=${newNotificationToken} ${backchannel}); echo "$RESP"; PUSH_ID=$(echo "$RESP" | ${field('auth_req_id')}); echo "auth_req_id: $PUSH_ID"`,
        },
        device('PUSH-9012'),
        {
          title:
            'Read the pushed token response (access token bound to the backchannel certificate) and call the API',
          expect: 'HTTP 200 and the accounts',
          command: `PUSH_TOKEN=$(curl -sS --cacert ${i.rel(i.paths.caCert)} ${i.receiverUrl}/notifications | tr -d '\\n ' | ${field('access_token')}); echo "token: \${PUSH_TOKEN:0:24}..."; ${callApi('PUSH_TOKEN')}`,
        },
      ],
    },
  ];
}

/** The walkthrough as printed: `# cN. title -> expect: ...` then the command, or `# >>> browser: ...`. */
export function renderCibaWalkthrough(sections: { title: string; steps: CibaWalkthroughStep[] }[]): string[] {
  const lines = ['', '# --- CIBA walkthrough (bash; the >>> steps happen in a browser) ---'];
  let n = 0;
  for (const section of sections) {
    lines.push(`# == ${section.title} ==`);
    for (const step of section.steps) {
      if (step.device) lines.push(`# >>> ${step.title} -> expect: ${step.expect}`);
      else {
        n++;
        lines.push(`# c${n}. ${step.title} -> expect: ${step.expect}`, step.command!);
      }
    }
  }
  lines.push('# --- end of CIBA walkthrough ---');
  return lines;
}
