/**
 * Which authorization parameters count: those inside the signed request object (RFC 9101 §5: "the
 * authorization server MUST only use the parameters included in the request object"). Parameters
 * sent outside it are ignored under FAPI 1 Advanced (§5.2.2-10) and must equal the inside value under
 * the FAPI 2.0 profile (a mismatch is a client bug or tampering, refused rather than guessed at).
 */
import { decodeJwt } from 'jose';
import type { ClientConfig } from '../config.js';
import { accept, refuse, type Checked } from './authorization-error.js';
import type { AuthorizationContext } from './authorization-context.js';
import { clientProfile } from './client-policy.js';
import { verifyRequestObject } from './request-object.js';

/** Parameters that authenticate the client or carry the request object, never authorization parameters. */
const TRANSPORT_PARAMETERS = new Set([
  'client_assertion',
  'client_assertion_type',
  'client_id',
  'request',
  'request_uri',
]);

function sameValue(outside: string, inside: unknown): boolean {
  if (typeof inside === 'string') return outside === inside;
  if (typeof inside === 'number') return outside === String(inside);
  if (typeof inside === 'object' && inside !== null) {
    try {
      return JSON.stringify(JSON.parse(outside)) === JSON.stringify(inside);
    } catch {
      return false;
    }
  }
  return false;
}

/**
 * The authorization parameters of a request carrying `request` (a signed request object). Without one
 * the request is refused: every client of this issuer signs its requests (FAPI "Request Object
 * Mandatory Signing"; `requestObjectSigningAlg`).
 */
export async function signedAuthorizationParameters(
  ctx: AuthorizationContext,
  client: ClientConfig,
  raw: Record<string, string>,
): Promise<Checked<Record<string, unknown>>> {
  const jwt = raw['request'];
  if (jwt === undefined || jwt === '')
    return refuse('invalid_request', 'a signed request object (request parameter, RFC 9101) is required');
  const verified = await verifyRequestObject(jwt, {
    issuer: ctx.issuer,
    clientId: client.clientId,
    algorithm: client.requestObjectSigningAlg,
    keys: ctx.clientKeys(client),
    now: new Date(ctx.now() * 1000),
    clockSkewSeconds: ctx.clockSkewSeconds,
  });
  if (!verified.ok) return verified;
  // A request object is for one authorization request: a replayed one (same jti) is refused, and one
  // without a jti, which could not be recognised when replayed, is refused too.
  const { jti, exp } = decodeJwt(jwt);
  if (typeof jti !== 'string' || jti === '')
    return refuse('invalid_request_object', 'the request object must contain a jti (it is single use)');
  // Remembered while the request object could still be accepted (at least a second).
  const until = (Math.max(exp ?? 0, ctx.now()) + ctx.clockSkewSeconds + 1) * 1000;
  const key = `${client.clientId}\0${jti}`;
  if (!(await ctx.runtime.storage.replay.firstUse('request_object', key, until)))
    return refuse('invalid_request_object', 'the request object was already used (jti)');
  if (clientProfile(client, ctx.profile) === 'fapi2-security') {
    for (const [name, value] of Object.entries(raw)) {
      if (TRANSPORT_PARAMETERS.has(name)) continue;
      if (name in verified.value && !sameValue(value, verified.value[name]))
        return refuse(
          'invalid_request',
          `${name} outside the request object differs from the value inside it`,
        );
    }
  }
  return accept(verified.value);
}
