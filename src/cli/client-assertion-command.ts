import { createPrivateKey, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { UsageError, requiredOption, stringOption, type Command } from './command.js';

/**
 * A development helper: prints a private_key_jwt client assertion (RFC 7523 §2.2) signed with a PEM key,
 * so curl can authenticate a client at the token endpoint. Short-lived (60 s) with a fresh jti, as the
 * issuer requires.
 */
export const clientAssertionCommand: Command = {
  name: 'client-assertion',
  summary: 'Print a private_key_jwt client assertion (RFC 7523) signed with a PEM key (for curl).',
  usage: '--client-id ID --key FILE --audience ISSUER-URL [--kid KID] [--alg PS256|ES256]',
  options: {
    'client-id': { type: 'string' },
    key: { type: 'string' },
    audience: { type: 'string' },
    kid: { type: 'string' },
    alg: { type: 'string' },
  },
  async run(args) {
    const clientId = requiredOption(args, 'client-id');
    const audience = requiredOption(args, 'audience');
    const alg = stringOption(args, 'alg') ?? 'PS256';
    if (alg !== 'PS256' && alg !== 'ES256') throw new UsageError('--alg must be PS256 or ES256');
    const keyFile = requiredOption(args, 'key');
    let key;
    try {
      key = createPrivateKey(readFileSync(keyFile));
    } catch (err) {
      throw new UsageError(`cannot read a private key from ${keyFile}: ${(err as Error).message}`);
    }
    const { SignJWT } = await import('jose');
    const kid = stringOption(args, 'kid');
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
      .setIssuer(clientId)
      .setSubject(clientId)
      .setAudience(audience)
      .setIssuedAt()
      .setExpirationTime('60s')
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key);
    process.stdout.write(`${assertion}\n`);
    return 0;
  },
};
