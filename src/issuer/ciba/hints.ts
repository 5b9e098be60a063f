/**
 * Finding the user a backchannel authentication request is about, from its one hint (CIBA Core §7.1):
 *   - `login_hint`: the username;
 *   - `id_token_hint`: an ID token this issuer issued to the client (its `sub`);
 *   - `login_hint_token`: a JWT signed by the client with its registered key, carrying `exp` and a
 *     `sub_id` subject identifier (RFC 9493 formats `opaque` {id: username}, `email` {email} or `iss_sub`
 *     {iss: this issuer, sub}); an expired one is `expired_login_hint_token` (§13).
 * Unknown users are `unknown_user_id` (§13): the client is authenticated, and the spec wants it told.
 */
import { authenticationError as refuse, fail, ok, type Result } from './errors.js';
import type { AuthenticationErrorCode, CibaError } from './errors.js';
import type { Hint } from './authentication-request.js';
import { subjectOfIdTokenHint, verifyRequestObject, type KeyLookup } from './request-object.js';

type Err = CibaError<AuthenticationErrorCode>;

export interface CibaUser {
  /** OIDC subject (the users module decides: `claims.sub` or the username). */
  sub: string;
  username: string;
  claims: Record<string, unknown>;
  acr?: string;
  /** The user's CIBA user_code, when one is configured. */
  userCode?: string;
}

/** How CIBA finds users; the issuer's users module backs it. */
export interface CibaUserDirectory {
  byUsername(username: string): Promise<CibaUser | undefined>;
  bySubject(sub: string): Promise<CibaUser | undefined>;
  byEmail(email: string): Promise<CibaUser | undefined>;
}

export interface HintContext {
  issuer: string;
  clientId: string;
  clockSkewSeconds: number;
  now: number;
  algorithms: readonly string[];
  clientKeys: KeyLookup | undefined;
  issuerKeys: KeyLookup;
  users: CibaUserDirectory;
}

const unknownUser = () =>
  fail(refuse('unknown_user_id', 'the hint does not identify a user known to this issuer'));

const found = (u: CibaUser | undefined): Result<CibaUser, Err> => (u ? ok(u) : unknownUser());

export async function userOfHint(hint: Hint, ctx: HintContext): Promise<Result<CibaUser, Err>> {
  switch (hint.kind) {
    case 'login_hint':
      return found(await ctx.users.byUsername(hint.value));
    case 'id_token_hint': {
      const sub = await subjectOfIdTokenHint(
        hint.value,
        ctx.issuerKeys,
        ctx.algorithms,
        ctx.issuer,
        ctx.clientId,
      );
      return sub.ok ? found(await ctx.users.bySubject(sub.value)) : sub;
    }
    case 'login_hint_token': {
      const verified = await verifyRequestObject(hint.value, ctx.clientKeys, ctx.algorithms);
      if (!verified.ok)
        return fail(
          refuse('invalid_request', verified.error.description.replace('request object', 'login_hint_token')),
        );
      const { exp, sub_id: subId } = verified.value;
      if (typeof exp !== 'number') return fail(refuse('invalid_request', 'login_hint_token has no exp'));
      if (exp <= ctx.now - ctx.clockSkewSeconds)
        return fail(refuse('expired_login_hint_token', 'login_hint_token has expired'));
      if (subId === null || typeof subId !== 'object')
        return fail(
          refuse('invalid_request', 'login_hint_token has no sub_id (RFC 9493 subject identifier)'),
        );
      const s = subId as Record<string, unknown>;
      if (s.format === 'opaque' && typeof s.id === 'string') return found(await ctx.users.byUsername(s.id));
      if (s.format === 'iss_sub' && s.iss === ctx.issuer && typeof s.sub === 'string')
        return found(await ctx.users.bySubject(s.sub));
      if (s.format === 'email' && typeof s.email === 'string') return found(await ctx.users.byEmail(s.email));
      return fail(
        refuse(
          'invalid_request',
          'login_hint_token sub_id must use format opaque, email or iss_sub (of this issuer)',
        ),
      );
    }
  }
}
