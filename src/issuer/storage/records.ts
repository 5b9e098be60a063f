/**
 * Record kinds: the name of a key space and the codec its records are stored with. Every backend stores
 * the codec's text and decodes it on read, so a record written by another version, a foreign process or
 * a corrupted store is refused with the kind named instead of being trusted by a type cast.
 */
import { z } from 'zod';
import { claimsRequestSchema } from '../authorize/claims-request.js';
import { recordSchema } from './record-schema.js';
import type { AccessTokenRecord, GrantRecord, RefreshTokenRecord } from './store.js';

export { recordSchema, type RecordShape } from './record-schema.js';

export interface RecordKind<T> {
  /** The key space (`code`, `par`, `ciba`, ...). */
  readonly name: string;
  /** The stored text of `value` (validated: a value outside the schema is never written). */
  encode(value: T): string;
  /** The record of stored `text`; throws `StoredRecordInvalid` when it is not one. */
  decode(text: string): T;
}

/** A stored record that does not decode as its kind: the store's content cannot be trusted. */
export class StoredRecordInvalid extends Error {
  constructor(
    readonly kind: string,
    detail: string,
  ) {
    super(`stored ${kind} record is invalid: ${detail}`);
    this.name = 'StoredRecordInvalid';
  }
}

export function recordKind<T>(name: string, schema: z.ZodType<T>): RecordKind<T> {
  const codec = z.codec(z.string(), schema, {
    decode: (text, payload) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        payload.issues.push({ code: 'custom', message: 'not JSON', input: text });
        return z.NEVER;
      }
    },
    encode: (value) => JSON.stringify(value),
  });
  return {
    name,
    encode(value) {
      const r = z.safeEncode(codec, value);
      if (!r.success) throw new StoredRecordInvalid(name, z.prettifyError(r.error));
      return r.data;
    },
    decode(text) {
      const r = z.safeDecode(codec, text);
      if (!r.success) throw new StoredRecordInvalid(name, z.prettifyError(r.error));
      return r.data;
    },
  };
}

const unixSeconds = z.number().int().nonnegative();

export const grantKind: RecordKind<GrantRecord> = recordKind(
  'grant',
  recordSchema<GrantRecord>({
    grantId: z.string(),
    clientId: z.string(),
    sub: z.string(),
    scope: z.string(),
    grantType: z.string(),
    authTime: unixSeconds.optional(),
    acr: z.string().optional(),
    claimsRequest: claimsRequestSchema.optional(),
    authReqId: z.string().optional(),
  }),
);

export const refreshTokenSchema = recordSchema<RefreshTokenRecord>({
  key: z.string(),
  grantId: z.string(),
  clientId: z.string(),
  sub: z.string(),
  scope: z.string(),
  iat: unixSeconds,
  exp: unixSeconds,
  dpopJkt: z.string().optional(),
});

/** A refresh token's record and where it is in its life (RFC 9700 §4.14.2 rotation). */
export interface RefreshEntry {
  record: RefreshTokenRecord;
  state: 'active' | 'rotated' | 'revoked';
}

export const refreshEntryKind: RecordKind<RefreshEntry> = recordKind(
  'refresh',
  recordSchema<RefreshEntry>({
    record: refreshTokenSchema,
    state: z.enum(['active', 'rotated', 'revoked']),
  }),
);

export const accessTokenKind: RecordKind<AccessTokenRecord> = recordKind(
  'access',
  recordSchema<AccessTokenRecord>({
    jti: z.string(),
    clientId: z.string(),
    grantId: z.string().optional(),
    exp: unixSeconds,
    opaque: z
      .looseObject({
        iss: z.string(),
        sub: z.string(),
        aud: z.union([z.string(), z.array(z.string())]),
        exp: unixSeconds,
        iat: unixSeconds,
        jti: z.string(),
        client_id: z.string(),
        scope: z.string(),
        auth_time: unixSeconds.optional(),
        acr: z.string().optional(),
        cnf: z.object({ 'x5t#S256': z.string().optional(), jkt: z.string().optional() }).optional(),
      })
      .optional(),
  }),
);
