/**
 * Pending CIBA requests in the issuer's StateStore (kind `ciba`, listed under `user:<sub>`) and
 * request-object `jti`s in its ReplayCache, so a shared store (Redis) serves every replica: the poll,
 * the device page and the notification can each land on a different one.
 *
 * Records are keyed by `tokenKey(auth_req_id)` like every bearer-ish value in the store. The record
 * itself keeps the auth_req_id because the ping and push bodies must carry it (CIBA §10.2, §10.3); it
 * is useless without the client's own credentials at the token endpoint.
 */
import { tokenKey, type Json, type ReplayCache, type StateStore } from '../storage/store.js';
import type { CibaRequestRecord } from './pending-request.js';
import type { CibaRequestStore } from './store.js';

const KIND = 'ciba';
const userIndex = (sub: string) => `user:${sub}`;

export function stateCibaRequestStore(
  state: StateStore,
  replay: ReplayCache,
  nowSeconds: () => number,
): CibaRequestStore {
  return {
    insert: (record, retainUntil) =>
      state.create(
        KIND,
        tokenKey(record.authReqId),
        record as unknown as Json,
        Math.max(1, retainUntil - nowSeconds()),
        [userIndex(record.subject)],
      ),
    get: (authReqId) => state.get<Json>(KIND, tokenKey(authReqId)) as Promise<CibaRequestRecord | undefined>,
    async replace(next) {
      let written = false;
      await state.update<Json>(KIND, tokenKey(next.authReqId), (current) => {
        // A Redis implementation may call `change` again after a conflict: the last call decides.
        written = (current as unknown as CibaRequestRecord).version === next.version - 1;
        if (!written) return undefined;
        return { value: next as unknown as Json };
      });
      return written;
    },
    async listBySubject(sub) {
      const ids = await state.listByIndex(KIND, userIndex(sub));
      const records = await Promise.all(ids.map((id) => state.get<Json>(KIND, id)));
      return (records.filter((r) => r !== undefined) as unknown as CibaRequestRecord[]).sort(
        (a, b) => a.createdAt - b.createdAt,
      );
    },
    claimOnce: (key, until) => replay.firstUse('ciba-request-object', key, Math.max(1, until - nowSeconds())),
  };
}
