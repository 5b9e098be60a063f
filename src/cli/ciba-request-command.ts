/**
 * `fapi-gateway ciba-request`: signs a CIBA authentication request object (CIBA Core §7.1.1, with the
 * FAPI-CIBA claims aud, iss, exp, iat, nbf, jti) with a client's private key and prints it, so a CIBA
 * flow can be driven from a shell with curl (the demo's CIBA walkthrough uses it).
 */
import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { SignJWT } from 'jose';
import { UsageError, requiredOption, stringOption, type Command } from './command.js';
import { SIGNING_ALGORITHMS } from '../issuer/config.js';

const ALGORITHMS: readonly string[] = SIGNING_ALGORITHMS;

export const cibaRequestCommand: Command = {
  name: 'ciba-request',
  summary: 'Sign a CIBA backchannel authentication request object with a client key and print it.',
  usage:
    '--issuer URL --client-id ID --key PEM [--kid KID] [--alg PS256|ES256] [--scope S] [--login-hint U] [--binding-message M] [--client-notification-token T] [--requested-expiry SECONDS] [--lifetime SECONDS]',
  options: {
    issuer: { type: 'string' },
    'client-id': { type: 'string' },
    key: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
    scope: { type: 'string' },
    'login-hint': { type: 'string' },
    'binding-message': { type: 'string' },
    'client-notification-token': { type: 'string' },
    'requested-expiry': { type: 'string' },
    lifetime: { type: 'string' },
  },
  async run(args) {
    const issuer = requiredOption(args, 'issuer');
    const clientId = requiredOption(args, 'client-id');
    const keyFile = requiredOption(args, 'key');
    const alg = stringOption(args, 'alg') ?? 'PS256';
    if (!ALGORITHMS.includes(alg))
      throw new UsageError(`--alg must be ${ALGORITHMS.join(' or ')} (got "${alg}")`);
    let key;
    try {
      key = createPrivateKey(readFileSync(keyFile));
    } catch (err) {
      throw new UsageError(`cannot read a private key from --key ${keyFile}: ${(err as Error).message}`);
    }
    const lifetime = Number(stringOption(args, 'lifetime') ?? '300');
    if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > 3600)
      throw new UsageError('--lifetime must be 1..3600 seconds (FAPI-CIBA: at most 60 minutes)');
    const expiry = stringOption(args, 'requested-expiry');
    if (expiry !== undefined && !/^[1-9][0-9]*$/.test(expiry))
      throw new UsageError('--requested-expiry must be a positive integer (seconds)');
    const claims: Record<string, unknown> = { scope: stringOption(args, 'scope') ?? 'openid' };
    const optional: [string, string][] = [
      ['login-hint', 'login_hint'],
      ['binding-message', 'binding_message'],
      ['client-notification-token', 'client_notification_token'],
    ];
    for (const [option, claim] of optional) {
      const v = stringOption(args, option);
      if (v !== undefined) claims[claim] = v;
    }
    if (expiry !== undefined) claims.requested_expiry = Number(expiry);
    const now = Math.floor(Date.now() / 1000);
    const kid = stringOption(args, 'kid');
    const jwt = await new SignJWT(claims)
      .setProtectedHeader({ alg, ...(kid !== undefined ? { kid } : {}) })
      .setIssuer(clientId)
      .setAudience(issuer)
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + lifetime)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key);
    process.stdout.write(`${jwt}\n`);
    return 0;
  },
};
