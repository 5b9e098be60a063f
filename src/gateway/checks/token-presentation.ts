/**
 * Where the access token comes from (RFC 6750 §2): only the Authorization header, with the Bearer scheme
 * or, for DPoP-bound tokens, the DPoP scheme (RFC 9449 §7.1).
 * FAPI 1 Advanced §6.2.1-1 / FAPI 2 §5.3.3 forbid the query (§2.3) and form-body (§2.2) methods, so a token
 * there is refused, never forwarded; RFC 6750 §2 allows one method per request, so two tokens are refused.
 */
import type { IncomingMessage } from 'node:http';
import { reject, type Reject } from '../rejections.js';
import type { Check, RequestContext } from '../request-context.js';
import { multipartCarriesToken, parametersCarryToken } from './misplaced-token.js';

/** RFC 6750 §2.1 b64token after the scheme. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** RFC 6750 §2.1 `Bearer` and RFC 9449 §7.1 `DPoP`; auth schemes are case-insensitive (RFC 9110 §11.1). */
const SCHEME = /^(bearer|dpop)(?: +|$)/i;

function authorizationHeaderCount(req: IncomingMessage): number {
  const raw = req.rawHeaders;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 13 && name.toLowerCase() === 'authorization') n++;
  }
  return n;
}

/** The header part, once the query and body questions are settled. */
function tokenFromHeader(ctx: RequestContext): Reject | undefined {
  const header = ctx.req.headers.authorization;
  const scheme = header === undefined ? undefined : SCHEME.exec(header)?.[1];
  if (header === undefined || scheme === undefined) {
    // RFC 6750 §3.1: no credentials for this scheme -> challenge without an error code.
    return reject('token_missing', 'an access token is required (Authorization: Bearer or DPoP)');
  }
  const dpop = scheme.length === 4;
  // A refusal answers with the challenge of the scheme the client used (RFC 9449 §7.1).
  ctx.presentedScheme = dpop ? 'dpop' : 'bearer';
  const value = header.slice(scheme.length).trim();
  if (value === '') return reject('token_malformed', `the ${dpop ? 'DPoP' : 'Bearer'} credentials are empty`);
  if (/[\s,]/.test(value)) return reject('multiple_tokens', 'only one access token may be presented');
  if (!B64TOKEN.test(value)) return reject('token_malformed', 'the access token is not a b64token');
  ctx.credentials = { scheme: dpop ? 'dpop' : 'bearer', token: value };
  return undefined;
}

export const tokenPresentationCheck: Check = {
  name: 'token-presentation',
  requires: ['body'],
  provides: ['credentials'],
  reportable: true,
  run(ctx) {
    if (ctx.query !== '' && parametersCarryToken(ctx.query)) {
      return reject('token_in_query', 'access tokens are not accepted in the query string');
    }
    if (authorizationHeaderCount(ctx.req) > 1) {
      return reject('multiple_tokens', 'only one Authorization header may be sent');
    }
    if (
      ctx.body !== undefined &&
      (ctx.bodyType === 'multipart'
        ? multipartCarriesToken(ctx.body)
        : parametersCarryToken(ctx.body.toString('latin1')))
    ) {
      return reject('token_in_body', 'access tokens are not accepted in the request body');
    }
    return tokenFromHeader(ctx);
  },
};
