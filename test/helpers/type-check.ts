/**
 * Type-checks generated TypeScript (object literals typed by a package's interfaces) with the compiler
 * API. Excess-property checks make this a strict schema check for JSON documents whose published JSON
 * schemas accept unknown fields (Kubernetes objects, Grafana dashboards).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { repoRoot } from './helm.js';

/** Maps a type with TypeScript string enums to the JSON it describes (enum members -> their strings). */
export const JSON_OF = `type JsonOf<T> = T extends string ? \`\${T}\` : T extends number | boolean | null | undefined ? T : T extends (infer U)[] ? JsonOf<U>[] : T extends object ? { [K in keyof T]: JsonOf<T[K]> } : T;`;

/** Compiler diagnostics of `source` ("line N: message"); the file lives under test-artifacts/ for module resolution. */
export function typeProblems(source: string): string[] {
  const dir = path.join(repoRoot, 'test-artifacts', 'ops');
  mkdirSync(dir, { recursive: true });
  const file = path.join(
    dir,
    `typecheck-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.ts`,
  );
  writeFileSync(file, source);
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) => {
      const where =
        d.file && d.start !== undefined
          ? `line ${d.file.getLineAndCharacterOfPosition(d.start).line + 1}: `
          : '';
      return where + ts.flattenDiagnosticMessageText(d.messageText, ' ');
    });
  } finally {
    rmSync(file, { force: true });
  }
}
