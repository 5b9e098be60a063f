/**
 * Token binding: the token's confirmation (`cnf`) must match what this request proves it holds.
 *  - mtls (RFC 8705 §3): `x5t#S256` must be the thumbprint of the request's client certificate. Only the
 *    certificate the gateway trusts for this request counts (see RequestContext.certificate).
 *  - dpop (RFC 9449 §7): the proof check given to `bindingCheck`; without one, DPoP-bound tokens are refused.
 * The route says which kinds it accepts, and the presentation scheme must fit the token (RFC 9449 §7.1:
 * a DPoP-bound token is sent with `DPoP`, never as `Bearer`). A mismatch means the token was presented
 * by someone other than the client it was issued to.
 */
import { reject, type Reject } from '../rejections.js';
import type { Check, RequestContext } from '../request-context.js';
import type { TokenBinding } from '../tokens/verifier.js';

export type DpopBindingCheck = (
  ctx: RequestContext,
  binding: Extract<TokenBinding, { kind: 'dpop' }>,
) => Reject | undefined | Promise<Reject | undefined>;

function mtlsBinding(ctx: RequestContext, x5t: string): Reject | undefined {
  const certificate = ctx.certificate;
  if (certificate === undefined) {
    return reject(
      'certificate_missing',
      ctx.connection.trustedProxy === true
        ? 'the access token is bound to a client certificate and the trusted proxy sent no Client-Cert header'
        : 'the access token is bound to a client certificate and none was presented',
    );
  }
  if (x5t !== certificate.thumbprint) {
    return reject('binding_mismatch', "the access token is bound to another client's certificate");
  }
  return undefined;
}

export function bindingCheck(dpopBinding?: DpopBindingCheck): Check {
  return {
    name: 'binding',
    requires: ['route', 'credentials', 'token'],
    provides: ['binding'],
    reportable: true,
    run(ctx) {
      const binding = ctx.verified?.binding;
      const accepted = ctx.route?.binding ?? 'mtls';
      if (binding === undefined || (binding.kind === 'dpop' && accepted === 'mtls')) {
        return reject('binding_missing', 'the access token is not bound to a client certificate');
      }
      if (binding.kind === 'mtls') {
        if (accepted === 'dpop') {
          return reject('binding_mismatch', 'this route accepts only DPoP-bound access tokens');
        }
        if (ctx.credentials?.scheme === 'dpop') {
          return reject(
            'binding_mismatch',
            'a certificate-bound access token is presented with the DPoP scheme',
          );
        }
        return mtlsBinding(ctx, binding.x5t);
      }
      if (ctx.credentials?.scheme !== 'dpop') {
        return reject('binding_mismatch', 'a DPoP-bound access token must be presented with the DPoP scheme');
      }
      if (dpopBinding === undefined) {
        return reject('binding_mismatch', 'DPoP-bound access tokens are not accepted');
      }
      return dpopBinding(ctx, binding);
    },
  };
}
