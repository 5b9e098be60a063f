/**
 * The OIDC UserInfo endpoint (OIDC Core §5.3) for sender-constrained access tokens: the token comes in
 * the Authorization header only (RFC 6750 §2.1; FAPI forbids query and body), must be one of ours,
 * active and carry `openid`. A certificate-bound token (`Authorization: Bearer`) must come over a
 * connection with that certificate (RFC 8705 §3, checked like the gateway does: a token without `cnf`
 * or with another thumbprint is refused); a DPoP-bound token (`Authorization: DPoP`) with a proof of its
 * key carrying `ath` (RFC 9449 §7), and never as a bearer token (§7.2). Errors follow RFC 6750 §3 /
 * RFC 9449 §7.1 with a challenge in the scheme the client used.
 */
import { timingSafeEqual } from 'node:crypto';
import type { Endpoint } from '../endpoints/endpoint.js';
import { NO_STORE, jsonReply, type IssuerRequest, type Reply } from '../http.js';
import { ISSUER_REFUSALS, type IssuerRefusalReason } from '../refusals.js';
import { dpopNonceHeaders, dpopReason, requestProof } from '../steps/dpop-proof.js';
import type { IssuerRuntime } from '../runtime.js';
import { verifyOwnAccessToken } from '../tokens/verify-access-token.js';
import { endUsersOf } from '../users/authenticator.js';
import { userinfoClaims } from './user-claims.js';

type Scheme = 'Bearer' | 'DPoP';

/**
 * RFC 6750 §3 / RFC 9449 §7.1: the challenge names the scheme the client used (both when it used none);
 * the error code comes from the reason (refusals.ts), which is counted like every other refusal. Without
 * any credentials the challenge carries no error code (RFC 6750 §3.1).
 */
function refusal(
  runtime: IssuerRuntime,
  reason: IssuerRefusalReason,
  schemes: readonly Scheme[],
  description: string,
  extra: { status?: number; scope?: string; headers?: Record<string, string> } = {},
): Reply {
  const { error, status } = ISSUER_REFUSALS[reason];
  runtime.metrics.failures.inc({ endpoint: 'userinfo', error, reason });
  runtime.metrics.refusals.inc({ reason });
  const withCode = reason !== 'userinfo_token_missing';
  const challenge = (scheme: Scheme) => {
    const params = [
      'realm="fapi-issuer"',
      ...(withCode ? [`error="${error}"`, `error_description="${description}"`] : []),
      ...(extra.scope ? [`scope="${extra.scope}"`] : []),
      ...(scheme === 'DPoP' ? [`algs="${runtime.config.dpop.algorithms.join(' ')}"`] : []),
    ];
    return `${scheme} ${params.join(', ')}`;
  };
  return {
    status: extra.status ?? status,
    headers: { ...NO_STORE, ...extra.headers, 'WWW-Authenticate': schemes.map(challenge) },
    body: withCode ? { error, error_description: description } : {},
  };
}

function thumbprintsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** RFC 9449 §7: the proof of a DPoP-bound token's holder, with `ath` and the token's `cnf.jkt`. */
async function dpopRefusal(
  request: IssuerRequest,
  runtime: IssuerRuntime,
  token: string,
  jkt: string,
): Promise<Reply | undefined> {
  const outcome = await requestProof(request, runtime, { accessToken: token, expectedJkt: jkt });
  // A resource server answers a bad proof with 401 and a DPoP challenge (RFC 9449 §7.1).
  const refuse = (reason: IssuerRefusalReason, description: string, headers?: Record<string, string>) =>
    refusal(runtime, reason, ['DPoP'], description, { status: 401, ...(headers ? { headers } : {}) });
  if (outcome.ok) return outcome.proof ? undefined : refuse('dpop_proof_missing', 'a DPoP proof is required');
  if (outcome.code === 'ERR_DPOP_NONCE')
    return refuse('dpop_nonce', outcome.description, dpopNonceHeaders(runtime));
  if (outcome.code === 'ERR_DPOP_BINDING')
    return refusal(
      runtime,
      'userinfo_token_binding',
      ['DPoP'],
      'the access token is bound to another DPoP key',
    );
  if (outcome.code === 'ERR_DPOP_REPLAY_STORE') {
    runtime.metrics.failures.inc({
      endpoint: 'userinfo',
      error: 'temporarily_unavailable',
      reason: 'dpop_replay_store',
    });
    runtime.metrics.refusals.inc({ reason: 'dpop_replay_store' });
    return jsonReply({ error: 'temporarily_unavailable', error_description: 'try again later' }, 503);
  }
  return refuse(dpopReason(outcome.code), outcome.description);
}

async function userinfo(request: IssuerRequest, runtime: IssuerRuntime): Promise<Reply> {
  const both: Scheme[] = ['Bearer', 'DPoP'];
  if (request.query.has('access_token'))
    return refusal(
      runtime,
      'userinfo_token_in_query',
      both,
      'send the access token in the Authorization header only',
    );
  const header = request.headers.authorization;
  if (header === undefined) return refusal(runtime, 'userinfo_token_missing', both, '');
  const match = /^(Bearer|DPoP) ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
  if (!match)
    return refusal(
      runtime,
      'userinfo_authorization_malformed',
      both,
      'the Authorization header is not a Bearer or DPoP token',
    );
  const scheme: Scheme = match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer';
  const token = match[2]!;
  const active = await verifyOwnAccessToken(token, runtime);
  if (!active)
    return refusal(
      runtime,
      'userinfo_token_inactive',
      [scheme],
      'the access token is invalid, expired or revoked',
    );
  const cnf = active.payload.cnf;
  if (scheme === 'DPoP') {
    if (cnf?.jkt === undefined)
      return refusal(runtime, 'userinfo_token_binding', ['DPoP'], 'the access token is not DPoP-bound');
    const refused = await dpopRefusal(request, runtime, token, cnf.jkt);
    if (refused) return refused;
  } else {
    // RFC 9449 §7.2: a DPoP-bound token presented as a bearer token is refused.
    if (cnf?.jkt !== undefined)
      return refusal(
        runtime,
        'userinfo_token_binding',
        ['DPoP'],
        'the access token is DPoP-bound: use the DPoP scheme',
      );
    const bound = cnf?.['x5t#S256'];
    const presented = request.certificate?.thumbprint;
    if (bound === undefined)
      return refusal(
        runtime,
        'userinfo_token_binding',
        ['Bearer'],
        'the access token is not certificate-bound',
      );
    if (presented === undefined || !thumbprintsEqual(bound, presented))
      return refusal(
        runtime,
        'userinfo_token_binding',
        ['Bearer'],
        'the access token is bound to another client certificate',
      );
  }
  const scopes = (active.payload.scope ?? '').split(' ');
  if (!scopes.includes('openid'))
    return refusal(runtime, 'userinfo_insufficient_scope', [scheme], 'userinfo needs the openid scope', {
      scope: 'openid',
    });
  const sub = active.payload.sub;
  const user = await endUsersOf(runtime).findBySubject(sub);
  const grant = active.grantId ? await runtime.storage.grants.findGrant(active.grantId) : undefined;
  const claimsRequest = grant?.claimsRequest;
  return jsonReply(
    { ...userinfoClaims(user?.claims ?? {}, scopes, claimsRequest), sub },
    200,
    scheme === 'DPoP' ? dpopNonceHeaders(runtime) : {},
  );
}

export const userinfoEndpoint: Endpoint = {
  name: 'userinfo',
  path: '/userinfo',
  methods: ['GET', 'POST'],
  metadataName: 'userinfo_endpoint',
  mtlsAlias: true,
  respond: userinfo,
};
