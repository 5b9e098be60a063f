/**
 * The gateway's own answers: every rejection (one function for all of them, so each has the same
 * headers, body, metric and log line) and upstream failures. RFC 6750 §3 challenge, JSON body,
 * `Cache-Control: no-store`, the interaction id; Node adds `Date` (RFC 9110 §6.6.1) to every response.
 */
import type { ServerResponse } from 'node:http';
import { rawHttpResponse } from '../net/parser-refusals.js';
import type { Reject } from './rejections.js';

export const REALM = 'fapi-gateway';

/** RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only (no `"` or `\`). */
function quotable(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** The authentication schemes a refusal can challenge: RFC 6750 `Bearer`, RFC 9449 §7.1 `DPoP`. */
export type ChallengeScheme = 'bearer' | 'dpop';

export const BEARER_CHALLENGE: readonly ChallengeScheme[] = ['bearer'];

const NO_DPOP: DpopAnswer = { algs: 'ES256 PS256 EdDSA' };

function challengeAttributes(r: Reject): string {
  if (r.error === undefined) return ''; // RFC 6750 §3.1: no credentials -> no error code
  let attributes = `, error="${r.error}", error_description="${quotable(r.description)}"`;
  if (r.scope !== undefined) attributes += `, scope="${quotable(r.scope)}"`;
  return attributes;
}

function challenges(status: number): boolean {
  return status === 400 || status === 401 || status === 403;
}

/** The `WWW-Authenticate` challenge for 400/401/403 (RFC 6750 §3), each attribute at most once. */
export function bearerChallenge(r: Reject): string | undefined {
  if (!challenges(r.status)) return undefined;
  return `Bearer realm="${REALM}"${challengeAttributes(r)}`;
}

/** What a DPoP challenge and a DPoP-Nonce need (see dpop.ts). */
export interface DpopAnswer {
  /** RFC 9449 §7.1 `algs`: the accepted proof algorithms, space-separated. */
  algs: string;
  /** RFC 9449 §8.2, §9: the current nonce, sent on every answer of a route that requires nonces. */
  nonce?: string;
}

/** RFC 9449 §7.1: the same attributes under the `DPoP` scheme, plus `algs` on every DPoP challenge. */
export function dpopChallenge(r: Reject, algs: string): string | undefined {
  if (!challenges(r.status)) return undefined;
  return `DPoP realm="${REALM}"${challengeAttributes(r)}, algs="${algs}"`;
}

/** One challenge per scheme, in the order given (a header line each). */
export function challengesFor(
  r: Reject,
  schemes: readonly ChallengeScheme[],
  algs: string,
): string[] | string | undefined {
  if (schemes.length === 1) return schemes[0] === 'dpop' ? dpopChallenge(r, algs) : bearerChallenge(r);
  const out: string[] = [];
  for (const s of schemes) {
    const c = s === 'dpop' ? dpopChallenge(r, algs) : bearerChallenge(r);
    if (c !== undefined) out.push(c);
  }
  return out.length === 0 ? undefined : out;
}

export function errorBody(error: string | undefined, description: string): string {
  return JSON.stringify(
    error === undefined ? { error_description: description } : { error, error_description: description },
  );
}

function send(
  res: ServerResponse,
  status: number,
  interactionId: string,
  body: string,
  extra: Record<string, string | string[]>,
  closeConnection: boolean,
): void {
  const headers: Record<string, string | string[] | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-fapi-interaction-id': interactionId,
    ...extra,
  };
  // An unread request body would be drained by Node after the answer; closing is cheaper and safer.
  if (closeConnection) headers.connection = 'close';
  res.writeHead(status, headers);
  res.end(body);
}

/** `schemes`: the presentation scheme of the request, or the schemes its route accepts when it had none. */
export function renderReject(
  res: ServerResponse,
  r: Reject,
  interactionId: string,
  requestBodyPending: boolean,
  schemes: readonly ChallengeScheme[] = BEARER_CHALLENGE,
  dpop: DpopAnswer = NO_DPOP,
): void {
  const extra: Record<string, string | string[]> = {};
  const challenge = challengesFor(r, schemes, dpop.algs);
  if (challenge !== undefined) extra['www-authenticate'] = challenge;
  if (dpop.nonce !== undefined) extra['dpop-nonce'] = dpop.nonce;
  if (r.allow !== undefined) extra.allow = r.allow.join(', ');
  if (r.status === 503) extra['retry-after'] = '5';
  send(res, r.status, interactionId, errorBody(r.error, r.description), extra, requestBodyPending);
}

export function renderUpstreamFailure(
  res: ServerResponse,
  status: 502 | 504,
  interactionId: string,
  dpopNonce?: string,
): void {
  const description =
    status === 504 ? 'the upstream API did not answer in time' : 'the upstream API could not be reached';
  send(
    res,
    status,
    interactionId,
    errorBody(status === 504 ? 'gateway_timeout' : 'bad_gateway', description),
    dpopNonce === undefined ? {} : { 'dpop-nonce': dpopNonce },
    false,
  );
}

/**
 * The answer to a request Node's HTTP parser refused (no ServerResponse exists then): written to the
 * socket directly, with the same body, headers and interaction id as every other rejection.
 */
export function rawRejectResponse(r: Reject, interactionId: string): string {
  const challenge = bearerChallenge(r);
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-store',
    'x-fapi-interaction-id': interactionId,
  };
  if (challenge !== undefined) headers['WWW-Authenticate'] = challenge;
  return rawHttpResponse(r.status, headers, errorBody(r.error, r.description));
}
