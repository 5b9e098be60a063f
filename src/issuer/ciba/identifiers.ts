/**
 * Identifiers and bearer values of the CIBA flow. `auth_req_id` must carry at least 128 bits of entropy
 * (CIBA Core §7.3); we use 256. A client's `client_notification_token` cannot be measured, only bounded:
 * `estimateTokenBits` is an upper bound (length x log2 of the alphabet its character classes imply), so a
 * value it rejects is certainly too weak (FAPI-CIBA §5.2.2: at least 128 bits).
 */
import { randomValue } from '../tokens/random.js';

export function newAuthReqId(): string {
  return randomValue(32);
}

export function estimateTokenBits(token: string): number {
  if (token.length === 0) return 0;
  const distinct = new Set(token).size;
  if (distinct === 1) return 0;
  let alphabet = 0;
  if (/^[0-9a-f]+$/.test(token) || /^[0-9A-F]+$/.test(token)) alphabet = 16;
  else {
    if (/[a-z]/.test(token)) alphabet += 26;
    if (/[A-Z]/.test(token)) alphabet += 26;
    if (/[0-9]/.test(token)) alphabet += 10;
    if (/[^A-Za-z0-9]/.test(token)) alphabet += 8;
  }
  return token.length * Math.log2(alphabet);
}
