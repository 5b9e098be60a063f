/**
 * The DPoP configuration both roles share (RFC 9449): which proof algorithms are accepted, how far a
 * proof's iat may be from now, and server nonces. The gateway adds its replay store and public origins.
 * Any algorithm the proof verifier supports may be listed (all asymmetric: RFC 9449 §4.3 (5)).
 */
import { z } from 'zod';
import { filePath } from '../config/schema-walk.js';
import { DPOP_ALGORITHMS, type DpopAlgorithm } from './algorithms.js';

/** FAPI 2.0 Security Profile §5.4 (cryptography): PS256, ES256 and EdDSA. */
export const DEFAULT_DPOP_PROOF_ALGORITHMS: DpopAlgorithm[] = ['ES256', 'PS256', 'EdDSA'];

const NONCE_SECRET_FILE =
  'File holding the nonce secret (at least 32 bytes); every replica needs the same file. Random per process when null.';

export const DEFAULT_DPOP_NONCE = { required: false, rotateSeconds: 300, secretFile: null };

/**
 * The `dpop` keys common to gateway and issuer, to spread into each role's `dpop` object.
 * `algorithmsAnnounced` says where the role tells clients the accepted algorithms.
 */
export function dpopProofShape(algorithmsAnnounced: string) {
  return {
    algorithms: z
      .array(z.enum(DPOP_ALGORITHMS))
      .min(1)
      .default(DEFAULT_DPOP_PROOF_ALGORITHMS)
      .describe(`Algorithms accepted for DPoP proofs (${algorithmsAnnounced}).`),
    iatWindowSeconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .default(60)
      .describe(
        "A proof's iat must be within this many seconds of now (RFC 9449 §11.1; no extra skew on top).",
      ),
    nonce: z
      .object({
        required: z
          .boolean()
          .default(false)
          .describe(
            'Proofs must carry a current server nonce (RFC 9449 §8 at the issuer, §9 at the gateway); use_dpop_nonce otherwise.',
          ),
        rotateSeconds: z
          .number()
          .int()
          .min(1)
          .max(86400)
          .default(300)
          .describe('A new nonce every this many seconds; each is accepted for 2 to 3 periods.'),
        secretFile: filePath(NONCE_SECRET_FILE).nullable().default(null).describe(NONCE_SECRET_FILE),
      })
      .strict()
      .default(DEFAULT_DPOP_NONCE),
  };
}
