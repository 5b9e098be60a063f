/**
 * The CIBA grant with DPoP (RFC 9449 §5 at the token endpoint, FAPI-CIBA §5.2.2: tokens must be
 * sender-constrained): a private_key_jwt FAPI-CIBA client without any certificate redeems an approved
 * request with a proof and gets a DPoP-bound token (cnf.jkt); without a proof (and without a certificate)
 * it is refused, an invalid proof is 400 invalid_dpop_proof, and neither uses up the request. A
 * tls_client_auth client sending its certificate and a proof gets a token bound to the DPoP key only.
 * The user's approval is made through the CIBA service, as the device page does (that page has its own
 * browser tests in poll-mode.test.ts).
 */
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { decodeJwt } from 'jose';
import { cibaOf } from '../../../src/issuer/ciba/context.js';
import { deviceHandle } from '../../../src/issuer/ciba/device-page.js';
import { ALICE, CIBA_GRANT, startCibaIssuer, type CibaIssuer } from '../../helpers/ciba.js';
import { createDpopKey, mintDpopProof, type DpopKey } from '../../helpers/dpop.js';
import { ASSERTION_TYPE, clientAssertion, outcome, type HttpsResponse } from '../../helpers/issuer.js';
import type { TestCredential } from '../../helpers/pki.js';

let ci: CibaIssuer;
let keyA: DpopKey;

t.before(async () => {
  ci = await startCibaIssuer();
  keyA = await createDpopKey('ES256');
});
t.teardown(() => ci?.close());

/** Starts a signed request for alice as `clientId` and approves it; resolves the auth_req_id. */
async function approvedRequest(clientId: 'ciba-ping' | 'ciba-poll'): Promise<string> {
  const r = await ci.backchannel(clientId, {
    request: await ci.requestObject(
      {
        scope: 'openid accounts',
        login_hint: ALICE.username,
        binding_message: 'DPOP-1',
        ...(clientId === 'ciba-ping' && { client_notification_token: randomBytes(24).toString('base64url') }),
      },
      { clientId },
    ),
  });
  if (r.status !== 200) throw new Error(`backchannel: ${outcome(r)}`);
  const authReqId = (r.json as { auth_req_id: string }).auth_req_id;
  const decided = await cibaOf(ci.issuer.runtime).decide(
    ALICE.username,
    deviceHandle(authReqId),
    'approve',
    Math.floor(Date.now() / 1000),
  );
  if (decided !== 'approved') throw new Error(`decide: ${decided}`);
  return authReqId;
}

async function pingClientAuth(): Promise<Record<string, string>> {
  return {
    client_assertion_type: ASSERTION_TYPE,
    client_assertion: await clientAssertion({
      clientId: 'ciba-ping',
      audience: ci.issuer.url,
      key: ci.pingKey.privateKey,
      kid: ci.pingKey.kid,
    }),
  };
}

/** The CIBA token request on `listener`, with a DPoP header (or none) and a certificate (or none). */
function redeem(
  auth: Record<string, string>,
  authReqId: string,
  o: { proof?: string; listener: 'main' | 'mtls'; credential?: TestCredential },
): Promise<HttpsResponse> {
  return ci.postForm(
    '/token',
    { grant_type: CIBA_GRANT, auth_req_id: authReqId, ...auth },
    {
      listener: o.listener,
      ...(o.credential ? { credential: o.credential } : {}),
      headers: o.proof === undefined ? {} : { dpop: o.proof },
    },
  );
}

const tokenProof = (listener: 'main' | 'mtls', key = keyA) =>
  mintDpopProof(key, {
    htm: 'POST',
    htu: `${listener === 'main' ? ci.issuer.url : ci.issuer.mtlsUrl}/token`,
  });

t.test('a FAPI-CIBA client without a certificate redeems with a proof: a DPoP-bound token', async (t) => {
  const authReqId = await approvedRequest('ciba-ping');

  const unbound = await redeem(await pingClientAuth(), authReqId, { listener: 'main' });
  t.equal(
    unbound.status,
    400,
    'neither a certificate nor a proof: FAPI-CIBA needs sender-constrained tokens',
  );
  t.equal(unbound.json.error, 'invalid_request');
  t.equal(unbound.json.access_token, undefined);

  const bad = await redeem(await pingClientAuth(), authReqId, {
    listener: 'main',
    proof: await tokenProof('mtls'), // htu names another URL than the one called
  });
  t.equal(bad.status, 400, outcome(bad));
  t.equal(bad.json.error, 'invalid_dpop_proof');
  t.equal(bad.json.access_token, undefined);

  const issued = await redeem(await pingClientAuth(), authReqId, {
    listener: 'main',
    proof: await tokenProof('main'),
  });
  t.equal(issued.status, 200, `the request was not used up by the refusals: ${outcome(issued)}`);
  t.equal(issued.json['token_type'], 'DPoP');
  t.same(decodeJwt(issued.json.access_token!)['cnf'], { jkt: keyA.jkt }, 'cnf.jkt = the proof key');
  t.equal(decodeJwt(issued.json.access_token!)['sub'], ALICE.username);
  t.ok(issued.json['id_token'], 'an ID token as for any CIBA redemption');

  const again = await redeem(await pingClientAuth(), authReqId, {
    listener: 'main',
    proof: await tokenProof('main'),
  });
  t.equal(again.status, 400, 'redeemed once');
  t.equal(again.json.error, 'invalid_grant');
});

t.test('a certificate and a proof: the CIBA token is bound to the DPoP key only', async (t) => {
  const authReqId = await approvedRequest('ciba-poll');
  const issued = await redeem({ client_id: 'ciba-poll' }, authReqId, {
    listener: 'mtls',
    credential: ci.pki.clientA,
    proof: await tokenProof('mtls'),
  });
  t.equal(issued.status, 200, outcome(issued));
  t.equal(issued.json['token_type'], 'DPoP');
  t.same(decodeJwt(issued.json.access_token!)['cnf'], { jkt: keyA.jkt });
});
