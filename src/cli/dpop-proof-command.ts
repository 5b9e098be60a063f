import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { accessTokenHash } from '../dpop/index.js';
import { UsageError, requiredOption, stringOption, type Command } from './command.js';

/** The proof algorithm for a key: ES256 (P-256), PS256 (RSA) or EdDSA (Ed25519), the FAPI 2 set. */
function algorithmFor(key: KeyObject): 'ES256' | 'PS256' | 'EdDSA' {
  if (key.asymmetricKeyType === 'rsa') return 'PS256';
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return 'ES256';
  throw new UsageError('the key must be an EC P-256, RSA or Ed25519 private key');
}

/**
 * A development helper: prints a DPoP proof (RFC 9449 §4) for one request, signed with a PEM private key
 * whose public part goes in the `jwk` header, so curl can obtain and use DPoP-bound tokens. A proof is
 * single use and valid for about a minute: make a new one for every request. Not for production clients
 * (they keep the key in memory and sign per request).
 */
export const dpopProofCommand: Command = {
  name: 'dpop-proof',
  summary:
    'Print a DPoP proof (RFC 9449) for one request, signed with a PEM key (for curl; development use).',
  usage: '--method METHOD --url URL --key FILE [--access-token TOKEN] [--nonce NONCE]',
  options: {
    method: { type: 'string' },
    url: { type: 'string' },
    key: { type: 'string' },
    'access-token': { type: 'string' },
    nonce: { type: 'string' },
  },
  async run(args) {
    const method = requiredOption(args, 'method').toUpperCase();
    if (!/^[A-Z]+$/.test(method)) throw new UsageError('--method must be an HTTP method, e.g. POST');
    const url = requiredOption(args, 'url');
    let htu: URL;
    try {
      htu = new URL(url);
    } catch {
      throw new UsageError('--url must be an absolute URL');
    }
    if (htu.protocol !== 'https:') throw new UsageError('--url must be an https:// URL');
    // RFC 9449 §4.2: htu is the target URI without query and fragment.
    htu.search = '';
    htu.hash = '';
    const keyFile = requiredOption(args, 'key');
    let key: KeyObject;
    try {
      key = createPrivateKey(readFileSync(keyFile));
    } catch (err) {
      throw new UsageError(`cannot read a private key from ${keyFile}: ${(err as Error).message}`);
    }
    const alg = algorithmFor(key);
    const { SignJWT, exportJWK } = await import('jose');
    const jwk = await exportJWK(createPublicKey(key));
    const accessToken = stringOption(args, 'access-token');
    const nonce = stringOption(args, 'nonce');
    const proof = await new SignJWT({
      htm: method,
      htu: htu.toString(),
      ...(accessToken !== undefined ? { ath: accessTokenHash(accessToken) } : {}),
      ...(nonce !== undefined ? { nonce } : {}),
    })
      .setProtectedHeader({ typ: 'dpop+jwt', alg, jwk })
      .setIssuedAt()
      .setJti(randomBytes(16).toString('base64url'))
      .sign(key);
    process.stdout.write(`${proof}\n`);
    return 0;
  },
};
