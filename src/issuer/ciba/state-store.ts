/**
 * Pending CIBA requests in the issuer's StateStore (kind `ciba`, listed under `user:<sub>`) and
 * request-object `jti`s in its ReplayCache, so a shared store (Redis) serves every replica: the poll,
 * the device page and the notification can each land on a different one.
 *
 * Records are keyed by `tokenKey(auth_req_id)` like every bearer-ish value in the store. The record
 * itself keeps the auth_req_id because the ping and push bodies must carry it (CIBA §10.2, §10.3); it
 * is useless without the client's own credentials at the token endpoint.
 */
import { z } from 'zod';
import { recordKind, recordSchema } from '../storage/records.js';
import { tokenKey, type ReplayCache, type StateStore } from '../storage/store.js';
import type { CibaRequestRecord, NotificationState } from './pending-request.js';
import type { CibaRequestStore } from './store.js';

const unixSeconds = z.number().int().nonnegative();

const cibaKind = recordKind<CibaRequestRecord>(
  'ciba',
  recordSchema<CibaRequestRecord>({
    authReqId: z.string(),
    clientId: z.string(),
    subject: z.string(),
    scopes: z.array(z.string()),
    bindingMessage: z.string().optional(),
    acrValues: z.array(z.string()).optional(),
    deliveryMode: z.enum(['poll', 'ping', 'push']),
    clientNotificationToken: z.string().optional(),
    certificateThumbprint: z.string().optional(),
    createdAt: unixSeconds,
    expiresAt: unixSeconds,
    interval: z.number().int().positive(),
    lastPolledAtMs: z.number().int().nonnegative().optional(),
    status: z.enum(['pending', 'approved', 'denied', 'consumed', 'expired']),
    decidedAt: unixSeconds.optional(),
    authTime: unixSeconds.optional(),
    notification: recordSchema<NotificationState>({
      attempts: z.number().int().nonnegative(),
      delivered: z.boolean(),
      abandoned: z.boolean(),
      lastError: z.string().optional(),
    }).optional(),
    version: z.number().int().positive(),
  }),
);

const userIndex = (sub: string) => `user:${sub}`;

export function stateCibaRequestStore(state: StateStore, replay: ReplayCache): CibaRequestStore {
  return {
    insert: (record, retainUntil) =>
      state.create(cibaKind, tokenKey(record.authReqId), { ...record, version: 1 }, retainUntil * 1000, [
        userIndex(record.subject),
      ]),
    async get(authReqId) {
      const stored = await state.get(cibaKind, tokenKey(authReqId));
      // The store's version is the compare-and-set key; the record carries it for `bump`.
      return stored && { ...stored.value, version: stored.version };
    },
    replace: (next) => state.compareAndSet(cibaKind, tokenKey(next.authReqId), next.version - 1, next),
    async listBySubject(sub) {
      const records = await state.listByIndex(cibaKind, userIndex(sub));
      return records.sort((a, b) => a.createdAt - b.createdAt);
    },
    claimOnce: (key, until) => replay.firstUse('ciba-request-object', key, until * 1000),
  };
}
