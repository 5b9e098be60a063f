/**
 * A small reader of the project's Dockerfile: instructions (continuations joined) grouped by build stage,
 * so tests can hold the image to its promises and reproduce its runtime layout without a Docker engine.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './helm.js';

export interface Instruction {
  keyword: string;
  args: string;
  line: number;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

export const dockerfilePath = path.join(repoRoot, 'Dockerfile');

export function readDockerfile(text = readFileSync(dockerfilePath, 'utf8')): {
  args: Map<string, string>;
  stages: Stage[];
} {
  const args = new Map<string, string>();
  const stages: Stage[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith('\\') && i + 1 < lines.length) {
      line = line.slice(0, -1) + ' ' + lines[++i]!.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const instruction = { keyword: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start + 1 };
    if (instruction.keyword === 'FROM') {
      const [image = '', , name = ''] = instruction.args.split(/\s+/);
      stages.push({ name, from: image, instructions: [] });
    } else if (stages.length === 0 && instruction.keyword === 'ARG') {
      const [k, v = ''] = instruction.args.split('=');
      args.set(k!, v);
    } else {
      stages[stages.length - 1]?.instructions.push(instruction);
    }
  }
  return { args, stages };
}

/** Exec-form (JSON array) arguments of an instruction. */
export function execForm(i: Instruction | undefined): string[] {
  if (!i) return [];
  const parsed: unknown = JSON.parse(i.args);
  if (!Array.isArray(parsed) || !parsed.every((x) => typeof x === 'string'))
    throw new Error(`${i.keyword} is not exec form`);
  return parsed;
}
