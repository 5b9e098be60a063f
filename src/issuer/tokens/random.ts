import { randomFillSync } from 'node:crypto';

/**
 * Random bytes are drawn from the CSPRNG in blocks and handed out once each (as Node's randomUUID
 * does): one system call per block instead of one per token, code or jti. The cursor only moves
 * forward, and the block is refilled before any byte could be handed out twice.
 */
const BLOCK = 8192;
const pool = Buffer.alloc(BLOCK);
let offset = BLOCK;

/**
 * An unguessable value for tokens, codes, request_uris, auth_req_ids and jtis: 256 random bits,
 * base64url (RFC 6749 §10.10 asks for >= 128; FAPI 2 §5.3.2.1 for codes too).
 */
export function randomValue(bytes = 32): string {
  if (bytes > BLOCK) return randomFillSync(Buffer.alloc(bytes)).toString('base64url');
  if (offset + bytes > BLOCK) {
    randomFillSync(pool);
    offset = 0;
  }
  const value = pool.toString('base64url', offset, offset + bytes);
  offset += bytes;
  return value;
}
