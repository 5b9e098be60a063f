import path from 'node:path';
import { UsageError, requiredOption, type Command } from './command.js';

export const pkiCommand: Command = {
  name: 'pki',
  summary:
    'pki init: create a development PKI (CA, issuer/gateway server certificates, client certificates and keys).',
  usage: 'init --out DIR [--force] [--name DNS-OR-IP ...]',
  options: {
    out: { type: 'string', short: 'o' },
    force: { type: 'boolean' },
    name: { type: 'string', multiple: true },
  },
  positionals: 1,
  async run(args) {
    if (args.positionals[0] !== 'init')
      throw new UsageError(`unknown pki action "${args.positionals[0]}" (use: pki init --out DIR)`);
    const out = path.resolve(requiredOption(args, 'out'));
    const names = (args.values.name as string[] | undefined) ?? [];
    const { createDevPki, DevPkiExistsError } = await import('../pki/dev-pki.js');
    let paths;
    try {
      paths = await createDevPki(out, { names, force: args.values.force === true });
    } catch (err) {
      if (err instanceof DevPkiExistsError) throw new UsageError(err.message);
      throw err;
    }
    process.stdout.write(`development PKI written to ${out}:\n`);
    for (const p of Object.values(paths)) process.stdout.write(`  ${path.relative(out, p)}\n`);
    return 0;
  },
};
