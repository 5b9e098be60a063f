/**
 * `tokens.introspection.introspectJwts`: a JWT access token must pass local validation (RFC 9068) and then
 * an introspection answer (RFC 7662), so a JWT revoked at the authorization server stops working within
 * `cacheMaxSeconds` instead of at its `exp`. The identity is the signed token's. A JWT failing a local
 * check is never sent to the endpoint.
 */
import type { Reject } from '../rejections.js';
import {
  isReject,
  type ConnectionTokenMemo,
  type TokenVerifier,
  type VerifiedAccessToken,
} from '../tokens/verifier.js';

type Result = VerifiedAccessToken | Reject | Promise<VerifiedAccessToken | Reject>;

export class JwtAndIntrospection implements TokenVerifier {
  readonly kind = 'jwt';

  constructor(
    private readonly jwt: TokenVerifier,
    private readonly introspection: TokenVerifier,
  ) {}

  /**
   * Neither verifier gets the connection memo: a memo owned by one of them would let the next request
   * skip the other. Each still answers repeated tokens from its own cache.
   */
  verify(token: string, _memo?: ConnectionTokenMemo): Result {
    const local = this.jwt.verify(token);
    return local instanceof Promise
      ? local.then((r) => this.introspect(token, r))
      : this.introspect(token, local);
  }

  private introspect(token: string, local: VerifiedAccessToken | Reject): Result {
    if (isReject(local)) return local;
    const remote = this.introspection.verify(token);
    const settle = (r: VerifiedAccessToken | Reject) => (isReject(r) ? r : local);
    return remote instanceof Promise ? remote.then(settle) : settle(remote);
  }

  ready(): boolean {
    return this.jwt.ready();
  }

  whenReady(): Promise<void> {
    return this.jwt.whenReady();
  }

  /** The parts are stopped by their owner (TokenVerifiers). */
  stop(): void {}
}
