/**
 * Helm for tests: `.tools/helm/helm` (put there by scripts/install-helm.sh, which `.ci/run` runs) or `helm`
 * on PATH. Tests only locate it, they never install it. Renders the chart and parses every manifest.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
export const chartDir = path.join(repoRoot, 'charts/fapi-gateway');
export const allOnValues = path.join(chartDir, 'ci/all-on-values.yaml');

let cached: string | undefined;

export function helmBinary(): string {
  if (cached) return cached;
  const local = path.join(repoRoot, '.tools/helm/helm');
  if (existsSync(local)) return (cached = local);
  try {
    execFileSync('helm', ['version', '--short'], { stdio: 'ignore' });
    return (cached = 'helm');
  } catch {
    throw new Error(
      `helm not found at ${local} nor on PATH: run \`bash scripts/install-helm.sh\` (\`bash .ci/run\` does)`,
    );
  }
}

export interface HelmResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): Promise<HelmResult> {
  return new Promise((resolve) => {
    execFile(helmBinary(), args, { cwd: repoRoot, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export const RELEASE = 'gw';
export const NAMESPACE = 'banking';

/** `helm template` with the given values files and --set pairs; throws with helm's stderr on failure. */
export async function renderChart(valuesFiles: string[] = [], set: string[] = []): Promise<Manifest[]> {
  const args = ['template', RELEASE, chartDir, '--namespace', NAMESPACE];
  for (const f of valuesFiles) args.push('-f', f);
  for (const s of set) args.push('--set', s);
  const r = await helm(args);
  if (r.code !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  const docs = parseAllDocuments(r.stdout);
  if (!Array.isArray(docs)) throw new Error('helm template output is not a YAML stream');
  // Duplicate keys or malformed YAML would be silently merged by toJS; the API server refuses them.
  const problems = docs.flatMap((d) => [...d.errors, ...d.warnings].map((e) => e.message));
  if (problems.length > 0) throw new Error(`rendered manifests are not clean YAML: ${problems.join('; ')}`);
  return docs.map((d) => d.toJS() as Manifest | null).filter((m): m is Manifest => m !== null);
}

export function find(manifests: Manifest[], kind: string, name: string): Manifest {
  const m = manifests.find((x) => x.kind === kind && x.metadata.name === name);
  if (!m)
    throw new Error(
      `no ${kind} ${name} in ${manifests.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`,
    );
  return m;
}
