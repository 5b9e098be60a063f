/**
 * The life of a backchannel authentication request as a state machine over plain records:
 *
 *   pending --user approves--> approved --token issued (poll/ping) or pushed (push)--> consumed
 *   pending --user denies---> denied
 *   pending|approved --clock passes expiresAt--> expired (derived from time, and recorded when observed)
 *
 * Every function here is pure: it takes a record and `now` (unix seconds) and returns the answer and the
 * next record; `store.ts` applies the next record with a compare-and-set on `version`, so two replicas
 * racing on the same auth_req_id cannot both issue tokens (consume-once).
 */
import type { DeliveryMode } from './authentication-request.js';

export type RequestStatus = 'pending' | 'approved' | 'denied' | 'consumed' | 'expired';

/** Outcome of the push or ping notification, kept on the record so no delivery is lost silently. */
export interface NotificationState {
  attempts: number;
  delivered: boolean;
  /** Delivery stopped without success (the request expired first). */
  abandoned: boolean;
  lastError?: string;
}

export interface CibaRequestRecord {
  authReqId: string;
  clientId: string;
  /** The user (the issuer's `sub`, the username). */
  subject: string;
  scopes: string[];
  bindingMessage?: string;
  acrValues?: string[];
  deliveryMode: DeliveryMode;
  clientNotificationToken?: string;
  /**
   * RFC 8705 x5t#S256 of the certificate the client presented on the backchannel authentication request.
   * Push tokens never pass the token endpoint, so this is the connection they are bound to (CIBA §10.3).
   */
  certificateThumbprint?: string;
  createdAt: number;
  expiresAt: number;
  /** Minimum seconds between polls; grows by 5 s at each slow_down (CIBA Core §11). */
  interval: number;
  /** Unix milliseconds of the last token request (sub-second, so two quick polls are always seen). */
  lastPolledAtMs?: number;
  status: RequestStatus;
  decidedAt?: number;
  /** When the user signed in on the authentication device (ID token `auth_time`). */
  authTime?: number;
  notification?: NotificationState;
  /** Incremented by every write; the store's compare-and-set key. */
  version: number;
}

/** CIBA Core §11: "the interval MUST be increased by at least 5 seconds for all subsequent requests". */
export const SLOW_DOWN_INCREMENT_SECONDS = 5;

export function isExpired(record: CibaRequestRecord, now: number): boolean {
  return now >= record.expiresAt;
}

/** The status as of `now`: a pending or approved request past its expiry is expired. */
export function currentStatus(record: CibaRequestRecord, now: number): RequestStatus {
  if ((record.status === 'pending' || record.status === 'approved') && isExpired(record, now))
    return 'expired';
  return record.status;
}

export type PollOutcome =
  | { kind: 'invalid_grant'; description: string }
  | { kind: 'unauthorized_client'; description: string }
  | { kind: 'authorization_pending'; next: CibaRequestRecord }
  | { kind: 'slow_down'; next: CibaRequestRecord }
  | { kind: 'expired_token'; next?: CibaRequestRecord }
  | { kind: 'access_denied' }
  | { kind: 'issue'; next: CibaRequestRecord };

const bump = (r: CibaRequestRecord, patch: Partial<CibaRequestRecord>): CibaRequestRecord => ({
  ...r,
  ...patch,
  version: r.version + 1,
});

/**
 * A token request with grant `urn:openid:params:grant-type:ciba` (CIBA Core §10.1, §11) by `clientId`.
 * slow_down is a variant of authorization_pending (RFC 8628 §3.5), so only a pending request is rate-limited.
 */
export function evaluatePoll(
  record: CibaRequestRecord | undefined,
  clientId: string,
  now: number,
  nowMs: number = now * 1000,
): PollOutcome {
  // An auth_req_id of another client is indistinguishable from an unknown one (RFC 6749 §5.2 invalid_grant).
  if (record === undefined || record.clientId !== clientId)
    return { kind: 'invalid_grant', description: 'unknown auth_req_id' };
  if (record.deliveryMode === 'push')
    return {
      kind: 'unauthorized_client',
      description:
        'this client is registered for push mode; tokens are delivered to its notification endpoint',
    };
  switch (currentStatus(record, now)) {
    case 'consumed':
      return { kind: 'invalid_grant', description: 'auth_req_id has already been used' };
    case 'expired':
      return record.status === 'expired'
        ? { kind: 'expired_token' }
        : { kind: 'expired_token', next: bump(record, { status: 'expired' }) };
    case 'denied':
      return { kind: 'access_denied' };
    case 'approved':
      return { kind: 'issue', next: bump(record, { status: 'consumed', lastPolledAtMs: nowMs }) };
    case 'pending': {
      const tooSoon =
        record.lastPolledAtMs !== undefined && nowMs - record.lastPolledAtMs < record.interval * 1000;
      if (tooSoon)
        return {
          kind: 'slow_down',
          next: bump(record, {
            lastPolledAtMs: nowMs,
            interval: record.interval + SLOW_DOWN_INCREMENT_SECONDS,
          }),
        };
      return { kind: 'authorization_pending', next: bump(record, { lastPolledAtMs: nowMs }) };
    }
  }
}

export type Decision = 'approve' | 'deny';

export type DecisionOutcome =
  | { kind: 'decided'; next: CibaRequestRecord }
  | { kind: 'refused'; reason: 'unknown' | 'not_pending' | 'expired' };

/** The user's answer on the authentication device (CIBA Core §8). Only the request's own user may decide. */
export function applyDecision(
  record: CibaRequestRecord | undefined,
  subject: string,
  decision: Decision,
  authTime: number,
  now: number,
): DecisionOutcome {
  if (record === undefined || record.subject !== subject) return { kind: 'refused', reason: 'unknown' };
  const status = currentStatus(record, now);
  if (status === 'expired') return { kind: 'refused', reason: 'expired' };
  if (status !== 'pending') return { kind: 'refused', reason: 'not_pending' };
  return {
    kind: 'decided',
    next: bump(record, {
      status: decision === 'approve' ? 'approved' : 'denied',
      decidedAt: now,
      authTime,
    }),
  };
}

/** Push mode: the token response has been built for delivery; the request can never be redeemed again. */
export function markPushed(record: CibaRequestRecord): CibaRequestRecord {
  return bump(record, { status: record.status === 'approved' ? 'consumed' : record.status });
}

export function recordNotificationAttempt(
  record: CibaRequestRecord,
  result: { delivered: boolean; error?: string; abandoned?: boolean },
): CibaRequestRecord {
  const previous = record.notification ?? { attempts: 0, delivered: false, abandoned: false };
  return bump(record, {
    notification: {
      attempts: previous.attempts + 1,
      delivered: result.delivered,
      abandoned: result.abandoned ?? false,
      ...(result.error !== undefined && { lastError: result.error }),
    },
  });
}
