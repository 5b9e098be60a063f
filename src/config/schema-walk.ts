/**
 * The zod schema is the one source of truth; its JSON Schema form (draft-07, as Helm's
 * values.schema.json needs) drives environment overrides, file-path resolution and the tables of docs/configuration.md.
 */
import { z } from 'zod';

export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  additionalProperties?: boolean | JsonSchema;
  $ref?: string;
  'x-file-path'?: boolean;
  [k: string]: unknown;
}

const cache = new WeakMap<z.ZodType, JsonSchema>();

export function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  let out = cache.get(schema);
  if (!out) {
    out = z.toJSONSchema(schema, { target: 'draft-7', io: 'input', unrepresentable: 'any' }) as JsonSchema;
    cache.set(schema, out);
  }
  return out;
}

/** A string key that names a file; resolved against the configuration file's folder and checked. */
export function filePath(description: string) {
  return z.string().min(1, 'must be a file path').meta({ 'x-file-path': true, description });
}

function alternatives(s: JsonSchema): JsonSchema[] {
  return s.anyOf ?? s.oneOf ?? [s];
}

function typesOf(s: JsonSchema): string[] {
  const out: string[] = [];
  for (const alt of alternatives(s)) {
    if (alt.anyOf || alt.oneOf) out.push(...typesOf(alt));
    else if (Array.isArray(alt.type)) out.push(...alt.type);
    else if (alt.type) out.push(alt.type);
    else if (alt.enum) out.push(...new Set(alt.enum.map((v) => typeof v)));
  }
  return out;
}

function objectAlternative(s: JsonSchema): JsonSchema | undefined {
  return alternatives(s).find((a) => a.type === 'object' && a.properties);
}

export interface ScalarLeaf {
  path: string[];
  types: string[];
  schema: JsonSchema;
}

/** Every key reachable through objects only (not lists) whose value may be a string/number/boolean. */
export function scalarLeaves(schema: JsonSchema, prefix: string[] = []): ScalarLeaf[] {
  const out: ScalarLeaf[] = [];
  const obj = objectAlternative(schema);
  if (!obj?.properties) return out;
  for (const [key, child] of Object.entries(obj.properties)) {
    const path = [...prefix, key];
    const types = typesOf(child);
    if (types.some((t) => t === 'string' || t === 'number' || t === 'integer' || t === 'boolean')) {
      out.push({ path, types, schema: child });
    }
    if (objectAlternative(child)) out.push(...scalarLeaves(child, path));
  }
  return out;
}

export interface FileLeaf {
  segments: (string | number)[];
  get: () => unknown;
  set: (v: string) => void;
}

/** Places in `value` where the schema says a file path lives. */
export function filePathLeaves(
  schema: JsonSchema,
  value: unknown,
  segments: (string | number)[] = [],
): FileLeaf[] {
  const out: FileLeaf[] = [];
  const visit = (
    s: JsonSchema,
    v: unknown,
    segs: (string | number)[],
    holder: Record<string | number, unknown> | unknown[] | null,
    key: string | number | null,
  ) => {
    for (const alt of alternatives(s)) {
      if (alt['x-file-path'] && typeof v === 'string' && holder && key !== null) {
        const h = holder as Record<string | number, unknown>;
        out.push({ segments: segs, get: () => h[key], set: (nv) => (h[key] = nv) });
        return;
      }
    }
    if (Array.isArray(v)) {
      const arr = alternatives(s).find((a) => a.type === 'array' && a.items);
      if (arr?.items) v.forEach((item, i) => visit(arr.items!, item, [...segs, i], v, i));
      return;
    }
    if (typeof v === 'object' && v !== null) {
      const obj = objectAlternative(s);
      if (!obj?.properties) return;
      const rec = v as Record<string, unknown>;
      for (const [k, child] of Object.entries(obj.properties)) {
        if (k in rec) visit(child, rec[k], [...segs, k], rec, k);
      }
    }
  };
  visit(schema, value, segments, null, null);
  return out;
}
