/**
 * Stateless server nonces (RFC 9449 §8 and §9): a nonce is the HMAC-SHA-256, under a secret, of the index
 * of the time window it was issued in, so any process holding the same secret can check it without shared
 * state. A nonce is accepted while its window is the current one or one of the two before it: between two
 * and three `rotateSeconds` after it was issued, whenever in its window that was. base64url output is
 * within NQCHAR (RFC 9449 §8.1: %x21 / %x23-5B / %x5D-7E).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/** Windows accepted besides the current one (see above). */
const PAST_WINDOWS = 2;
/** Shortest secret accepted: the HMAC key must not be guessable (RFC 2104 §3: at least the output length). */
export const MIN_NONCE_SECRET_BYTES = 32;

export interface DpopNonceOptions {
  rotateSeconds: number;
  /** At least MIN_NONCE_SECRET_BYTES; random per instance when absent (replicas then disagree). */
  secret?: Uint8Array;
  /** Unix time in seconds (fractions allowed); Date.now by default. */
  now?: () => number;
}

export class DpopNonces {
  private readonly secret: Uint8Array;
  private readonly rotateSeconds: number;
  private readonly now: () => number;
  /** The nonces of the current window and the PAST_WINDOWS before it, current first, as bytes and text. */
  private window = Number.NaN;
  private accepted: { text: string; bytes: Buffer }[] = [];

  constructor(options: DpopNonceOptions) {
    if (!Number.isInteger(options.rotateSeconds) || options.rotateSeconds < 1) {
      throw new RangeError('rotateSeconds must be a positive integer');
    }
    if (options.secret !== undefined && options.secret.byteLength < MIN_NONCE_SECRET_BYTES) {
      throw new RangeError(`the nonce secret must be at least ${MIN_NONCE_SECRET_BYTES} bytes`);
    }
    this.secret = options.secret ?? randomBytes(MIN_NONCE_SECRET_BYTES);
    this.rotateSeconds = options.rotateSeconds;
    this.now = options.now ?? (() => Date.now() / 1000);
  }

  private nonceFor(window: number): string {
    return createHmac('sha256', this.secret).update(`dpop-nonce:${window}`).digest('base64url');
  }

  /** Computed once per window, not per request. */
  private refresh(): void {
    const window = Math.floor(this.now() / this.rotateSeconds);
    if (window === this.window) return;
    this.window = window;
    this.accepted = [];
    for (let w = window; w >= window - PAST_WINDOWS; w--) {
      const text = this.nonceFor(w);
      this.accepted.push({ text, bytes: Buffer.from(text) });
    }
  }

  /** The nonce to hand out now (`DPoP-Nonce` header). */
  current(): string {
    this.refresh();
    return this.accepted[0]!.text;
  }

  /** Whether `nonce` was issued by a holder of the secret within the accepted windows. Constant-time. */
  isValid(nonce: unknown): boolean {
    if (typeof nonce !== 'string' || nonce.length > 256) return false;
    this.refresh();
    const given = Buffer.from(nonce);
    let valid = false;
    for (const { bytes } of this.accepted) {
      if (bytes.length === given.length && timingSafeEqual(bytes, given)) valid = true;
    }
    return valid;
  }
}
