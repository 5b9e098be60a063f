/**
 * DPoP proofs (RFC 9449) at the issuer's endpoints: the token endpoint (§5), PAR (§10.1) and userinfo
 * (§7, a protected resource). Proof verification itself is the shared module `src/dpop/` (the gateway
 * uses the same); this step supplies what only the issuer knows:
 * - `htu` is the public URL of the endpoint on the listener that received the request (the plain URL or
 *   its mtls_endpoint_aliases twin, §4.3 (9)); `htm` the request's method;
 * - the `jti` is single use through the issuer's ReplayCache (memory or the shared store), for the
 *   proof's iat window (§11.1);
 * - with `dpop.nonce.required`, the proof must carry a current server nonce (§8): the refusal is
 *   `use_dpop_nonce` with a fresh `DPoP-Nonce`, and successful answers carry one too (§8.2). Nonces are
 *   stateless HMACs of the time window under `dpop.nonce.secretFile`, so replicas agree.
 */
import { readFileSync } from 'node:fs';
import {
  DpopNonces,
  isDpopError,
  verifyDpopProof,
  type DpopErrorCode,
  type VerifiedDpopProof,
} from '../../dpop/index.js';
import type { IssuerRefusalReason } from '../refusals.js';
import { OAuthError } from '../errors.js';
import type { IssuerRequest } from '../http.js';
import type { IssuerRuntime } from '../runtime.js';

const nonceSources = new WeakMap<IssuerRuntime, DpopNonces | undefined>();

/** The nonce source when `dpop.nonce.required`, else undefined (made once per issuer). */
export function dpopNoncesOf(runtime: IssuerRuntime): DpopNonces | undefined {
  if (nonceSources.has(runtime)) return nonceSources.get(runtime);
  const { nonce } = runtime.config.dpop;
  const nonces = nonce.required
    ? new DpopNonces({
        rotateSeconds: nonce.rotateSeconds,
        ...(nonce.secretFile ? { secret: readNonceSecret(nonce.secretFile) } : {}),
        now: () => runtime.clock.nowMs() / 1000,
      })
    : undefined;
  nonceSources.set(runtime, nonces);
  return nonces;
}

/** The secret file's bytes, a trailing newline ignored (start-up checks its length). */
export function readNonceSecret(file: string): Buffer {
  const bytes = readFileSync(file);
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}

/** `DPoP-Nonce` for a successful answer when nonces are required (RFC 9449 §8.2), else nothing. */
export function dpopNonceHeaders(runtime: IssuerRuntime): Record<string, string> {
  const nonces = dpopNoncesOf(runtime);
  return nonces ? { 'DPoP-Nonce': nonces.current() } : {};
}

export interface ProofExpectations {
  /** At a protected resource: the access token the proof's `ath` must hash (§4.3 (12)). */
  accessToken?: string;
  /** At a protected resource: the token's `cnf.jkt` (§6.1), checked before the jti is used up. */
  expectedJkt?: string;
}

export interface ProofFailure {
  ok: false;
  code: DpopErrorCode | 'ERR_DPOP_PROOF_MULTIPLE';
  description: string;
}

export type ProofOutcome = { ok: true; proof: VerifiedDpopProof | undefined } | ProofFailure;

/** The `DPoP` request header values (RFC 9449 §4.3 (1): exactly one). */
function proofHeaders(request: IssuerRequest): string[] {
  const raw = request.raw.rawHeaders;
  const values: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (raw[i]!.toLowerCase() === 'dpop') values.push(raw[i + 1]!);
  return values;
}

/** Verifies the request's DPoP proof, if it has one; `proof: undefined` when it has none. */
export async function requestProof(
  request: IssuerRequest,
  runtime: IssuerRuntime,
  expect: ProofExpectations = {},
): Promise<ProofOutcome> {
  const headers = proofHeaders(request);
  if (headers.length === 0) return { ok: true, proof: undefined };
  if (headers.length > 1)
    return { ok: false, code: 'ERR_DPOP_PROOF_MULTIPLE', description: 'send exactly one DPoP header' };
  const publicUrl = new URL(request.publicUrl);
  const nonces = dpopNoncesOf(runtime);
  try {
    const proof = await verifyDpopProof(
      headers[0]!,
      { algorithms: runtime.config.dpop.algorithms, iatWindowSeconds: runtime.config.dpop.iatWindowSeconds },
      {
        method: request.method,
        htu: { origins: [publicUrl.origin], path: publicUrl.pathname },
        now: runtime.clock.nowSeconds(),
        ...(expect.accessToken !== undefined ? { accessToken: expect.accessToken } : {}),
        ...(expect.expectedJkt !== undefined ? { expectedJkt: expect.expectedJkt } : {}),
        ...(nonces ? { nonce: nonces } : {}),
        replayStore: {
          firstUse: (key, ttlSeconds) =>
            runtime.storage.replay.firstUse('dpop-proof', key, runtime.clock.nowMs() + ttlSeconds * 1000),
        },
      },
    );
    return { ok: true, proof };
  } catch (err) {
    if (!isDpopError(err)) throw err;
    return { ok: false, code: err.code, description: err.message };
  }
}

/** Metric reason of a refused proof: the error code in snake case (a closed set). */
/** `ERR_DPOP_PROOF_IAT` -> `dpop_proof_iat`: every proof failure code has its reason in refusals.ts. */
export function dpopReason(code: ProofFailure['code']): IssuerRefusalReason {
  return code.replace(/^ERR_/, '').toLowerCase() as Lowercase<
    ProofFailure['code'] extends `ERR_${infer R}` ? R : never
  >;
}

/**
 * The proof of a request to an authorization-server endpoint (token, PAR): undefined without one;
 * a bad proof is 400 `invalid_dpop_proof` (§5), a missing or stale nonce 400 `use_dpop_nonce` with a
 * fresh `DPoP-Nonce` (§8), a replay store that cannot answer 503 (fail closed).
 */
export async function authorizationServerProof(
  request: IssuerRequest,
  runtime: IssuerRuntime,
): Promise<VerifiedDpopProof | undefined> {
  const outcome = await requestProof(request, runtime);
  if (outcome.ok) return outcome.proof;
  throw proofRefusal(outcome, runtime);
}

export function proofRefusal(outcome: ProofFailure, runtime: IssuerRuntime): OAuthError {
  const reason = dpopReason(outcome.code);
  if (outcome.code === 'ERR_DPOP_NONCE')
    return new OAuthError(reason, outcome.description, { headers: dpopNonceHeaders(runtime) });
  if (outcome.code === 'ERR_DPOP_REPLAY_STORE')
    return new OAuthError(reason, 'the DPoP replay store cannot answer');
  return new OAuthError(reason, outcome.description);
}
