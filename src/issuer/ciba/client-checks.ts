/**
 * Start-up checks of CIBA client registrations that need more than the schema: a client that must sign
 * its backchannel authentication requests (FAPI-CIBA §5.2.2-2, or a registered
 * backchannelAuthenticationRequestSigningAlg) needs registered keys to verify them with.
 */
import type { ConfigProblem } from '../../config/load.js';
import type { IssuerConfig } from '../config.js';
import { clientPolicy, CIBA_GRANT_TYPE } from './service.js';
import { requiresSignedRequest } from './authentication-request.js';

export function cibaClientProblems(config: IssuerConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  config.clients.forEach((c, i) => {
    if (!c.grantTypes.includes(CIBA_GRANT_TYPE)) return;
    const hasKeys = c.jwks !== undefined || c.jwksFile !== undefined || c.jwksUri !== undefined;
    if (requiresSignedRequest(clientPolicy(c)) && !hasKeys)
      problems.push({
        path: `clients[${i}].jwks`,
        message:
          'this CIBA client must sign its backchannel authentication requests (FAPI-CIBA §5.2.2); register its public keys with jwks, jwksFile or jwksUri',
      });
  });
  return problems;
}
