/**
 * The one error a Redis-backed store throws when Redis cannot answer (down, unreachable, refusing our
 * credentials, or too slow). Request handlers turn it into 503 and nothing else: the request changed
 * nothing it could not finish, and the client may retry (RFC 6749 §5.2 `temporarily_unavailable` at the
 * token endpoint, RFC 9110 §15.6.4).
 */

/** Why a command failed: a closed set (metric label). */
export type RedisFailureKind = 'unavailable' | 'timeout' | 'error';

export class RedisUnavailableError extends Error {
  readonly code = 'store_unavailable';

  constructor(
    /** The store operation that could not run (a closed set chosen in code, e.g. `state.consume`). */
    readonly operation: string,
    readonly kind: Exclude<RedisFailureKind, 'error'>,
    options?: { cause?: unknown },
  ) {
    super(`Redis is unavailable (${kind}) for ${operation}`, options);
    this.name = 'RedisUnavailableError';
  }
}
