/**
 * Where a run's result goes: bench/results/{latest,quick,partial}.{json,md}, the block between the bench
 * markers of docs/benchmarks.md (full, unfiltered runs), the CPU profile summaries, and the facts about the
 * machine the table is headed with.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, release } from 'node:os';
import path from 'node:path';
import { notesFor, targetChecks } from './objectives.js';
import { BENCHMARKS_PAGE, RESULTS, log, nodeVersion, root } from './options.js';
import type { Running } from './processes.js';
import { formatProfile, summarizeProfile } from './profile-summary.js';
import { embedInPage, markdownTable, type BenchReport, type Machine } from './report.js';
import type { SoakResult } from './soak.js';

/** First line of a version banner (nginx prints its banner on stderr). */
function commandVersion(cmd: string, args: string[]): string {
  const out = spawnSync(cmd, args, { encoding: 'utf8' });
  if (out.error) return `${cmd} not installed`;
  return `${out.stdout}${out.stderr}`.split('\n')[0]!.trim();
}

export function machineFacts(gatewayNode: string): Machine {
  const autocannon = JSON.parse(
    readFileSync(path.join(root, 'node_modules', 'autocannon', 'package.json'), 'utf8'),
  ) as { version: string };
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    gatewayNode: `v${nodeVersion(gatewayNode)}`,
    nginx: commandVersion('nginx', ['-v']).replace('nginx version: ', ''),
    haproxy: commandVersion('haproxy', ['-v'])
      .replace(/ - https.*$/, '')
      .replace(/ \d{4}\/\d{2}\/\d{2}$/, ''),
    kernel: release(),
    autocannon: autocannon.version,
  };
}

/** Replaces the table in docs/benchmarks.md. */
function embedInBenchmarksPage(table: string): void {
  const page = path.join(root, BENCHMARKS_PAGE);
  const updated = embedInPage(readFileSync(page, 'utf8'), table);
  if (updated) writeFileSync(page, updated);
  else log(`${BENCHMARKS_PAGE} has no bench markers; table not embedded`);
}

/** Writes bench/results/NAME.{json,md} (and the docs page when asked); returns the Markdown table. */
export function writeReport(report: BenchReport, name: string, updateDocs: boolean): string {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(path.join(RESULTS, `${name}.json`), JSON.stringify(report, null, 2) + '\n');
  const table = markdownTable(report);
  writeFileSync(path.join(RESULTS, `${name}.md`), table);
  if (updateDocs) embedInBenchmarksPage(table);
  return table;
}

/**
 * `--rebuild-report`: regenerates latest.md and the docs/benchmarks.md block from latest.json and the latest
 * soak.json, without measuring (the soak runs separately, after the matrix).
 */
export function rebuildReport(): void {
  const file = path.join(RESULTS, 'latest.json');
  const report = JSON.parse(readFileSync(file, 'utf8')) as BenchReport;
  const soakFile = path.join(RESULTS, 'soak.json');
  if (existsSync(soakFile)) {
    const soak = JSON.parse(readFileSync(soakFile, 'utf8')) as SoakResult & { date: string };
    report.soak = soak;
    report.checks = targetChecks(
      report.summaries,
      soak,
      report.targets,
      (report.settings.connectionCounts as number[] | undefined) ?? [],
    );
    report.notes = [
      ...notesFor(report.summaries),
      `Memory: from the separate \`npm run bench -- --soak-only\` run of ${soak.date}.`,
    ];
  }
  writeFileSync(file, JSON.stringify(report, null, 2) + '\n');
  const table = markdownTable(report);
  writeFileSync(path.join(RESULTS, 'latest.md'), table);
  embedInBenchmarksPage(table);
  log(`rebuilt bench/results/latest.md and the table in ${BENCHMARKS_PAGE}`);
}

/** Stops the gateways (V8 writes the profile on exit) and summarises each profile. */
export async function writeProfiles(dir: string, started: Map<string, { running: Running }>): Promise<void> {
  for (const [id, target] of started) {
    if (!id.startsWith('gateway') && !id.startsWith('issuer')) continue;
    await target.running.stop();
    const files = existsSync(path.join(dir, id))
      ? readdirSync(path.join(dir, id)).filter((f) => f.endsWith('.cpuprofile'))
      : [];
    if (files.length === 0) {
      log(`${id}: no CPU profile written (did the process exit cleanly on SIGTERM?)`);
      continue;
    }
    // The largest profile is the process that served the requests (a worker, with workers > 1).
    const biggest = files
      .map((f) => path.join(dir, id, f))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    const text = formatProfile(
      summarizeProfile(JSON.parse(readFileSync(biggest, 'utf8')) as Parameters<typeof summarizeProfile>[0]),
    );
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(path.join(RESULTS, `profile-${id}.txt`), text);
    log(`${id}: profile summary in bench/results/profile-${id}.txt (raw: ${biggest})`);
  }
}
