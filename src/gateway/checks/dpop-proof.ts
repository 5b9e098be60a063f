/**
 * The DPoP proof of a DPoP-bound access token (RFC 9449 §7): exactly one `DPoP` header whose proof follows
 * every rule of §4.3 for this request (method, URI, time, the token's hash, a server nonce when required,
 * never seen before) and is signed by the key the token names in `cnf.jkt` (§6.1). The proof rules live in
 * src/dpop/ (shared with the issuer's token endpoint); this module maps their outcome to rejections.
 */
import type { IncomingMessage } from 'node:http';
import {
  DpopError,
  type DpopNonces,
  originOfHost,
  verifyDpopProof,
  type DpopErrorCode,
  type DpopReplayStore,
} from '../../dpop/index.js';
import { reject, type Reject, type RejectionReason } from '../rejections.js';
import type { RequestContext } from '../request-context.js';
import type { TokenBinding } from '../tokens/verifier.js';

export interface DpopCheckPolicy {
  algorithms: readonly string[];
  iatWindowSeconds: number;
  /** Normalised https origins `htu` may name instead of the request's Host (a Host-rewriting proxy). */
  publicOrigins?: readonly string[];
  /** Present when nonces are required. */
  nonces?: DpopNonces;
  replayStore: DpopReplayStore;
  now?: () => number;
}

const REASON_FOR_CODE: Record<DpopErrorCode, RejectionReason> = {
  ERR_DPOP_PROOF_MALFORMED: 'dpop_proof_malformed',
  ERR_DPOP_PROOF_TYPE: 'dpop_proof_type',
  ERR_DPOP_PROOF_ALGORITHM: 'dpop_proof_algorithm',
  ERR_DPOP_PROOF_KEY: 'dpop_proof_key',
  ERR_DPOP_PROOF_SIGNATURE: 'dpop_proof_signature',
  ERR_DPOP_PROOF_CLAIMS: 'dpop_proof_claims',
  ERR_DPOP_PROOF_METHOD: 'dpop_proof_method',
  ERR_DPOP_PROOF_URI: 'dpop_proof_uri',
  ERR_DPOP_PROOF_IAT: 'dpop_proof_iat',
  ERR_DPOP_PROOF_ATH: 'dpop_proof_ath',
  ERR_DPOP_NONCE: 'dpop_nonce',
  ERR_DPOP_REPLAY: 'dpop_proof_replay',
  ERR_DPOP_BINDING: 'dpop_binding_mismatch',
  ERR_DPOP_REPLAY_STORE: 'dpop_replay_store_unavailable',
};

export function rejectionForDpopError(err: unknown): Reject {
  if (err instanceof DpopError) return reject(REASON_FOR_CODE[err.code], err.message);
  return reject('dpop_proof_malformed', 'the DPoP proof could not be verified');
}

/** RFC 9449 §4.3 (1): one `DPoP` header (field names are case-insensitive); its value, or why not. */
function proofHeader(req: IncomingMessage): string | Reject {
  const raw = req.rawHeaders;
  let value: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length !== 4 || name.toLowerCase() !== 'dpop') continue;
    if (value !== undefined) return reject('dpop_proof_multiple', 'only one DPoP header may be sent');
    value = raw[i + 1]!;
  }
  if (value === undefined) {
    return reject('dpop_proof_missing', 'a DPoP-bound access token needs a DPoP proof (DPoP header)');
  }
  return value;
}

/** The path of the request target as the client sent it (RFC 9449 §4.3 (9) ignores the query). */
function targetPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function dpopProofCheck(policy: DpopCheckPolicy) {
  const now = policy.now ?? (() => Date.now() / 1000);
  const proofPolicy = { algorithms: policy.algorithms, iatWindowSeconds: policy.iatWindowSeconds };
  // Clients of one deployment use one Host: remember the last one's origin instead of parsing it per request.
  let lastHost: string | undefined;
  let lastOrigins: readonly string[] = [];
  const originsFor = (host: string | undefined): readonly string[] => {
    if (policy.publicOrigins !== undefined) return policy.publicOrigins;
    if (host === undefined) return [];
    if (host !== lastHost) {
      const origin = originOfHost(host);
      lastHost = host;
      lastOrigins = origin === undefined ? [] : [origin];
    }
    return lastOrigins;
  };

  return async (
    ctx: RequestContext,
    binding: Extract<TokenBinding, { kind: 'dpop' }>,
  ): Promise<Reject | undefined> => {
    const proof = proofHeader(ctx.req);
    if (typeof proof !== 'string') return proof;
    try {
      await verifyDpopProof(proof, proofPolicy, {
        method: ctx.req.method ?? '',
        htu: { origins: originsFor(ctx.req.headers.host), path: targetPath(ctx.req) },
        now: now(),
        accessToken: ctx.credentials?.token ?? '',
        expectedJkt: binding.jkt,
        ...(policy.nonces !== undefined ? { nonce: policy.nonces } : {}),
        replayStore: policy.replayStore,
      });
      return undefined;
    } catch (err) {
      return rejectionForDpopError(err);
    }
  };
}
