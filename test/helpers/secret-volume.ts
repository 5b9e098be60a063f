/**
 * A folder laid out like a Kubernetes Secret volume: `name -> ..data/name`, `..data -> ..<timestamp>`.
 * `update` swaps the content the way the kubelet does: a new timestamped folder, a `..data_tmp` symlink
 * renamed atomically over `..data`, then the old folder removed.
 */
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface SecretVolume {
  dir: string;
  /** Path of a key as a pod sees it (`dir/name`). */
  file(name: string): string;
  update(files: Record<string, string>): void;
  remove(): void;
}

export function createSecretVolume(files: Record<string, string>): SecretVolume {
  const dir = mkdtempSync(path.join(tmpdir(), 'fapi-secret-'));
  let generation = 0;
  let current = '';
  const writeGeneration = (content: Record<string, string>) => {
    const name = `..2026_11_29_00_00_${String(generation++).padStart(2, '0')}.${process.pid}`;
    mkdirSync(path.join(dir, name));
    for (const [k, v] of Object.entries(content)) writeFileSync(path.join(dir, name, k), v);
    return name;
  };
  current = writeGeneration(files);
  symlinkSync(current, path.join(dir, '..data'));
  for (const k of Object.keys(files)) symlinkSync(path.join('..data', k), path.join(dir, k));
  return {
    dir,
    file: (name) => path.join(dir, name),
    update(content) {
      const next = writeGeneration(content);
      symlinkSync(next, path.join(dir, '..data_tmp'));
      renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
      rmSync(path.join(dir, current), { recursive: true, force: true });
      current = next;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
