import { randomBytes } from 'node:crypto';

/**
 * An unguessable value for tokens, codes, request_uris, auth_req_ids and jtis: 256 random bits,
 * base64url (RFC 6749 §10.10 asks for >= 128; FAPI 2 §5.3.2.1 for codes too).
 */
export function randomValue(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
