/**
 * The gateway's own answers: every rejection (one function for all of them, so each has the same
 * headers, body, metric and log line) and upstream failures. RFC 6750 §3 challenge, JSON body,
 * `Cache-Control: no-store`, the interaction id; Node adds `Date` (RFC 9110 §6.6.1) to every response.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Reject } from './rejections.js';

export const REALM = 'fapi-gateway';

/** RFC 6750 §3: error_description and scope use %x20-21 / %x23-5B / %x5D-7E only (no `"` or `\`). */
function quotable(value: string): string {
  return value.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
}

/** The `WWW-Authenticate` challenge for 400/401/403 (RFC 6750 §3), each attribute at most once. */
export function bearerChallenge(r: Reject): string | undefined {
  if (r.status !== 400 && r.status !== 401 && r.status !== 403) return undefined;
  let challenge = `Bearer realm="${REALM}"`;
  if (r.error === undefined) return challenge; // RFC 6750 §3.1: no credentials -> no error code
  challenge += `, error="${r.error}", error_description="${quotable(r.description)}"`;
  if (r.scope !== undefined) challenge += `, scope="${quotable(r.scope)}"`;
  return challenge;
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
  extra: Record<string, string>,
  closeConnection: boolean,
): void {
  const headers: Record<string, string | number> = {
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

export function renderReject(
  res: ServerResponse,
  r: Reject,
  interactionId: string,
  requestBodyPending: boolean,
): void {
  const extra: Record<string, string> = {};
  const challenge = bearerChallenge(r);
  if (challenge !== undefined) extra['www-authenticate'] = challenge;
  if (r.allow !== undefined) extra.allow = r.allow.join(', ');
  if (r.status === 503) extra['retry-after'] = '5';
  send(res, r.status, interactionId, errorBody(r.error, r.description), extra, requestBodyPending);
}

export function renderUpstreamFailure(res: ServerResponse, status: 502 | 504, interactionId: string): void {
  const description =
    status === 504 ? 'the upstream API did not answer in time' : 'the upstream API could not be reached';
  send(
    res,
    status,
    interactionId,
    errorBody(status === 504 ? 'gateway_timeout' : 'bad_gateway', description),
    {},
    false,
  );
}

/**
 * The answer to a request Node's HTTP parser refused (no ServerResponse exists then): written to the
 * socket directly, with the same body, headers and interaction id as every other rejection.
 */
export function rawRejectResponse(r: Reject, interactionId: string): string {
  const body = errorBody(r.error, r.description);
  return (
    `HTTP/1.1 ${r.status} ${STATUS_CODES[r.status] ?? 'Error'}\r\n` +
    `Date: ${new Date().toUTCString()}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Cache-Control: no-store\r\n' +
    `x-fapi-interaction-id: ${interactionId}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}
