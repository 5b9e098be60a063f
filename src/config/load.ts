/**
 * Loading a YAML/JSON configuration file against a zod schema: one code path for the gateway and the
 * issuer. Steps, in order: read + parse, environment overrides, schema validation, path resolution and
 * file checks. Every problem is reported with its key path, so `check-config` can print all of them.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { jsonSchemaOf, scalarLeaves, filePathLeaves, type JsonSchema } from './schema-walk.js';

export interface ConfigProblem {
  /** Dotted key path, e.g. `tokens.jwksUri` or `routes[2].path`; empty for the whole file. */
  path: string;
  message: string;
}

export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ConfigProblem[],
  ) {
    super(
      `invalid configuration ${file}: ` +
        problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message)).join('; '),
    );
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** Prefix of environment overrides, e.g. `FAPI_GATEWAY_`. */
  envPrefix: string;
  env?: NodeJS.ProcessEnv;
}

export type LoadResult<T> =
  { ok: true; config: T; file: string } | { ok: false; file: string; problems: ConfigProblem[] };

export function formatPath(segments: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const s of segments) {
    if (typeof s === 'number') out += `[${s}]`;
    else out += out ? `.${String(s)}` : String(s);
  }
  return out;
}

/** `tokens.jwksUri` -> `TOKENS_JWKS_URI` */
export function envNameFor(prefix: string, segments: readonly string[]): string {
  return (
    prefix +
    segments
      .map((s) =>
        s
          .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
          .replace(/[^A-Za-z0-9]+/g, '_')
          .toUpperCase(),
      )
      .join('_')
  );
}

function readRaw(file: string): { value: unknown; problems: ConfigProblem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : String(code);
    return { value: undefined, problems: [{ path: '', message: `cannot read ${file}: ${why}` }] };
  }
  const doc = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    return {
      value: undefined,
      problems: doc.errors.map((e) => ({
        path: '',
        message: `YAML syntax error at line ${e.linePos?.[0]?.line ?? '?'}: ${e.message.split('\n')[0]}`,
      })),
    };
  }
  const value: unknown = doc.toJS() ?? {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return {
      value: undefined,
      problems: [{ path: '', message: 'the file must contain a mapping (key: value) at the top' }],
    };
  }
  return { value, problems: [] };
}

function setAt(root: Record<string, unknown>, segments: readonly string[], value: unknown): void {
  let node = root;
  for (const s of segments.slice(0, -1)) {
    const next = node[s];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[s] = {};
    node = node[s] as Record<string, unknown>;
  }
  node[segments[segments.length - 1]!] = value;
}

/** Applies `PREFIX_UPPER_SNAKE_PATH` overrides to scalar keys (objects only, not inside lists). */
export function applyEnvOverrides(
  value: Record<string, unknown>,
  schema: JsonSchema,
  prefix: string,
  env: NodeJS.ProcessEnv,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const leaf of scalarLeaves(schema)) {
    const name = envNameFor(prefix, leaf.path);
    const raw = env[name];
    if (raw === undefined) continue;
    let parsed: unknown = raw;
    if (leaf.types.includes('integer') || leaf.types.includes('number')) {
      if (raw.trim() !== '' && Number.isFinite(Number(raw))) parsed = Number(raw);
      else if (!leaf.types.includes('string')) {
        problems.push({
          path: leaf.path.join('.'),
          message: `environment variable ${name}="${raw}" is not a number`,
        });
        continue;
      }
    } else if (leaf.types.includes('boolean')) {
      if (raw === 'true' || raw === 'false') parsed = raw === 'true';
      else {
        problems.push({
          path: leaf.path.join('.'),
          message: `environment variable ${name} must be true or false`,
        });
        continue;
      }
    }
    setAt(value, leaf.path, parsed);
  }
  return problems;
}

function resolvePaths(value: unknown, schema: JsonSchema, baseDir: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const leaf of filePathLeaves(schema, value)) {
    const segments = leaf.segments;
    const p = leaf.get();
    if (typeof p !== 'string' || p === '') continue;
    const abs = path.resolve(baseDir, p);
    leaf.set(abs);
    try {
      if (!statSync(abs).isFile())
        problems.push({ path: formatPath(segments), message: `${abs} is not a file` });
    } catch {
      problems.push({
        path: formatPath(segments),
        message: `file not found: ${abs} (paths are relative to the configuration file's folder)`,
      });
    }
  }
  return problems;
}

function zodProblems(error: z.ZodError): ConfigProblem[] {
  const out: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({
          path: formatPath([...issue.path, key]),
          message: 'unknown key (check its spelling; see docs/configuration.md)',
        });
      }
      continue;
    }
    out.push({ path: formatPath(issue.path), message: issue.message });
  }
  return out;
}

/** Loads, overrides, validates and resolves a configuration file. Never throws for user errors. */
export function loadConfig<S extends z.ZodType>(
  file: string,
  schema: S,
  options: LoadOptions,
): LoadResult<z.output<S>> {
  const abs = path.resolve(file);
  const { value, problems } = readRaw(abs);
  if (problems.length > 0) return { ok: false, file: abs, problems };
  const raw = value as Record<string, unknown>;
  const json = jsonSchemaOf(schema);
  const envProblems = applyEnvOverrides(raw, json, options.envPrefix, options.env ?? process.env);
  const parsed = schema.safeParse(raw);
  const all: ConfigProblem[] = [...envProblems];
  // File checks run on the raw value too, so a missing file is reported alongside schema problems.
  all.push(...resolvePaths(parsed.success ? parsed.data : raw, json, path.dirname(abs)));
  if (!parsed.success) all.push(...zodProblems(parsed.error));
  if (all.length > 0) return { ok: false, file: abs, problems: dedupe(all) };
  return { ok: true, file: abs, config: parsed.data as z.output<S> };
}

/** Like loadConfig, but throws a ConfigError naming every problem. */
export function loadConfigOrThrow<S extends z.ZodType>(
  file: string,
  schema: S,
  options: LoadOptions,
): z.output<S> {
  const r = loadConfig(file, schema, options);
  if (!r.ok) throw new ConfigError(r.file, r.problems);
  return r.config;
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const k = `${p.path}\0${p.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
