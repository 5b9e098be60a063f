/**
 * grant_type=urn:openid:params:grant-type:ciba (CIBA Core §10.1, §11): the poll and ping clients redeem an
 * auth_req_id. Under the FAPI-CIBA profile access tokens are sender-constrained (FAPI-CIBA §5.2.2 via FAPI
 * 1 Advanced §5.2.2-5), so a fapi-ciba client must present its certificate or a DPoP proof here; a
 * ciba-core client's token is bound whenever it presents one.
 */
import { cibaOf } from '../ciba/context.js';
import { CIBA_GRANT_TYPE } from '../ciba/service.js';
import { senderConstraintRequired, type Grant } from './grant.js';

export const cibaGrant: Grant = {
  grantType: CIBA_GRANT_TYPE,
  async exchange({ params, client, request, dpopJkt }, runtime) {
    if (client.client.cibaProfile === 'fapi-ciba' && !request.certificate && dpopJkt === undefined)
      throw senderConstraintRequired();
    const result = await cibaOf(runtime).redeem(
      client.client,
      params.get('auth_req_id'),
      request.certificate?.thumbprint,
      dpopJkt,
    );
    if (!result.ok) throw result.error;
    return result.value;
  },
};
