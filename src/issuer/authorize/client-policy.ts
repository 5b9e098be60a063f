/**
 * What a registered client may do in the authorization code flow, derived once from its configuration
 * and the issuer-wide profile, plus the start-up checks that refuse registrations the profiles forbid
 * (each problem names the key and the fix).
 */
import type { ConfigProblem } from '../../config/load.js';
import type { ClientConfig, IssuerConfig } from '../config.js';
import type { AuthorizationClient, Profile } from './authorization-request.js';

export function clientProfile(client: Pick<ClientConfig, 'profile'>, issuerProfile: Profile): Profile {
  return client.profile ?? issuerProfile;
}

/**
 * FAPI 2.0 Security Profile §5.3.2.2: PAR is mandatory. FAPI 1 Advanced: per client
 * (`requirePushedAuthorizationRequests`, RFC 9126 §6).
 */
export function requiresPushedRequests(
  client: Pick<ClientConfig, 'requirePushedAuthorizationRequests'>,
  profile: Profile,
): boolean {
  return profile === 'fapi2-security' || client.requirePushedAuthorizationRequests === true;
}

export function authorizationClientOf(client: ClientConfig, issuerProfile: Profile): AuthorizationClient {
  return {
    clientId: client.clientId,
    redirectUris: client.redirectUris,
    scopes: client.scopes,
    responseTypes: client.responseTypes,
    responseModes: client.responseModes,
    grantTypes: client.grantTypes,
    authorizationSignedResponseAlg: client.authorizationSignedResponseAlg,
    profile: clientProfile(client, issuerProfile),
  };
}

/** Loopback redirect URIs over http are for native apps (RFC 8252 §7.3); FAPI requires https. */
function redirectUriProblem(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return 'is not an absolute URI';
  }
  if (url.protocol !== 'https:') return 'must use https (FAPI 1 Advanced §5.2.2-20, FAPI 2.0 §5.3.2.2)';
  if (url.hash !== '' || uri.includes('#')) return 'must not contain a fragment (RFC 6749 §3.1.2)';
  return undefined;
}

/** Start-up checks of every client that uses the authorization code flow. */
export function authorizationClientProblems(config: IssuerConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const signingAlgs = new Set(config.signingKeys.map((k) => k.alg));
  config.clients.forEach((client, i) => {
    if (!client.grantTypes.includes('authorization_code')) return;
    const at = (key: string) => `clients[${i}].${key}`;
    const profile = clientProfile(client, config.profile);
    client.redirectUris.forEach((uri, j) => {
      const problem = redirectUriProblem(uri);
      if (problem) problems.push({ path: `${at('redirectUris')}[${j}]`, message: `${uri} ${problem}` });
    });
    if (profile === 'fapi2-security' && client.requirePushedAuthorizationRequests === false)
      problems.push({
        path: at('requirePushedAuthorizationRequests'),
        message: 'the FAPI 2.0 Security Profile requires PAR; remove the key or set profile: fapi1-advanced',
      });
    if (profile === 'fapi2-security' && client.responseTypes.includes('code id_token'))
      problems.push({
        path: at('responseTypes'),
        message: 'the FAPI 2.0 Security Profile allows only code; remove "code id_token"',
      });
    if (client.responseTypes.includes('code id_token') && !client.scopes.includes('openid'))
      problems.push({ path: at('scopes'), message: 'response type "code id_token" needs the openid scope' });
    if (client.jwks === undefined && client.jwksFile === undefined && client.jwksUri === undefined)
      problems.push({
        path: at('jwks'),
        message:
          'the authorization_code grant needs the client keys that sign its request objects: set jwks, jwksFile or jwksUri',
      });
    // idTokenSignedResponseAlg is checked with the other ID-token clients in startup-checks.ts.
    if (!signingAlgs.has(client.authorizationSignedResponseAlg))
      problems.push({
        path: at('authorizationSignedResponseAlg'),
        message: `no issuer signing key for ${client.authorizationSignedResponseAlg} (JARM); add one to signingKeys or choose ${[...signingAlgs].join(' or ')}`,
      });
  });
  return problems;
}
