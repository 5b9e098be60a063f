/**
 * The OIDC `claims` request parameter (OIDC Core §5.5) and the acr rule built on it: an essential `acr`
 * (§5.5.1.1: "MUST treat that outcome as a failed authentication attempt") that the user's authentication
 * cannot satisfy ends the flow with `access_denied` (the seed talk's "Essential ACR Claim"); a voluntary
 * one (or `acr_values`) only asks.
 */
import { z } from 'zod';
import { recordSchema } from '../storage/record-schema.js';
import { accept, refuse, type Checked } from './authorization-error.js';

export interface ClaimRequirement {
  essential?: boolean;
  value?: string;
  values?: string[];
}

export interface ClaimsRequest {
  id_token?: Record<string, ClaimRequirement | null>;
  userinfo?: Record<string, ClaimRequirement | null>;
}

const claimRequirementSchema = recordSchema<ClaimRequirement>({
  essential: z.boolean().optional(),
  value: z.string().optional(),
  values: z.array(z.string()).optional(),
});

/** The stored form of a parsed claims request (what `parseClaimsRequest` produces). */
export const claimsRequestSchema = recordSchema<ClaimsRequest>({
  id_token: z.record(z.string(), claimRequirementSchema.nullable()).optional(),
  userinfo: z.record(z.string(), claimRequirementSchema.nullable()).optional(),
});

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseMember(name: string, v: unknown): Checked<Record<string, ClaimRequirement | null> | undefined> {
  if (v === undefined) return accept(undefined);
  if (!isRecord(v)) return refuse('invalid_request', `claims.${name} must be a JSON object`);
  const out: Record<string, ClaimRequirement | null> = Object.create(null) as Record<
    string,
    ClaimRequirement | null
  >;
  for (const [claim, req] of Object.entries(v)) {
    if (req === null) {
      out[claim] = null;
      continue;
    }
    if (!isRecord(req)) return refuse('invalid_request', `claims.${name}.${claim} must be null or an object`);
    const { essential, value, values } = req;
    if (essential !== undefined && typeof essential !== 'boolean')
      return refuse('invalid_request', `claims.${name}.${claim}.essential must be a boolean`);
    if (value !== undefined && typeof value !== 'string')
      return refuse('invalid_request', `claims.${name}.${claim}.value must be a string`);
    if (values !== undefined && !(Array.isArray(values) && values.every((x) => typeof x === 'string')))
      return refuse('invalid_request', `claims.${name}.${claim}.values must be an array of strings`);
    out[claim] = {
      ...(essential !== undefined ? { essential } : {}),
      ...(value !== undefined ? { value } : {}),
      ...(values !== undefined ? { values: values } : {}),
    };
  }
  return accept(out);
}

/** Parses `claims` given as a JSON string (query/form) or as an object (inside a request object). */
export function parseClaimsRequest(raw: unknown): Checked<ClaimsRequest | undefined> {
  if (raw === undefined) return accept(undefined);
  let value: unknown = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw);
    } catch {
      return refuse('invalid_request', 'claims must be a JSON object');
    }
  }
  if (!isRecord(value)) return refuse('invalid_request', 'claims must be a JSON object');
  const idToken = parseMember('id_token', value['id_token']);
  if (!idToken.ok) return idToken;
  const userinfo = parseMember('userinfo', value['userinfo']);
  if (!userinfo.ok) return userinfo;
  return accept({
    ...(idToken.value ? { id_token: idToken.value } : {}),
    ...(userinfo.value ? { userinfo: userinfo.value } : {}),
  });
}

export interface AcrRequirement {
  essential: boolean;
  /** Acceptable values, most preferred first; undefined = any acr. */
  values?: string[];
}

/** What the client asked about `acr`: the claims parameter wins over `acr_values` (OIDC Core §5.5.1.1). */
export function acrRequirement(
  claims: ClaimsRequest | undefined,
  acrValues: string[] | undefined,
): AcrRequirement | undefined {
  const acr = claims?.id_token?.['acr'];
  if (acr) {
    const values = acr.values ?? (acr.value !== undefined ? [acr.value] : undefined);
    return { essential: acr.essential === true, ...(values ? { values } : {}) };
  }
  if (acr === null) return { essential: false };
  if (acrValues && acrValues.length > 0) return { essential: false, values: acrValues };
  return undefined;
}

/**
 * The `acr` to put in the ID token for a user authenticated at `userAcr`. An essential requirement
 * that the authentication does not meet is `access_denied`; a voluntary one is answered with what the
 * authentication actually achieved (never a claimed value it did not meet).
 */
export function acrForIdToken(
  requirement: AcrRequirement | undefined,
  userAcr: string | undefined,
): Checked<string | undefined> {
  if (!requirement) return accept(userAcr);
  const satisfied =
    userAcr !== undefined && (requirement.values === undefined || requirement.values.includes(userAcr));
  if (requirement.essential && !satisfied)
    return refuse(
      'access_denied',
      requirement.values
        ? `the end-user's authentication does not meet the essential acr (${requirement.values.join(', ')})`
        : 'the end-user authentication has no acr, but an essential acr was requested',
    );
  return accept(userAcr);
}
