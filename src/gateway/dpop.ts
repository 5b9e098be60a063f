/**
 * DPoP at the gateway (RFC 9449 §7), built once per `dpop` configuration: the proof check given to the
 * binding check, the `algs` every DPoP challenge announces, and the server nonces (§8, §9) that every
 * answer on a route accepting DPoP carries when nonces are required. The replay store and the nonce
 * secret survive a reload that leaves `dpop` unchanged, so a reload neither forgets used proofs nor
 * invalidates nonces in circulation.
 */
import { readFileSync } from 'node:fs';
import {
  DpopNonces,
  httpsOrigin,
  MemoryDpopReplayStore,
  MIN_NONCE_SECRET_BYTES,
  type DpopReplayStore,
} from '../dpop/index.js';
import { dpopProofCheck } from './checks/dpop-proof.js';
import type { DpopBindingCheck } from './checks/binding.js';
import type { DpopConfig } from './config.js';
import type { RequestContext } from './request-context.js';
import { StartupError } from './startup-error.js';

export interface GatewayDpopOptions {
  /** Unix seconds; tests inject a clock to move through nonce windows and iat windows. */
  now?: () => number;
  /** A shared replay store (several replicas); the in-memory one otherwise. */
  replayStore?: DpopReplayStore;
}

function readNonceSecret(file: string): Buffer {
  let secret: Buffer;
  try {
    secret = readFileSync(file);
  } catch (err) {
    throw new StartupError(
      'dpop.nonce.secretFile',
      `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      { cause: err },
    );
  }
  if (secret.length < MIN_NONCE_SECRET_BYTES) {
    throw new StartupError(
      'dpop.nonce.secretFile',
      `${file} holds ${secret.length} bytes; it needs at least ${MIN_NONCE_SECRET_BYTES} (e.g. head -c 32 /dev/urandom > ${file})`,
    );
  }
  return secret;
}

export class GatewayDpop {
  /** RFC 9449 §7.1 `algs` attribute: the configured algorithms, space-separated. */
  readonly algs: string;
  readonly nonces: DpopNonces | undefined;
  readonly replayStore: DpopReplayStore;
  readonly bindingCheck: DpopBindingCheck;

  constructor(
    readonly config: DpopConfig,
    options: GatewayDpopOptions = {},
  ) {
    const now = options.now ?? (() => Date.now() / 1000);
    this.algs = config.algorithms.join(' ');
    this.nonces = config.nonce.required
      ? new DpopNonces({
          rotateSeconds: config.nonce.rotateSeconds,
          ...(config.nonce.secretFile !== null ? { secret: readNonceSecret(config.nonce.secretFile) } : {}),
          now,
        })
      : undefined;
    this.replayStore =
      options.replayStore ?? new MemoryDpopReplayStore({ maxEntries: config.replayStore.maxEntries, now });
    const publicOrigins = config.publicOrigins?.map((o, i) => {
      const origin = httpsOrigin(o);
      if (origin === undefined) {
        throw new StartupError(
          `dpop.publicOrigins.${i}`,
          `${o} is not an https origin (https://host[:port])`,
        );
      }
      return origin;
    });
    this.bindingCheck = dpopProofCheck({
      algorithms: config.algorithms,
      iatWindowSeconds: config.iatWindowSeconds,
      ...(publicOrigins !== undefined ? { publicOrigins } : {}),
      ...(this.nonces !== undefined ? { nonces: this.nonces } : {}),
      replayStore: this.replayStore,
      now,
    });
  }

  /**
   * The nonce every answer on this request's route carries (RFC 9449 §8.2: the server may send a fresh
   * one on any response), or undefined when nonces are not required or the route does not accept DPoP.
   */
  nonceFor(ctx: RequestContext): string | undefined {
    if (this.nonces === undefined) return undefined;
    const binding = ctx.route?.binding;
    if (binding !== 'dpop' && binding !== 'any') return undefined;
    return this.nonces.current();
  }
}
