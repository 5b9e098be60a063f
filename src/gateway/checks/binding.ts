/**
 * Certificate binding (RFC 8705 §3): the token's `cnf."x5t#S256"` must be the thumbprint of the client
 * certificate on this TLS connection. Only the TLS layer's certificate counts; no header can supply one.
 * A mismatch means the token was presented by someone other than the client it was issued to.
 */
import { reject } from '../rejections.js';
import type { Check } from '../request-context.js';

export const bindingCheck: Check = (ctx) => {
  const bound = ctx.verified!.boundThumbprint;
  if (bound === undefined) {
    return reject('binding_missing', 'the access token is not bound to a client certificate');
  }
  if (bound !== ctx.connection.thumbprint) {
    return reject('binding_mismatch', "the access token is bound to another client's certificate");
  }
  return undefined;
};
