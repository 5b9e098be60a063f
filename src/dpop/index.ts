/** DPoP (RFC 9449), shared by the gateway and the issuer: pure functions and small stateful helpers. */
export { DPOP_ALGORITHMS, isDpopAlgorithm, type DpopAlgorithm } from './algorithms.js';
export { DPOP_ERROR_CODES, DpopError, isDpopError, type DpopErrorCode } from './errors.js';
export { htuMatches, httpsOrigin, originOfHost, normalisedPath, type ExpectedHtu } from './htu.js';
export { DpopNonces, MIN_NONCE_SECRET_BYTES, type DpopNonceOptions } from './nonces.js';
export {
  DpopReplayStoreFull,
  MemoryDpopReplayStore,
  type DpopReplayStore,
  type MemoryDpopReplayStoreOptions,
} from './replay-store.js';
export { accessTokenHash, jwkThumbprint } from './thumbprint.js';
export {
  MAX_PROOF_LENGTH,
  verifyDpopProof,
  type DpopProofPolicy,
  type DpopProofRequest,
  type VerifiedDpopProof,
} from './verify-proof.js';
