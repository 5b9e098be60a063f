/**
 * The demo's second part: an opaque access token (RFC 7662) that the gateway introspects at the issuer,
 * revoked (RFC 7009) and then refused; and a DPoP-bound access token (RFC 9449) obtained without any
 * client certificate, used with a fresh proof, with a replayed proof and with another client's key.
 * Proofs and client assertions come from the `dpop-proof` and `client-assertion` CLI commands.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_DPOP_CLIENT_KID } from '../../pki/dev-pki.js';
import type { DemoFeature } from '../demo.js';

export const OPAQUE_CLIENT_ID = 'acme-opaque';
export const DPOP_CLIENT_ID = 'acme-dpop';

export const opaqueAndDpopTokensFeature: DemoFeature = {
  name: 'opaque and DPoP-bound tokens',
  issuerClients: (p) => [
    {
      // Acme's second application: the same certificate as acme-tls, reference tokens instead of JWTs.
      clientId: OPAQUE_CLIENT_ID,
      authMethod: 'tls_client_auth',
      tlsClientAuthSubjectDn: 'CN=acme-tls,O=Acme',
      scopes: ['accounts'],
      accessTokenFormat: 'opaque',
    },
    {
      // RFC 9449 §5.2: every token request carries a proof, so no certificate is needed at all.
      clientId: DPOP_CLIENT_ID,
      authMethod: 'private_key_jwt',
      jwksFile: p.dpopClientJwks,
      scopes: ['accounts'],
      dpopBoundAccessTokens: true,
    },
  ],
  start({ paths: p, issuer, gateway, shellPath }) {
    const cli = `node ${shellPath(path.join(path.dirname(fileURLToPath(import.meta.url)), '../../cli/main.js'))}`;
    const ca = `--cacert ${shellPath(p.caCert)}`;
    const acme = `${ca} --cert ${shellPath(p.acmeTlsCert)} --key ${shellPath(p.acmeTlsKey)}`;
    const api = `https://localhost:${gateway.listenPort}`;
    const extractToken = `sed -E 's/.*"access_token":"([^"]+)".*/\\1/'`;
    const status = `-w '\\nHTTP %{http_code}\\n'`;
    const proof = (method: string, url: string, key: string, token?: string) =>
      `${cli} dpop-proof --method ${method} --url ${url} --key ${shellPath(key)}${token ? ` --access-token "${token}"` : ''}`;
    const dpopCall = (proofVar: string, headers = true) =>
      `curl -sS${headers ? ' -i' : ''} ${status} ${ca} -H "Authorization: DPoP $DPOP_TOKEN" -H "DPoP: $${proofVar}" ${api}/accounts`;
    return Promise.resolve({
      sections: [
        {
          title: 'Opaque access tokens, introspected by the gateway (RFC 7662) and revoked (RFC 7009)',
          steps: [
            {
              title: `Get an opaque access token as ${OPAQUE_CLIENT_ID} (acme-tls's certificate), bound to it`,
              expect: 'prints the start of a random reference token (not a JWT)',
              command: `OPAQUE_TOKEN=$(curl -sS ${acme} -d grant_type=client_credentials -d client_id=${OPAQUE_CLIENT_ID} ${issuer.mtlsUrl}/token | ${extractToken}); echo "token: \${OPAQUE_TOKEN:0:12}... (\${#OPAQUE_TOKEN} characters)"`,
            },
            {
              title: 'Call the banking API through the gateway: it introspects the token at the issuer',
              expect: `HTTP 200 and the accounts, called for client ${OPAQUE_CLIENT_ID}`,
              command: `curl -sS ${status} ${acme} -H "Authorization: Bearer $OPAQUE_TOKEN" ${api}/accounts`,
            },
            {
              title: 'Revoke the token at the issuer',
              expect: 'HTTP 200',
              command: `curl -sS ${status} ${acme} -d client_id=${OPAQUE_CLIENT_ID} -d "token=$OPAQUE_TOKEN" ${issuer.mtlsUrl}/revoke`,
            },
            {
              title:
                'Call again: the demo gateway caches no introspection answer (cacheMaxSeconds 0), so the revocation shows at once',
              expect:
                'HTTP 401 with WWW-Authenticate: Bearer error="invalid_token"; the bank API sees nothing',
              command: `curl -sS -i ${status} ${acme} -H "Authorization: Bearer $OPAQUE_TOKEN" ${api}/accounts`,
            },
          ],
        },
        {
          title: 'DPoP-bound access tokens (RFC 9449), without any client certificate',
          steps: [
            {
              title: `Get a DPoP-bound token as ${DPOP_CLIENT_ID} (private_key_jwt, plain listener, a proof of its DPoP key)`,
              expect: 'prints the start of a JWT (eyJ...) and "token_type":"DPoP"',
              command: `DPOP_ASSERTION=$(${cli} client-assertion --client-id ${DPOP_CLIENT_ID} --key ${shellPath(p.dpopClientSigningKey)} --kid ${DEV_DPOP_CLIENT_KID} --audience ${issuer.url}); PROOF=$(${proof('POST', `${issuer.url}/token`, p.dpopKey)}); DPOP_RESPONSE=$(curl -sS ${ca} -H "DPoP: $PROOF" -d grant_type=client_credentials -d client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer -d "client_assertion=$DPOP_ASSERTION" ${issuer.url}/token); DPOP_TOKEN=$(echo "$DPOP_RESPONSE" | ${extractToken}); echo "token: \${DPOP_TOKEN:0:24}... $(echo "$DPOP_RESPONSE" | grep -o '"token_type":"[^"]*"')"`,
            },
            {
              title: 'Call the banking API through the gateway with a fresh proof (ath = hash of the token)',
              expect: `HTTP 200 and the accounts, called for client ${DPOP_CLIENT_ID}`,
              command: `PROOF=$(${proof('GET', `${api}/accounts`, p.dpopKey, '$DPOP_TOKEN')}); ${dpopCall('PROOF', false)}`,
            },
            {
              title: 'Replay the same proof',
              expect:
                'HTTP 401 with WWW-Authenticate: DPoP error="invalid_dpop_proof": a proof is single use',
              command: dpopCall('PROOF'),
            },
            {
              title: "Present the token with a proof signed by another client's key (a stolen token)",
              expect: 'HTTP 401 with WWW-Authenticate: DPoP error="invalid_token"; the bank API sees nothing',
              command: `OTHER_PROOF=$(${proof('GET', `${api}/accounts`, p.otherTlsKey, '$DPOP_TOKEN')}); ${dpopCall('OTHER_PROOF')}`,
            },
          ],
        },
      ],
    });
  },
};
