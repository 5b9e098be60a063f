/**
 * Identifiers and bearer values of the CIBA flow. `auth_req_id` must carry at least 128 bits of entropy
 * (CIBA Core §7.3); we use 256. A client's `client_notification_token` cannot be measured, only bounded:
 * `estimateTokenBits` is an upper bound (unpredictable characters x log2 of the alphabet its character
 * classes imply), so a value it rejects is certainly too weak (FAPI-CIBA §5.2.2: at least 128 bits).
 */
import { randomValue } from '../tokens/random.js';

export function newAuthReqId(): string {
  return randomValue(32);
}

export function estimateTokenBits(token: string): number {
  if (token.length === 0) return 0;
  return unpredictableCharacters(token) * Math.log2(alphabetSize(token));
}

/** The alphabet its character classes imply: hex when it is all hex digits of one case. */
function alphabetSize(token: string): number {
  if (/^[0-9a-f]+$/.test(token) || /^[0-9A-F]+$/.test(token)) return 16;
  let alphabet = 0;
  if (/[a-z]/.test(token)) alphabet += 26;
  if (/[A-Z]/.test(token)) alphabet += 26;
  if (/[0-9]/.test(token)) alphabet += 10;
  if (/[^A-Za-z0-9]/.test(token)) alphabet += 8;
  return Math.max(alphabet, 2);
}

/**
 * Characters a guesser cannot predict from the ones before: a run of one character or of neighbouring
 * ones (`xxxx`, `1234`, `dcba`) is predictable past its first two, and so is anything inside a 4-character
 * sequence seen earlier (`abab...`, a pattern repeated). Runs and repeats of that length are rare in a
 * random value, so a real token keeps almost all of its length.
 */
function unpredictableCharacters(token: string): number {
  const predictable = new Uint8Array(token.length);
  for (let i = 3; i < token.length; i++) {
    const step = token.charCodeAt(i) - token.charCodeAt(i - 1);
    if (
      Math.abs(step) <= 1 &&
      token.charCodeAt(i - 1) - token.charCodeAt(i - 2) === step &&
      token.charCodeAt(i - 2) - token.charCodeAt(i - 3) === step
    ) {
      predictable[i] = 1;
      predictable[i - 1] = 1;
    }
  }
  const seen = new Set<string>();
  for (let i = 0; i + 4 <= token.length; i++) {
    const gram = token.slice(i, i + 4);
    if (seen.has(gram)) predictable.fill(1, i, i + 4);
    else seen.add(gram);
  }
  return predictable.reduce((n, p) => n + (p ? 0 : 1), 0);
}
