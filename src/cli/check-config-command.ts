import { existsSync } from 'node:fs';
import { loadConfig } from '../config/load.js';
import { UsageError, stringOption, type Command } from './command.js';
import { configKinds } from './config-kinds.js';

export const checkConfigCommand: Command = {
  name: 'check-config',
  summary: 'Validate a configuration file and print every problem with its key path (exit 1 if any).',
  usage: 'FILE [--kind gateway|issuer]',
  options: { kind: { type: 'string' } },
  positionals: 1,
  run(args) {
    const file = args.positionals[0]!;
    const kindName = stringOption(args, 'kind') ?? 'gateway';
    const kind = configKinds[kindName];
    if (!kind)
      throw new UsageError(
        `--kind must be one of ${Object.keys(configKinds).join(', ')} (got "${kindName}")`,
      );
    if (!existsSync(file)) throw new UsageError(`configuration file not found: ${file}`);
    const result = loadConfig(file, kind.schema, { envPrefix: kind.envPrefix });
    if (result.ok) {
      process.stdout.write(`${file}: OK (${kindName} configuration)\n`);
      return Promise.resolve(0);
    }
    for (const p of result.problems) process.stdout.write(`${file}: ${p.path || '(file)'}: ${p.message}\n`);
    process.stdout.write(`${result.problems.length} problem(s) found\n`);
    return Promise.resolve(1);
  },
};
