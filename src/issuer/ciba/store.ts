/**
 * Where pending CIBA requests live: the issuer's state store (`state-store.ts`), so any replica can serve
 * the poll, the device page and the notification. Every change of a request is a compare-and-set on its
 * `version`, so two replicas racing on one auth_req_id cannot both apply a transition.
 */
import type { CibaRequestRecord } from './pending-request.js';

export interface CibaRequestStore {
  /** Stores a new record until `retainUntil` (unix seconds); false if the id exists. */
  insert(record: CibaRequestRecord, retainUntil: number): Promise<boolean>;
  get(authReqId: string): Promise<CibaRequestRecord | undefined>;
  /** Writes `next` iff the stored record still has version `next.version - 1`; false otherwise. */
  replace(next: CibaRequestRecord): Promise<boolean>;
  listBySubject(subject: string): Promise<CibaRequestRecord[]>;
  /** True the first time `key` is claimed before `until` (unix seconds), false on every later claim. */
  claimOnce(key: string, until: number): Promise<boolean>;
}

/** Records stay this long after their expiry so a late poll gets expired_token rather than invalid_grant. */
export const RETENTION_AFTER_EXPIRY_SECONDS = 600;

export type TransitionResult<T> = { applied: true; value: T } | { applied: false; value: T };

/**
 * Reads the record, lets `transition` compute the answer and maybe a next record, and writes it with a
 * compare-and-set, retrying when another replica wrote in between. Returns the answer that was applied.
 */
export async function updateRequest<T>(
  store: CibaRequestStore,
  authReqId: string,
  transition: (record: CibaRequestRecord | undefined) => { result: T; next?: CibaRequestRecord },
  attempts = 5,
): Promise<T> {
  for (let i = 0; ; i++) {
    const { result, next } = transition(await store.get(authReqId));
    if (next === undefined || (await store.replace(next))) return result;
    if (i + 1 >= attempts)
      throw new Error(`CIBA request ${authReqId.slice(0, 6)}…: too much write contention`);
  }
}
