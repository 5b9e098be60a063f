/**
 * Every grant type the token endpoint serves: one module each, one line here (issue 6 adds
 * authorization_code and refresh_token, issue 7 the CIBA grant). Discovery lists these.
 */
import { authorizationCodeGrant } from './authorization-code.js';
import { cibaGrant } from './ciba.js';
import { clientCredentialsGrant } from './client-credentials.js';
import type { Grant } from './grant.js';
import { refreshTokenGrant } from './refresh-token.js';

export const grants: readonly Grant[] = [
  clientCredentialsGrant,
  authorizationCodeGrant,
  refreshTokenGrant,
  cibaGrant,
];

export function findGrant(grantType: string): Grant | undefined {
  return grants.find((g) => g.grantType === grantType);
}
