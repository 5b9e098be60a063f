/**
 * JSON Schema -> values.schema.json pieces and Markdown reference tables. Works on the draft-07 output of
 * jsonSchemaOf (src/config/schema-walk.ts), so the tables say exactly what check-config enforces.
 */

const clone = (v) => structuredClone(v);

function objectAlternatives(s) {
  return (s.anyOf ?? s.oneOf ?? [s]).filter((a) => a.type === 'object' && a.properties);
}

/** Removes keys (dotted paths through objects) and prunes `required` lists left empty on the way up. */
export function withoutKeys(schema, dottedPaths) {
  const out = clone(schema);
  delete out.$schema;
  for (const dotted of dottedPaths) {
    const segments = dotted.split('.');
    const remove = (node, [head, ...rest]) => {
      for (const obj of objectAlternatives(node)) {
        if (!(head in obj.properties)) continue;
        if (rest.length === 0) {
          delete obj.properties[head];
          obj.required = (obj.required ?? []).filter((k) => k !== head);
        } else {
          const child = obj.properties[head];
          remove(child, rest);
          const stillRequired = objectAlternatives(child).some((a) => (a.required ?? []).length > 0);
          if (!stillRequired) obj.required = (obj.required ?? []).filter((k) => k !== head);
        }
        if ((obj.required ?? []).length === 0) delete obj.required;
        return;
      }
      throw new Error(`schema has no key ${dotted}`);
    };
    remove(out, segments);
  }
  return out;
}

/** Dotted paths of file-path keys reachable through objects only. */
export function filePathKeys(schema, prefix = []) {
  const out = [];
  for (const obj of objectAlternatives(schema)) {
    for (const [key, child] of Object.entries(obj.properties)) {
      const path = [...prefix, key];
      if ((child.anyOf ?? [child]).some((a) => a['x-file-path'])) out.push(path.join('.'));
      out.push(...filePathKeys(child, path));
    }
  }
  return out;
}

const escapeCell = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
const code = (v) => (v === '' ? '`""`' : '`' + (typeof v === 'string' ? v : JSON.stringify(v)) + '`');

function range(s) {
  const lo = s.minimum ?? (s.exclusiveMinimum !== undefined ? `>${s.exclusiveMinimum}` : undefined);
  const max = s.maximum === Number.MAX_SAFE_INTEGER ? undefined : s.maximum;
  const hi = max ?? (s.exclusiveMaximum !== undefined ? `<${s.exclusiveMaximum}` : undefined);
  if (lo === undefined && hi === undefined) return '';
  if (s.exclusiveMinimum !== undefined || s.exclusiveMaximum !== undefined)
    return ` ${lo ?? ''}${lo && hi ? ' and ' : ''}${hi ?? ''}`;
  if (lo !== undefined && hi !== undefined) return ` ${lo}–${hi}`;
  return lo !== undefined ? ` ≥ ${lo}` : ` ≤ ${hi}`;
}

export function typeOf(s) {
  if (s.anyOf || s.oneOf) return (s.anyOf ?? s.oneOf).map(typeOf).join(' or ');
  if (s.const !== undefined) return code(s.const);
  if (s.enum) return s.enum.map((v) => code(v)).join(', ');
  if (s['x-file-path']) return 'file path';
  const types = Array.isArray(s.type) ? s.type : [s.type];
  const t = types.filter(Boolean);
  if (t.includes('array')) return `list of ${s.items ? typeOf(s.items) : 'values'}`;
  if (t.includes('string') && s.format === 'uri') return 'URL';
  if (t.includes('integer') || t.includes('number'))
    return t.filter((x) => x !== 'null').join(' or ') + range(s) + (t.includes('null') ? ' or null' : '');
  if (t.includes('object')) return 'object';
  return t.join(' or ') || 'any';
}

const isLeafObject = (s) => objectAlternatives(s).length === 0;

/** Rows for a configuration reference table: one per key, list items as `key[].child`. */
export function configRows(schema, { envNameFor, envPrefix, scalarLeaves }) {
  const rows = [];
  // The keys environment overrides reach are exactly the loader's (src/config/load.ts applyEnvOverrides).
  const envPaths = new Set(scalarLeaves(schema).map((l) => l.path.join('.')));
  const walk = (node, prefix, envPath, required) => {
    for (const obj of objectAlternatives(node)) {
      for (const [key, child] of Object.entries(obj.properties)) {
        const path = prefix ? `${prefix}.${key}` : key;
        const isRequired = (obj.required ?? []).includes(key) && required;
        const nested = !isLeafObject(child);
        const arrayOfObjects = child.type === 'array' && child.items && !isLeafObject(child.items);
        const envName = envPath && envPaths.has(path) ? envNameFor(envPrefix, [...envPath, key]) : '';
        if (!nested || child.description) {
          rows.push({
            key: path,
            type: nested ? 'object' : typeOf(child),
            default: isRequired
              ? '**required**'
              : child.default !== undefined && !nested
                ? code(child.default)
                : '',
            env: envName ? code(envName) : '',
            description: child.description ?? '',
          });
        }
        if (nested) walk(child, path, envPath ? [...envPath, key] : null, isRequired);
        if (arrayOfObjects) walk(child.items, `${path}[]`, null, true);
      }
    }
  };
  walk(schema, '', [], true);
  return rows;
}

export function markdownTable(headers, rows) {
  const lines = [
    `| ${headers.map((h) => h.title).join(' | ')} |`,
    `| ${headers.map(() => '---').join(' | ')} |`,
  ];
  for (const r of rows) lines.push(`| ${headers.map((h) => escapeCell(r[h.key] ?? '')).join(' | ')} |`);
  return lines.join('\n');
}

/** Chart values rows: leaves of values.yaml, typed and described by the values schema. */
export function valuesRows(values, schema, opaque) {
  const rows = [];
  const schemaAt = (s, key) => {
    for (const obj of objectAlternatives(s)) if (obj.properties[key]) return obj.properties[key];
    return undefined;
  };
  const walk = (value, s, prefix) => {
    for (const [key, v] of Object.entries(value)) {
      const path = prefix ? `${prefix}.${key}` : key;
      const child = s ? schemaAt(s, key) : undefined;
      if (!child) throw new Error(`values.yaml key ${path} is not in values.schema.json`);
      if (opaque[path]) {
        rows.push({ key: path, type: 'object', default: 'see values.yaml', description: opaque[path] });
        continue;
      }
      const recurse =
        v !== null &&
        typeof v === 'object' &&
        !Array.isArray(v) &&
        Object.keys(v).length > 0 &&
        !isLeafObject(child);
      if (recurse) walk(v, child, path);
      else
        rows.push({ key: path, type: typeOf(child), default: code(v), description: child.description ?? '' });
    }
  };
  walk(values, schema, '');
  return rows;
}
