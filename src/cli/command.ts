import type { ParseArgsConfig } from 'node:util';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;

export interface ParsedCommandArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/** A `fapi-gateway <name>` subcommand. `run` resolves to the process exit code. */
export interface Command {
  name: string;
  summary: string;
  /** Usage line(s) after `fapi-gateway <name>`, e.g. `--config FILE`. */
  usage: string;
  options: OptionSpec;
  /** Positional arguments accepted: exact count, or `[min, max]`. */
  positionals?: number | [number, number];
  run(args: ParsedCommandArgs): Promise<number>;
}

/** A user error on the command line or in a file it names: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function stringOption(args: ParsedCommandArgs, name: string): string | undefined {
  const v = args.values[name];
  return typeof v === 'string' ? v : undefined;
}

export function requiredOption(args: ParsedCommandArgs, name: string): string {
  const v = stringOption(args, name);
  if (v === undefined) throw new UsageError(`missing --${name}`);
  return v;
}
