/**
 * grant_type=urn:openid:params:grant-type:ciba (CIBA Core §10.1, §11): the poll and ping clients redeem an
 * auth_req_id. Under the FAPI-CIBA profile access tokens are sender-constrained (FAPI-CIBA §5.2.2 via FAPI
 * 1 Advanced §5.2.2-5), so a fapi-ciba client must present its certificate here; a ciba-core client's
 * token is bound whenever it presents one.
 */
import { OAuthError } from '../errors.js';
import { cibaOf } from '../ciba/context.js';
import { oauthErrorOf } from '../ciba/endpoints.js';
import { CIBA_GRANT_TYPE } from '../ciba/service.js';
import type { Grant } from './grant.js';

export const cibaGrant: Grant = {
  grantType: CIBA_GRANT_TYPE,
  async exchange({ params, client, request, dpopJkt }, runtime) {
    if (client.client.cibaProfile === 'fapi-ciba' && !request.certificate)
      throw new OAuthError(
        'invalid_request',
        'a client certificate is required: FAPI-CIBA access tokens are certificate-bound (RFC 8705); use the mtls_endpoint_aliases token endpoint',
        { reason: 'certificate_required' },
      );
    const result = await cibaOf(runtime).redeem(
      client.client,
      params.get('auth_req_id'),
      request.certificate?.thumbprint,
      dpopJkt,
    );
    if (!result.ok) throw oauthErrorOf(result.error);
    return result.value;
  },
};
