/** The `fapi-gateway` command line (entered through ./main.ts): subcommands are listed in ./commands.ts. */
// First, before any other module evaluates: @peculiar/x509 (the PKI and the issuer's certificate checks) needs the
// Reflect metadata API at load time. The one other process entry point, bench/run.ts, does the same; tests
// get it from .taprc.
import 'reflect-metadata';
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/load.js';
import { UsageError, type Command } from './command.js';
import { commands } from './commands.js';

const PROGRAM = 'fapi-gateway';

async function help(): Promise<string> {
  const all = await Promise.all(commands.map((c) => c.load()));
  const width = Math.max(...all.map((c) => c.name.length));
  return [
    `Usage: ${PROGRAM} <command> [options]`,
    '',
    'Commands:',
    ...all.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    `Run \`${PROGRAM} <command> --help\` for a command's options.`,
  ].join('\n');
}

function commandHelp(c: Command): string {
  const opts = Object.entries(c.options).map(([name, o]) => {
    const flag = `--${name}${o.type === 'string' ? ' VALUE' : ''}`;
    return `  ${o.short ? `-${o.short}, ` : '    '}${flag}`;
  });
  return [
    `Usage: ${PROGRAM} ${c.name} ${c.usage}`.trimEnd(),
    '',
    c.summary,
    ...(opts.length ? ['', 'Options:', ...opts] : []),
  ].join('\n');
}

function fail(message: string): number {
  process.stderr.write(`${PROGRAM}: ${message}\n`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write((await help()) + '\n');
    return name === undefined ? 2 : 0;
  }
  if (name === '--version' || name === '-v') {
    const { version } = (await import('../version.js')).default;
    process.stdout.write(`${version}\n`);
    return 0;
  }
  const entry = commands.find((c) => c.name === name);
  if (!entry) return fail(`unknown command "${name}" (run \`${PROGRAM} --help\` for the list)`);
  const command = await entry.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(commandHelp(command) + '\n');
    return 0;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: command.options, allowPositionals: true, strict: true });
  } catch (err) {
    return fail(`${name}: ${(err as Error).message.split('\n')[0]}`);
  }
  const [min, max] = Array.isArray(command.positionals)
    ? command.positionals
    : [command.positionals ?? 0, command.positionals ?? 0];
  if (parsed.positionals.length < min || parsed.positionals.length > max) {
    return fail(
      `${name}: expected ${min === max ? min : `${min} to ${max}`} argument(s); usage: ${PROGRAM} ${name} ${command.usage}`,
    );
  }
  try {
    return await command.run(parsed);
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) return fail(err.message);
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`${PROGRAM}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
