/**
 * The demo's first part: certificate-bound access tokens (RFC 8705) end to end, with curl only. One
 * client per certificate-based authentication method, plus a private_key_jwt client for scripts.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_JWT_CLIENT_KID, type DevPkiPaths } from '../../pki/dev-pki.js';
import type { DemoFeature } from '../demo.js';

/** The same clients as config/issuer.example.yaml. */
function clients(p: DevPkiPaths): Record<string, unknown>[] {
  return [
    {
      clientId: 'acme-tls',
      authMethod: 'tls_client_auth',
      tlsClientAuthSubjectDn: 'CN=acme-tls,O=Acme',
      scopes: ['accounts', 'payments'],
    },
    {
      clientId: 'other-tls',
      authMethod: 'tls_client_auth',
      tlsClientAuthSubjectDn: 'CN=other-tls,O=Other Corp',
      scopes: ['accounts'],
    },
    {
      clientId: 'acme-self-signed',
      authMethod: 'self_signed_tls_client_auth',
      jwksFile: p.selfSignedJwks,
      scopes: ['accounts'],
    },
    {
      clientId: 'acme-jwt',
      authMethod: 'private_key_jwt',
      jwksFile: p.jwtJwks,
      scopes: ['accounts', 'payments'],
    },
  ];
}

export const boundTokensFeature: DemoFeature = {
  name: 'certificate-bound tokens',
  issuerClients: clients,
  start({ paths: p, issuer, gateway, shellPath }) {
    // The CLI that runs the demo prints commands that run it again (`node <main.js> client-assertion`).
    const cli = `node ${shellPath(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js'))}`;
    const tls = (cert: string, key: string) =>
      `--cacert ${shellPath(p.caCert)} --cert ${shellPath(cert)} --key ${shellPath(key)}`;
    const acme = tls(p.acmeTlsCert, p.acmeTlsKey);
    const selfSigned = tls(p.selfSignedCert, p.selfSignedKey);
    const jwtTls = tls(p.jwtCert, p.jwtKey);
    const api = `https://localhost:${gateway.listenPort}`;
    const tokenUrl = `${issuer.mtlsUrl}/token`;
    const extractToken = `sed -E 's/.*"access_token":"([^"]+)".*/\\1/'`;
    const status = `-w '\\nHTTP %{http_code}\\n'`;
    return Promise.resolve({
      sections: [
        {
          title: 'Certificate-bound access tokens (RFC 8705) through the gateway',
          steps: [
            {
              title: 'Get an access token as acme-tls (tls_client_auth), bound to its certificate',
              expect: 'prints the start of a JWT (eyJ...)',
              command: `TOKEN=$(curl -sS ${acme} -d grant_type=client_credentials -d client_id=acme-tls -d 'scope=accounts payments' ${tokenUrl} | ${extractToken}); echo "token: \${TOKEN:0:24}..."`,
            },
            {
              title: 'Call the banking API through the gateway with the same certificate',
              expect: 'HTTP 200 and the accounts, called for client acme-tls',
              command: `curl -sS ${status} ${acme} -H "Authorization: Bearer $TOKEN" ${api}/accounts`,
            },
            {
              title: 'Make a payment through the gateway',
              expect: 'HTTP 201 and a payment in status AcceptedSettlementInProcess',
              command: `curl -sS ${status} ${acme} -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' -d '{"fromAccountId":"acc-001","amount":"25.00","creditorIban":"DE89370400440532013000"}' ${api}/payments`,
            },
            {
              title: "Present the same token with another client's certificate (a stolen token)",
              expect:
                'HTTP 401 with WWW-Authenticate: Bearer error="invalid_token"; the bank API sees nothing',
              command: `curl -sS -i ${status} ${tls(p.otherTlsCert, p.otherTlsKey)} -H "Authorization: Bearer $TOKEN" ${api}/accounts`,
            },
            {
              title: 'Get a token as acme-self-signed (self_signed_tls_client_auth) and read balances',
              expect: 'HTTP 200 and the balance of acc-001',
              command: `SELF_TOKEN=$(curl -sS ${selfSigned} -d grant_type=client_credentials -d client_id=acme-self-signed ${tokenUrl} | ${extractToken}); curl -sS ${status} ${selfSigned} -H "Authorization: Bearer $SELF_TOKEN" ${api}/accounts/acc-001/balances`,
            },
            {
              title:
                'Get a token as acme-jwt (private_key_jwt: a signed client assertion) and list transactions',
              expect: 'HTTP 200 and the transactions of acc-001, called for client acme-jwt',
              command: `ASSERTION=$(${cli} client-assertion --client-id acme-jwt --key ${shellPath(p.jwtSigningKey)} --kid ${DEV_JWT_CLIENT_KID} --audience ${issuer.url}); JWT_TOKEN=$(curl -sS ${jwtTls} -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d "client_assertion=$ASSERTION" ${tokenUrl} | ${extractToken}); curl -sS ${status} ${jwtTls} -H "Authorization: Bearer $JWT_TOKEN" ${api}/accounts/acc-001/transactions`,
            },
            {
              title: 'Replay the same client assertion',
              expect: 'HTTP 401 invalid_client: the assertion jti was already used',
              command: `curl -sS ${status} ${jwtTls} -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d "client_assertion=$ASSERTION" ${tokenUrl}`,
            },
          ],
        },
      ],
    });
  },
};
